/**
 * One incoming migration: the destination statechart (machines/destination.machine.ts) driving
 * one Transport. This file is the chart's I/O: each frame is decoded and validated, then sent
 * to the chart as one event (a PAGES frame of up to 240 pages is one event); the chart's actions
 * apply pages, acknowledge rounds, keep the vCPU state, answer READY / RESUMED / VERDICT, and
 * its actors load and run the resumed guest. A frame that does not decode, or whose contents an
 * action refuses, becomes a FAULT event; the chart decides where that leads.
 *
 * Before GO any failure, CANCEL or lost link discards the image: the source keeps its guest.
 * From GO on the guest runs here, so nothing discards it; the verdict (image hash, edge rule,
 * post-run check) follows when both the post-run and the source's VERIFY are done.
 *
 * Deadlines, on the destination's clock: HELLO within `helloMs` of the connection, then no
 * silence longer than `silenceMs` while the chart waits for the source (VERIFY after RESUMED
 * included). One that passes is a FAULT with PRECOPY_ERR_TIMEOUT naming it, close 4003: the
 * destination is never held by a peer that connects and says nothing. A pause-before-switchover
 * hold longer than `silenceMs` is cut the same way.
 *
 * Nothing a peer sends can throw out of here: a frame that does not decode is a FAULT, an
 * action's I/O that throws refuses its frame, and should the chart itself fail the migration ends
 * with an internal error (close 1011), never a process crash or a destination left busy.
 */
import type { Subscription } from 'rxjs';
import { createActor, fromPromise, type Actor } from 'xstate';
import {
  destinationDowntime,
  destinationMachine,
  stateName,
  type DestinationContext,
  type DestinationEvent,
  type Failure,
} from '../../machines/destination.machine';
import type { GuestSpec } from '../guest/index';
import type { Transport } from '../link/types';
import type { Clock } from '../util/clock';
import { applyPages, chainFrame, type PageApplyContext } from '../wire/batch';
import { CloseCode } from '../wire/constants';
import type { LinkConfig } from '../wire/config';
import { WireError, asWireError } from '../wire/errors';
import {
  decodeFrame,
  encodeError,
  encodeHandshake,
  encodeHelloAck,
  encodeRoundAck,
  encodeVerdict,
  NO_MIGRATION_ID,
  type DecodeOptions,
  type Frame,
} from '../wire/frames';
import { tokensEqual } from '../wire/validation';
import type { DestinationVerdict, PostRun } from '../wire/verdict';
import { combineHashes } from '../link/session';
import { ChannelSet } from './channels';
import { PostcopyReceiver } from './postcopy-receiver';
import type { OutcomeTable } from './outcomes';
import { loadGuest, resumableSpec, runResumedGuest, type LoadedGuest } from './post-run';
import { RunClock } from './run-clock';
import { createImage, type DestinationImage } from './image';
import type { DestFaults } from '../config/faults';
import { applySink } from './faults';
import { inspectImage, judgeImage, type EdgeChecker, type ImageInspection } from './verify';

export interface ReceiverOptions {
  token: string;
  clock: Clock;
  maxPayload: number;
  maxGuestPages: number;
  edgeChecker: EdgeChecker;
  /** How long the source may keep this side waiting. Default DEFAULT_RECEIVER_DEADLINES. */
  deadlines?: Partial<ReceiverDeadlines>;
  /** The fault plan's destination part (src/config/faults.ts), for negative tests. */
  faults?: DestFaults;
  /** Where HELLO's migration id and its outcome are kept for a recovery QUERY (outcomes.ts). */
  outcomes?: OutcomeTable;
  /** Told after every step of the chart (a frame handled, a deadline): the destination's dashboard. */
  onProgress?: (progress: ReceiverProgress) => void;
}

/** Where the destination's chart is, and what it has counted, after a step. */
export interface ReceiverProgress {
  /** The chart's state (`migrating.receiving.inRound`). */
  state: string;
  context: DestinationContext;
  /** On the migration's clock (ms since HELLO arrived, the source's timestamps where it gave them). */
  time: number;
}

