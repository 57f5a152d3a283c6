/**
 * The destination simulator: serves one migration at a time over any Transport (in-process
 * or WebSocket). A transport that arrives while another migration runs gets an ERROR frame
 * with PRECOPY_ERR_BUSY and close code 1013. A migration ends discarded (before GO: the source
 * keeps its guest) or resumed (after GO: the guest ran here, with its verdict when the source
 * stayed for it); either way its image is then dropped and the destination is ready for the
 * next one. A recovery-query connection (`attachQuery`) is answered busy or not, from the
 * table of recent outcomes (outcomes.ts).
 */
import type { Acceptor, Transport } from '../link/types';
import { wallClock, type Clock } from '../util/clock';
import { CloseCode, DEFAULT_MAX_PAYLOAD } from '../wire/constants';
import { WireError } from '../wire/errors';
import { encodeError, type MigrationOutcome } from '../wire/frames';
import { OutcomeTable } from './outcomes';
import type { DestFaults } from '../config/faults';
import { applyOutcomeFaults } from './faults';
import { serveQuery } from './query';
import {
  DEFAULT_RECEIVER_DEADLINES,
  MigrationReceiver,
  type ReceiverDeadlines,
  type ReceiverOutcome,
  type ReceiverProgress,
} from './receiver';
import { guestEdgeChecker, type EdgeChecker } from './verify';

export interface DestinationOptions {
  token: string;
  clock?: Clock;
  /** Told to the source in HELLO_ACK; the ws server enforces it. Default 1 MiB. */
  maxPayload?: number;
  /** Largest guest accepted. Default 2^24 pages (64 GiB). */
  maxGuestPages?: number;
  /** QEMU's edge rule for the incrementer region. Default: the guest's checkEdgeRule. */
  edgeChecker?: EdgeChecker;
  onEvent?: (event: DestinationEvent) => void;
  /** After every step of a migration's chart (a dashboard): asked for apart from onEvent, so a log pays nothing per frame. */
  onProgress?: (progress: ReceiverProgress) => void;
  /** How long a source may keep it waiting (receiver.ts DEFAULT_RECEIVER_DEADLINES: 10 s for HELLO, 60 s of silence). */
  deadlines?: Partial<ReceiverDeadlines>;
  /** The fault plan's destination part (src/config/faults.ts), for negative tests. */
  faults?: DestFaults;
  /** The recovery table: how many migrations, for how long (outcomes.ts; default 16, 10 min). */
  outcomes?: { capacity?: number; expiryMs?: number };
}

export type DestinationEvent =
  | { type: 'attached' }
  | { type: 'busy' }
  | ({ type: 'ended' } & ReceiverOutcome)
  | { type: 'queried'; migrationId: string; outcome: MigrationOutcome };

export class Destination implements Acceptor {
  private current: MigrationReceiver | undefined;
  private idleWaiters: Array<() => void> = [];
  /** How the last migration ended. */
  lastOutcome: ReceiverOutcome | undefined;
  /** Migrations served, however they ended. */
  served = 0;
  /** Recent migrations by id, for the recovery QUERY. */
  readonly outcomes: OutcomeTable;
  private readonly clock: Clock;

  constructor(readonly options: DestinationOptions) {
    if (!options.token) throw new RangeError('Destination: token must be a non-empty string');
    this.clock = options.clock ?? wallClock();
    const outcomes = new OutcomeTable({ clock: this.clock, ...options.outcomes });
    this.outcomes = options.faults ? applyOutcomeFaults(outcomes, options.faults) : outcomes;
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  /** The image of the running migration (tests look inside). */
  get image() {
    return this.current?.image;
  }

  /** Serve `transport`, or refuse it with BUSY. Returns whether it was accepted. */
  attach(transport: Transport): boolean {
    if (this.current) {
      const busy = new WireError(
        'PRECOPY_ERR_BUSY',
        'destination is serving another migration',
        CloseCode.TRY_AGAIN_LATER,
      );
      transport.setHandlers({ message: () => undefined, close: () => undefined });
      transport.send(encodeError(busy)).catch(() => undefined);
      transport.close(busy.closeCode, 'busy');
      this.options.onEvent?.({ type: 'busy' });
      return false;
    }
    const receiver = new MigrationReceiver(
      transport,
      {
        token: this.options.token,
        clock: this.clock,
        maxPayload: this.options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        maxGuestPages: this.options.maxGuestPages ?? 2 ** 24,
        edgeChecker: this.options.edgeChecker ?? guestEdgeChecker,
        deadlines: this.options.deadlines,
        faults: this.options.faults,
        outcomes: this.outcomes,
        onProgress: this.options.onProgress,
      },
      (outcome) => this.ended(receiver, outcome),
    );
    this.current = receiver;
    this.options.onEvent?.({ type: 'attached' });
    return true;
  }

  /** A multifd channel's connection: it belongs to the migration being served. */
  attachChannel(transport: Transport, index: number): boolean {
    if (this.current) {
      this.current.addChannel(index, transport);
      return true;
    }
    const error = new WireError('PRECOPY_ERR_USAGE', `multifd channel ${index} without a migration`);
    transport.setHandlers({ message: () => undefined, close: () => undefined });
    transport.send(encodeError(error)).catch(() => undefined);
    transport.close(CloseCode.POLICY, 'no migration');
    return false;
  }

  /**
   * A recovery-query connection: answered whether or not a migration runs (the one it asks
   * about may be that one, its old link not yet seen dead).
   */
  attachQuery(transport: Transport): void {
    serveQuery(transport, {
      token: this.options.token,
      clock: this.clock,
      helloMs: this.options.deadlines?.helloMs ?? DEFAULT_RECEIVER_DEADLINES.helloMs,
      outcomes: this.outcomes,
      onAnswer: (migrationId, outcome) => this.options.onEvent?.({ type: 'queried', migrationId, outcome }),
    });
  }

  /** Postcopy's migrate-recover connection: it belongs to the migration being served (paused in postcopy). */
  attachRecovery(transport: Transport): void {
    if (this.current) return this.current.attachRecovery(transport);
    const error = new WireError('PRECOPY_ERR_USAGE', 'a recovery connection without a migration in postcopy');
    transport.setHandlers({ message: () => undefined, close: () => undefined });
    transport.send(encodeError(error)).catch(() => undefined);
    transport.close(CloseCode.POLICY, 'no migration');
  }

  /** Resolves when no migration is running. */
  whenIdle(): Promise<void> {
    if (!this.current) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private ended(receiver: MigrationReceiver, outcome: ReceiverOutcome): void {
    if (this.current !== receiver) return;
    this.current = undefined;
    this.lastOutcome = outcome;
    this.served++;
    this.options.onEvent?.({ type: 'ended', ...outcome });
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}