export interface ReceiverDeadlines {
  /** From the connection to HELLO. */
  helloMs: number;
  /** The longest gap between the source's frames while the chart waits for one (VERIFY after RESUMED too). */
  silenceMs: number;
}

export const DEFAULT_RECEIVER_DEADLINES: ReceiverDeadlines = { helloMs: 10_000, silenceMs: 60_000 };

/** Postcopy must have every page within this long of the switch, in the run's (virtual) clock. */
export const POSTCOPY_DEADLINE_MS = 600_000;

/** How a migration ended; `pagesPerRound` is what the destination applied in each round. */
export type ReceiverOutcome = (
  | {
      /** The guest resumed here (after GO); `verdict` once verification and post-run are done. */
      kind: 'resumed';
      verdict: DestinationVerdict | undefined;
      /** Why there is no verdict (the source went away after GO). */
      reason?: string;
      /** Size of the vCPU state taken at switchover. */
      vcpuStateBytes: number;
    }
  | { kind: 'discarded'; reason: string; error?: WireError }
) & { pagesPerRound: number[] };

/** Frames that carry the source's timestamp. */
function stampOf(frame: Frame): number | undefined {
  return 'at' in frame ? frame.at : undefined;
}

/** Turn a channel connection away with an ERROR frame saying why. */
function refuseChannel(transport: Transport, why: string): void {
  const error = new WireError('PRECOPY_ERR_BAD_FIELD', why, CloseCode.POLICY);
  transport.setHandlers({ message: () => undefined, close: () => undefined });
  transport.send(encodeError(error)).catch(() => undefined);
  transport.close(error.closeCode, why.slice(0, 120));
}

function failureOf(error: WireError): Failure {
  return { code: error.code, message: error.message, closeCode: error.closeCode };
}

export class MigrationReceiver {
  private readonly actor: Actor<typeof destinationMachine>;
  private readonly runClock: RunClock;
  private memory: DestinationImage | undefined;
  private apply: PageApplyContext | undefined;
  private edge: { firstPage: number; pages: number } | undefined;
  private config: LinkConfig | undefined;
  private spec: GuestSpec | null = null;
  /** Pages applied per round; the open round's entry grows as batches arrive. */
  private readonly pagesPerRound: number[] = [];
  /** Same chain as the source's PageEncoder.runningHash. */
  private runningHash = 0;
  private vcpuState: Uint8Array | undefined;
  private vcpuStateBytes = 0;
  private loaded: LoadedGuest | undefined;
  private inspection: ImageInspection | undefined;
  private verifyMs = 0;
  /** An action refused the frame it was handling: the chart hears it as FAULT right after. */
  private refused: WireError | undefined;
  private ended = false;
  /** Why the link closed, when it closed abnormally. */
  private linkError: WireError | undefined;
  /** The frame whose event is being handled (the actions read its body). */
  private current: Frame | undefined;
  private readonly decodeOptions: DecodeOptions;
  private readonly deadlines: ReceiverDeadlines;
  /** When the source last sent a frame (the connection, at first), on the destination's clock. */
  private lastHeard: number;
  private watchdog: Subscription | undefined;
  /** When the watchdog is due, to pull it in when a shorter deadline starts. */
  private watchdogDue = Infinity;
  /** multifd: the channels (from HELLO on), and the ones that connected before it. */
  private channels: ChannelSet | undefined;
  private readonly earlyChannels = new Map<number, Transport>();
  /** multifd: main-link frames held behind a ROUND_END whose channels have not all synced. */
  private readonly mainQueue: Uint8Array[] = [];
  /** multifd: the channels' pages of the round being closed (the chart's PAGES event has no frame). */
  private channelPages: number | undefined;
  /** multifd: the channels' running hashes at the round's sync, in channel order. */
  private channelHashes: number[] = [];
  /** HELLO's migration id (NO_MIGRATION_ID until then, or when the source gave none). */
  private migrationId = NO_MIGRATION_ID;
  /** The frame's bytes whose event is being handled (postcopy hands BITMAP(discard) on as it came). */
  private currentBytes: Uint8Array | undefined;
  /** Postcopy: the receiver the link went to, and its end. */
  private postcopy: PostcopyReceiver | undefined;
  private postcopyDone: Promise<DestinationVerdict | null> | undefined;

  constructor(
    private readonly transport: Transport,
    private readonly options: ReceiverOptions,
    private readonly onEnd: (outcome: ReceiverOutcome) => void,
  ) {
    this.decodeOptions = { verifyChecksum: transport.deliversSealedFrames !== true };
    this.runClock = new RunClock(options.clock);
    this.deadlines = { ...DEFAULT_RECEIVER_DEADLINES, ...options.deadlines };
    this.lastHeard = options.clock.now();
    this.actor = createActor(this.machine());
    const onProgress = options.onProgress;
    this.actor.subscribe({
      next: onProgress
        ? (snapshot) =>
            onProgress({
              state: stateName(snapshot.value),
              context: snapshot.context,
              time: this.runClock.now(),
            })
        : undefined,
      complete: () => this.finish(),
      error: (e) => this.chartFailed(e),
    });
    this.actor.start();
    this.armWatchdog();
    transport.setHandlers({ message: (f) => this.onFrame(f), close: (e) => this.onClose(e) });
  }

  /** The image being rebuilt (undefined before HELLO and after the migration ended). */
  get image(): DestinationImage | undefined {
    return this.memory;
  }

  /** Where the chart is (tests and logs). */
  get state(): unknown {
    return this.actor.getSnapshot().value;
  }

  /**
   * A multifd channel's connection (it may come before HELLO announced the channels). One this
   * migration has no place for (index taken or out of range, no multifd) is refused alone: a
   * stray connection does not end the migration.
   */
  addChannel(index: number, transport: Transport): void {
    if (this.ended) return refuseChannel(transport, 'the migration is over');
    if (!this.channels) {
      if (this.earlyChannels.has(index) || this.memory)
        return refuseChannel(transport, `multifd channel ${index} is not expected`);
      this.earlyChannels.set(index, transport);
      return;
    }
    try {
      this.channels.attach(index, transport);
    } catch (e) {
      refuseChannel(transport, asWireError(e).message);
    }
  }

  ////     frames → events     ////

  private onFrame(bytes: Uint8Array): void {
    if (this.ended) return;
    this.lastHeard = this.options.clock.now();
    // multifd: a held ROUND_END keeps the main link's order; what follows it waits behind it.
    if (this.mainQueue.length > 0) return void this.mainQueue.push(Buffer.from(bytes));
    let frame: Frame;
    let time: number;
    try {
      frame = decodeFrame(bytes, this.decodeOptions);
      time = this.runClock.arrival(frame.type, stampOf(frame));
    } catch (e) {
      return this.send({ type: 'FAULT', failure: failureOf(asWireError(e)), time: this.runClock.now() });
    }
    if (frame.type === 'ROUND_END' && this.channels && !this.closeChannelRound(frame, time)) {
      this.mainQueue.push(Buffer.from(bytes));
      return;
    }
    this.current = frame;
    this.currentBytes = bytes;
    this.send(this.eventOf(frame, time));
    this.current = undefined;
    this.currentBytes = undefined;
    if (!this.ended) this.armWatchdog();
    if (frame.type === 'ROUND_END') this.channels?.release(frame.round);
  }

  /**
   * multifd: ROUND_END(N) waits until every channel has synced N; then the channels' pages of the
   * round reach the chart as one PAGES event and the ROUND_END follows. False: not yet.
   */
  private closeChannelRound(end: Extract<Frame, { type: 'ROUND_END' }>, time: number): boolean {
    const synced = this.channels!.syncedAll(end.round);
    if (!synced) return false;
    this.channelHashes = synced.hashes;
    if (synced.pages > 0) {
      this.channelPages = synced.pages;
      this.send({ type: 'PAGES', round: end.round, count: synced.pages, time });
      this.channelPages = undefined;
    }
    return true;
  }

  /** A channel synced: a ROUND_END held for it may go now, and the frames behind it. */
  private onChannelSynced(): void {
    while (this.mainQueue.length > 0 && !this.ended) {
      const held = this.mainQueue.splice(0);
      for (let i = 0; i < held.length; i++) {
        this.onFrame(held[i]!);
        // Held again behind a later ROUND_END: keep the rest behind it, in order.
        if (this.mainQueue.length > 0) {
          this.mainQueue.push(...held.slice(i + 1));
          return;
        }
      }
    }
  }

  private fault(error: WireError): void {
    if (this.ended) return;
    this.send({ type: 'FAULT', failure: failureOf(error), time: this.runClock.now() });
  }

  private eventOf(frame: Frame, time: number): DestinationEvent {
    switch (frame.type) {
      case 'ROUND_START':
        return { type: 'ROUND_START', round: frame.round, final: frame.final, time };
      case 'PAGES':
        return { type: 'PAGES', round: frame.round, count: frame.count, time };
      case 'ROUND_END':
        return {
          type: 'ROUND_END',
          round: frame.round,
          pages: frame.pages,
          runningHash: frame.runningHash,
          time,
        };
      case 'VERIFY':
        return { type: 'VERIFY', sourceHash: frame.sourceHash, time };
      case 'CANCEL':
        return { type: 'CANCEL', reason: frame.reason, time };
      case 'ERROR':
        return { type: 'PEER_ERROR', reason: `source reported ${frame.code}: ${frame.message}`, time };
      case 'SYNC':
        return {
          type: 'FAULT',
          failure: failureOf(
            new WireError(
              'PRECOPY_ERR_UNEXPECTED_FRAME',
              'SYNC travels on a multifd channel, not the main link',
            ),
          ),
          time,
        };
      case 'QUERY':
        return {
          type: 'FAULT',
          failure: failureOf(
            new WireError('PRECOPY_ERR_UNEXPECTED_FRAME', 'QUERY travels on its own connection (/query)'),
          ),
          time,
        };
      case 'BITMAP':
      case 'REQ_PAGES':
      case 'CLOCK':
      case 'RECOVER':
        if (frame.type === 'BITMAP' && frame.kind === 'discard') return { type: 'POSTCOPY', time };
        return {
          type: 'FAULT',
          failure: failureOf(
            new WireError(
              'PRECOPY_ERR_UNEXPECTED_FRAME',
              `${frame.type} is a postcopy frame; this migration has not entered postcopy`,
            ),
          ),
          time,
        };
      case 'HELLO':
      case 'CONFIG':
      case 'VCPU_STATE':
      case 'PREPARE':
      case 'GO':
        return { type: frame.type, time };
      default:
        // Frames only a destination sends (HELLO_ACK, ROUND_ACK, READY, RESUMED, VERDICT, OUTCOME).
        return {
          type: 'FAULT',
          failure: failureOf(
            new WireError(
              'PRECOPY_ERR_UNEXPECTED_FRAME',
              `${frame.type} is sent by a destination, not to one`,
            ),
          ),
          time,
        };
    }
  }

  private send(event: DestinationEvent): void {
    this.actor.send(event);
    const refused = this.refused;
    if (refused) {
      this.refused = undefined;
      this.actor.send({ type: 'FAULT', failure: failureOf(refused), time: event.time });
    }
  }

  private onClose(error: WireError | undefined): void {
    if (this.ended) return;
    this.linkError = error;
    this.actor.send({
      type: 'LINK_CLOSED',
      reason: error ? error.message : 'the source closed the link before the verdict',
      time: this.runClock.now(),
    });
  }

  ////     deadlines     ////

  /** The deadline that applies now, or none while this side (not the source) has the work. */
  private deadline(): { ms: number; what: string } | undefined {
    const snapshot = this.actor.getSnapshot();
    if (snapshot.status !== 'active') return undefined;
    if (snapshot.matches({ migrating: 'handshake' }))
      return {
        ms: this.deadlines.helloMs,
        what: 'no HELLO within {ms} ms of connecting (the hello deadline)',
      };
    if (snapshot.matches({ migrating: 'preparing' })) return undefined;
    // Postcopy keeps its own time (its deadline is in the run's clock).
    if (snapshot.matches('postcopy')) return undefined;
    if (snapshot.matches('resumed'))
      return snapshot.matches({ resumed: { source: 'awaitingHash' } })
        ? {
            ms: this.deadlines.silenceMs,
            what: 'no VERIFY within {ms} ms of the last frame after RESUMED (the silence deadline): the guest runs here, unverified',
          }
        : undefined;
    return {
      ms: this.deadlines.silenceMs,
      what: `no frame from the source for {ms} ms in ${stateName(snapshot.value)} (the silence deadline)`,
    };
  }

  /** (Re)schedule the check for when the deadline in force would pass, if sooner than planned. */
  private armWatchdog(): void {
    const deadline = this.deadline();
    const due = deadline ? this.lastHeard + deadline.ms : Infinity;
    if (due >= this.watchdogDue) return;
    this.watchdog?.unsubscribe();
    this.watchdogDue = due;
    if (due === Infinity) return;
    this.watchdog = this.options.clock.schedule(
      () => this.checkDeadline(),
      Math.max(0, due - this.options.clock.now()),
    );
  }

  private checkDeadline(): void {
    this.watchdog = undefined;
    this.watchdogDue = Infinity;
    if (this.ended) return;
    const deadline = this.deadline();
    const now = this.options.clock.now();
    if (!deadline || now - this.lastHeard < deadline.ms) {
      // Heard from since, or this side has the work: look again when the next deadline is due
      // (while preparing, as soon as the chart moves on: check every hello period).
      if (!deadline) {
        this.watchdogDue = now + this.deadlines.helloMs;
        this.watchdog = this.options.clock.schedule(() => this.checkDeadline(), this.deadlines.helloMs);
      } else this.armWatchdog();
      return;
    }
    const message = deadline.what.replace('{ms}', String(deadline.ms));
    this.send({
      type: 'FAULT',
      failure: { code: 'PRECOPY_ERR_TIMEOUT', message, closeCode: CloseCode.DEADLINE },
      time: this.runClock.now(),
    });
  }

  /** The chart itself threw (a bug): end the migration with an internal error, never leave it hanging. */
  private chartFailed(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.watchdog?.unsubscribe();
    const internal = new WireError(
      'PRECOPY_ERR_BAD_FIELD',
      `internal: the destination failed: ${(error as Error)?.message ?? String(error)}`,
      CloseCode.INTERNAL,
    );
    this.reply(encodeError(internal));
    this.transport.close(internal.closeCode, internal.message);
    const context = this.actor.getSnapshot().context;
    const pagesPerRound = this.pagesPerRound;
    // After GO the guest runs here whatever failed; before it the image is discarded.
    this.dropImage();
    this.record((t, id) => t.end(id, context.timeline.go !== null ? 'resumed' : 'discarded'));
    if (context.timeline.go !== null) {
      this.onEnd({
        kind: 'resumed',
        verdict: undefined,
        reason: internal.message,
        vcpuStateBytes: this.vcpuStateBytes,
        pagesPerRound,
      });
    } else {
      this.onEnd({ kind: 'discarded', reason: internal.message, error: internal, pagesPerRound });
    }
  }

  ////     the chart's actions and actors     ////

  /** An action's I/O: a WireError it throws refuses the frame (FAULT follows). */
  private act(work: () => void): () => void {
    return () => {
      try {
        work();
      } catch (e) {
        this.refused ??= asWireError(e);
      }
    };
  }

  private frame<T extends Frame['type']>(type: T): Extract<Frame, { type: T }> {
    const frame = this.current;
    if (frame?.type !== type)
      throw new WireError('PRECOPY_ERR_USAGE', `internal: ${type} action without its frame`);
    return frame as Extract<Frame, { type: T }>;
  }

  private machine() {
    return destinationMachine.provide({
      actions: {
        acceptHello: this.act(() => this.acceptHello(this.frame('HELLO'))),
        acceptConfig: this.act(() => this.acceptConfig(this.frame('CONFIG').config)),
        beginRound: () => void this.pagesPerRound.push(0),
        applyPages: this.act(() =>
          this.channelPages !== undefined
            ? this.countChannelPages(this.channelPages)
            : this.applyPages(this.frame('PAGES')),
        ),
        ackRound: this.act(() => this.ackRound(this.frame('ROUND_END'))),
        keepState: this.act(() => {
          this.vcpuState = this.frame('VCPU_STATE').blob;
          this.vcpuStateBytes = this.vcpuState.length;
        }),
        sendReady: ({ context }) => this.reply(encodeHandshake('READY', context.timeline.ready!)),
        resume: ({ context }) => {
          // Recorded before RESUMED leaves: a QUERY from here on is answered resumed.
          this.record((t, id) => t.resumed(id));
          this.reply(encodeHandshake('RESUMED', context.timeline.resumed!));
        },
        sendVerdict: ({ context }) => this.sendVerdict(context),
        startPostcopy: this.act(() => this.startPostcopy()),
        reject: ({ context }) => this.reject(context.failure),
        discard: () => this.dropImage(),
        release: () => this.dropImage(),
      },
      actors: {
        prepareGuest: fromPromise<number>(async () => this.prepare()),
        runResumed: fromPromise<PostRun | null>(({ signal }) => this.runResumed(signal)),
        runPostcopy: fromPromise<DestinationVerdict | null>(() => this.postcopyDone ?? Promise.resolve(null)),
      },
    });
  }

  private acceptHello(hello: Extract<Frame, { type: 'HELLO' }>): void {
    if (!tokensEqual(hello.token, this.options.token))
      throw new WireError(
        'PRECOPY_ERR_TOKEN',
        'HELLO.token does not match the destination token',
        CloseCode.POLICY,
      );
    if (hello.pages > this.options.maxGuestPages)
      throw new WireError(
        'PRECOPY_ERR_BAD_FIELD',
        `HELLO.pages ${hello.pages} exceeds this destination's limit of ${this.options.maxGuestPages} pages`,
      );
    this.migrationId = hello.migrationId;
    this.record((t, id) => t.begin(id, (reason) => this.abandon(reason)));
    this.edge = hello.edgePages > 0 ? { firstPage: hello.edgeFirstPage, pages: hello.edgePages } : undefined;
    this.memory = createImage(hello.image, hello.pages, this.edge);
    const memory = this.options.faults
      ? applySink(this.memory, this.options.faults, () => this.finalRoundUnwritten())
      : this.memory;
    this.apply = { memory, encodings: hello.encodings };
    if (hello.channels > 0) this.openChannels(hello.channels);
    for (const t of this.earlyChannels.values()) refuseChannel(t, 'HELLO announced no multifd channels');
    this.earlyChannels.clear();
    this.reply(encodeHelloAck(this.options.maxPayload));
  }

  private openChannels(count: number): void {
    this.channels = new ChannelSet(count, {
      decode: this.decodeOptions,
      apply: (frame) => {
        // The source is heard on its channels too (the silence deadline).
        this.lastHeard = this.options.clock.now();
        if (this.apply) applyPages(frame.body, frame.count, this.apply);
      },
      fault: (error) => this.fault(error),
      synced: () => this.onChannelSynced(),
      faultNoBarrier: this.options.faults?.noBarrier,
    });
    for (const [index, transport] of this.earlyChannels) this.addChannel(index, transport);
    this.earlyChannels.clear();
  }

  /** The channels' pages of the round, applied already by their receivers: counted here. */
  private countChannelPages(count: number): void {
    const round = this.pagesPerRound.length - 1;
    this.pagesPerRound[round] = this.pagesPerRound[round]! + count;
  }

  private acceptConfig(config: LinkConfig): void {
    // A digests-only image (a generated guest's) holds no memory a guest could run on.
    this.spec = config.guest && this.memory!.bytes ? resumableSpec(config.guest, this.memory!.pages) : null;
    this.config = config;
    this.runClock.configure(config);
  }

  private applyPages(pages: Extract<Frame, { type: 'PAGES' }>): void {
    const round = this.pagesPerRound.length - 1;
    applyPages(pages.body, pages.count, this.apply!);
    this.runningHash = chainFrame(this.runningHash, pages.checksum);
    this.pagesPerRound[round] = this.pagesPerRound[round]! + pages.count;
  }

  /** The stop-and-copy round has begun and none of its pages was counted yet (faults.ts's dropFinalPage). */
  private finalRoundUnwritten(): boolean {
    return this.actor.getSnapshot().context.final && this.pagesPerRound[this.pagesPerRound.length - 1] === 0;
  }

  private ackRound(end: Extract<Frame, { type: 'ROUND_END' }>): void {
    const hash = this.channels ? combineHashes([this.runningHash, ...this.channelHashes]) : this.runningHash;
    if (end.runningHash !== hash)
      throw new WireError(
        'PRECOPY_ERR_ROUND_MISMATCH',
        `ROUND_END round ${end.round} hash ${end.runningHash}; destination has hash ${hash}`,
        CloseCode.INVALID_DATA,
      );
    this.reply(encodeRoundAck(end.round, end.pages, hash));
  }

  /** PREPARE: the vCPU state loaded into a guest on the image, ready to run. Resolves with when. */
  private prepare(): number {
    if (this.spec) {
      const { options } = this;
      this.loaded = loadGuest(
        this.spec,
        this.memory!.bytes!,
        this.vcpuState!,
        options.clock,
        this.runClock.virtual,
      );
    }
    this.vcpuState = undefined;
    return this.runClock.now();
  }

  /** GO: the guest runs; the image is inspected before its first write, then the post-run. */
  private async runResumed(signal: AbortSignal): Promise<PostRun | null> {
    const { timeline } = this.actor.getSnapshot().context;
    const inspect = () => {
      const start = this.runClock.now();
      this.inspection = inspectImage(
        this.memory!,
        this.edge && { ...this.edge, check: this.options.edgeChecker },
      );
      this.verifyMs = this.runClock.now() - start;
    };
    if (!this.loaded) {
      inspect();
      return null;
    }
    return runResumedGuest({
      loaded: this.loaded,
      resumedAt: timeline.resumed!,
      postRunMs: this.config!.postRunMs,
      inspect,
      signal,
    });
  }

  /**
   * BITMAP(discard): the link goes to a PostcopyReceiver, which runs the guest here on the image
   * the rounds built and takes the frames from this one on. Postcopy runs in virtual time, on an
   * image with bytes and a guest to run (else the frame is refused).
   */
  private startPostcopy(): void {
    const bytes = this.memory?.bytes;
    if (!bytes || !this.spec || this.config?.clock !== 'virtual')
      throw new WireError(
        'PRECOPY_ERR_UNEXPECTED_FRAME',
        `BITMAP(discard): postcopy needs a virtual-time run with a guest in CONFIG and an image of bytes (this one: ${this.config?.clock} clock, ${this.spec ? 'a guest' : 'no guest'}, ${this.memory?.kind ?? 'no'} image)`,
      );
    // Recorded before the guest runs: a QUERY from here on is answered resumed.
    this.record((t, id) => t.resumed(id));
    this.postcopyDone = new Promise((resolve) => {
      this.postcopy = new PostcopyReceiver(this.transport, {
        memory: bytes,
        spec: this.spec!,
        latencyMs: this.config!.latencyMs,
        deadlineMs: POSTCOPY_DEADLINE_MS,
        migrationId: this.migrationId,
        token: this.options.token,
        encodings: this.apply!.encodings,
        onEnd: (outcome) => resolve(outcome.verdict ?? null),
      });
    });
    this.postcopy!.receive(this.currentBytes!);
  }

  /** Postcopy's migrate-recover connection (refused unless this migration is in postcopy). */
  attachRecovery(transport: Transport): void {
    if (this.postcopy) return this.postcopy.attachRecovery(transport);
    refuseChannel(transport, 'a recovery connection for a migration not in postcopy');
  }

  private sendVerdict(context: DestinationContext): void {
    const verdict = this.verdict(context);
    this.reply(encodeVerdict(verdict));
    this.transport.close(CloseCode.NORMAL, 'verified');
  }

  private verdict(context: DestinationContext): DestinationVerdict {
    const image = judgeImage(this.inspection!, context.sourceHash!);
    const postRun = context.postRun;
    const reasons = [image.reason, postRun && !postRun.passed ? postRun.reason : undefined].filter(Boolean);
    const { total, breakdown } = destinationDowntime(context.timeline);
    return {
      passed: image.passed && postRun?.passed !== false,
      destinationHash: image.destinationHash,
      ...(image.edgeCheck ? { edgeCheck: image.edgeCheck } : {}),
      destinationDowntimeMs: total,
      downtimeBreakdown: breakdown,
      resumedAt: context.timeline.resumed!,
      verifyMs: this.verifyMs,
      rounds: context.rounds,
      pagesReceived: context.pagesReceived,
      postRun,
      ...(reasons.length ? { reason: reasons.join('; ').slice(0, 1024) } : {}),
    };
  }

  private reply(frame: Buffer): void {
    this.transport.send(frame).catch(() => undefined);
  }

  /** Tell the source what was wrong and close with its code. */
  private reject(failure: Failure | null): void {
    const error = failure ?? { code: 'PRECOPY_ERR_USAGE', message: 'failed', closeCode: CloseCode.INTERNAL };
    this.reply(encodeError(error));
    this.transport.close(error.closeCode, error.message.slice(0, 120));
  }

  /** Update this migration's entry in the outcome table (none without an id). */
  private record(update: (table: OutcomeTable, id: string) => void): void {
    if (this.options.outcomes && this.migrationId !== NO_MIGRATION_ID)
      update(this.options.outcomes, this.migrationId);
  }

  /** A recovery QUERY committed this migration (still before GO) to discarded: end it so. */
  private abandon(reason: string): void {
    if (this.ended) return;
    this.actor.send({ type: 'LINK_CLOSED', reason, time: this.runClock.now() });
  }

  private dropImage(): void {
    this.loaded?.guest.stop();
    this.loaded = undefined;
    this.memory = undefined;
    this.apply = undefined;
    this.vcpuState = undefined;
  }

  /** The chart reached a final state: report how the migration ended, once. */
  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.watchdog?.unsubscribe();
    const snapshot = this.actor.getSnapshot();
    const context = snapshot.context;
    const pagesPerRound = this.pagesPerRound;
    const closeChannels = (code: number, reason: string) => {
      this.channels?.close(code, reason);
      for (const t of this.earlyChannels.values()) t.close(code, reason);
    };
    if (snapshot.value === 'postcopied') {
      this.record((t, id) => t.end(id, 'resumed'));
      this.onEnd({
        kind: 'resumed',
        verdict: context.postcopyVerdict ?? undefined,
        ...(context.reason ? { reason: context.reason } : {}),
        vcpuStateBytes: this.vcpuStateBytes,
        pagesPerRound,
      });
      return;
    }
    if (snapshot.value === 'verified' || snapshot.value === 'cutOff') {
      this.record((t, id) => t.end(id, 'resumed'));
      this.transport.close(CloseCode.NORMAL, 'done');
      closeChannels(CloseCode.NORMAL, 'done');
      this.onEnd({
        kind: 'resumed',
        verdict: snapshot.value === 'verified' ? this.verdict(context) : undefined,
        ...(context.reason ? { reason: context.reason } : {}),
        vcpuStateBytes: this.vcpuStateBytes,
        pagesPerRound,
      });
      return;
    }
    this.record((t, id) => t.end(id, 'discarded'));
    const failure = context.failure;
    // A valid close code whatever the source sent (ws refuses 1005, 2500, ...).
    if (snapshot.value === 'abandoned') this.transport.close(CloseCode.CANCELLED, 'discarded');
    closeChannels(failure?.closeCode ?? CloseCode.CANCELLED, 'discarded');
    this.onEnd({
      kind: 'discarded',
      reason: failure?.message ?? context.reason ?? 'discarded',
      ...(failure
        ? { error: new WireError(failure.code, failure.message, failure.closeCode) }
        : this.linkError
          ? { error: this.linkError }
          : {}),
      pagesPerRound,
    });
  }
}
