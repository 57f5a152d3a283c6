/**
 * One incoming migration: the destination's protocol state machine over one Transport.
 *
 *   hello → ready ⇄ round → … → round(final) → after-final → state → done
 *
 * Every frame is decoded and validated, then checked against the phase; the first problem
 * sends an ERROR frame, closes with its close code and discards the image. A CANCEL, an ERROR
 * from the source or a link that closes before COMPLETE also discard it. Only COMPLETE, after
 * the final round and the vCPU state, produces a verdict, so an incomplete image is never
 * reported as a success.
 */
import { SparseMemory } from '../guest/sparse-memory';
import type { Transport } from '../link/index';
import type { Clock } from '../util/clock';
import { applyPages, chainFrame, type PageApplyContext } from '../wire/batch';
import { CloseCode } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import {
  decodeFrame,
  encodeError,
  encodeHelloAck,
  encodeRoundAck,
  encodeVerdict,
  type DecodeOptions,
  type Frame,
} from '../wire/frames';
import { tokensEqual } from '../wire/validation';
import type { DestinationVerdict } from '../wire/verdict';
import { verifyImage, type EdgeChecker } from './verify';

type Phase = 'hello' | 'ready' | 'round' | 'after-final' | 'state' | 'done' | 'ended';

export interface ReceiverOptions {
  token: string;
  clock: Clock;
  maxPayload: number;
  maxGuestPages: number;
  edgeChecker: EdgeChecker;
  /** Fault switch for negative tests: flip a byte of the first page of each batch after applying it. */
  faultCorruptAppliedPage?: boolean;
}

/** How a migration ended; `pagesPerRound` is what the destination applied in each round. */
export type ReceiverOutcome = (
  | {
      kind: 'verified';
      verdict: DestinationVerdict;
      /** Size of the vCPU state taken at switchover. */
      vcpuStateBytes: number;
    }
  | { kind: 'discarded'; reason: string; error?: WireError }
) & { pagesPerRound: number[] };

type Ending = DistributiveOmit<ReceiverOutcome, 'pagesPerRound'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function unexpected(frame: Frame['type'], phase: Phase): WireError {
  return new WireError('PRECOPY_ERR_UNEXPECTED_FRAME', `${frame} is not allowed in phase '${phase}'`);
}

export class MigrationReceiver {
  private phase: Phase = 'hello';
  private memory: SparseMemory | undefined;
  private apply: PageApplyContext | undefined;
  private edge: { firstPage: number; pages: number } | undefined;
  private round = -1;
  private final = false;
  private roundPages = 0;
  private pagesReceived = 0;
  /** Pages applied per round; the open round's entry grows as batches arrive. */
  private readonly pagesPerRound: number[] = [];
  /** Same chain as the source's PageEncoder.runningHash. */
  private runningHash = 0;
  private vcpuState: Uint8Array | undefined;
  private downtimeStart = 0;
  private readonly decodeOptions: DecodeOptions;

  constructor(
    private readonly transport: Transport,
    private readonly options: ReceiverOptions,
    private readonly onEnd: (outcome: ReceiverOutcome) => void,
  ) {
    this.decodeOptions = { verifyChecksum: transport.deliversSealedFrames !== true };
    transport.setHandlers({ message: (f) => this.onFrame(f), close: (e) => this.onClose(e) });
  }

  /** The image being rebuilt (undefined before HELLO and after discard). */
  get image(): SparseMemory | undefined {
    return this.memory;
  }

  private onFrame(bytes: Uint8Array): void {
    if (this.phase === 'ended' || this.phase === 'done') return;
    try {
      this.handle(decodeFrame(bytes, this.decodeOptions));
    } catch (e) {
      this.fail(asWireError(e));
    }
  }

  private handle(frame: Frame): void {
    if (frame.type === 'CANCEL')
      return this.end(
        { kind: 'discarded', reason: `cancelled by the source: ${frame.reason}` },
        CloseCode.CANCELLED,
      );
    if (frame.type === 'ERROR')
      return this.end(
        { kind: 'discarded', reason: `source reported ${frame.code}: ${frame.message}` },
        frame.closeCode,
      );
    switch (this.phase) {
      case 'hello':
        if (frame.type !== 'HELLO') throw unexpected(frame.type, this.phase);
        return this.onHello(frame);
      case 'ready':
        if (frame.type !== 'ROUND_START') throw unexpected(frame.type, this.phase);
        return this.onRoundStart(frame);
      case 'round':
        if (frame.type === 'PAGES') return this.onPages(frame);
        if (frame.type === 'ROUND_END') return this.onRoundEnd(frame);
        throw unexpected(frame.type, this.phase);
      case 'after-final':
        if (frame.type !== 'VCPU_STATE') throw unexpected(frame.type, this.phase);
        this.vcpuState = frame.blob;
        this.phase = 'state';
        return;
      case 'state':
        if (frame.type !== 'COMPLETE') throw unexpected(frame.type, this.phase);
        return this.onComplete(frame.sourceHash);
      default:
        throw unexpected(frame.type, this.phase);
    }
  }

  private onHello(hello: Extract<Frame, { type: 'HELLO' }>): void {
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
    this.memory = new SparseMemory(hello.pages);
    this.apply = { memory: this.memory, encodings: hello.encodings };
    this.edge = hello.edgePages > 0 ? { firstPage: hello.edgeFirstPage, pages: hello.edgePages } : undefined;
    this.phase = 'ready';
    this.reply(encodeHelloAck(this.options.maxPayload));
  }

  private onRoundStart(start: Extract<Frame, { type: 'ROUND_START' }>): void {
    if (start.round !== this.round + 1)
      throw new WireError(
        'PRECOPY_ERR_BAD_FIELD',
        `ROUND_START.round ${start.round} out of order, expected ${this.round + 1}`,
      );
    this.round = start.round;
    this.roundPages = 0;
    this.pagesPerRound.push(0);
    this.final = start.final;
    // Destination downtime starts at the first frame of stop-and-copy.
    if (start.final) this.downtimeStart = this.options.clock.now();
    this.phase = 'round';
  }

  private onPages(pages: Extract<Frame, { type: 'PAGES' }>): void {
    if (pages.round !== this.round)
      throw new WireError(
        'PRECOPY_ERR_BAD_FIELD',
        `PAGES.round ${pages.round} is not the open round ${this.round}`,
      );
    const applied = applyPages(pages.body, pages.count, this.apply!);
    this.runningHash = chainFrame(this.runningHash, pages.checksum);
    if (this.options.faultCorruptAppliedPage) this.memory!.writable(pages.body.readUInt32LE(8))[1] ^= 0xff;
    this.roundPages += applied;
    this.pagesPerRound[this.round] = this.roundPages;
    this.pagesReceived += applied;
  }

  private onRoundEnd(end: Extract<Frame, { type: 'ROUND_END' }>): void {
    const hash = this.runningHash;
    if (end.round !== this.round || end.pages !== this.roundPages || end.runningHash !== hash)
      throw new WireError(
        'PRECOPY_ERR_ROUND_MISMATCH',
        `ROUND_END round ${end.round} pages ${end.pages} hash ${end.runningHash}; destination has round ${this.round} pages ${this.roundPages} hash ${hash}`,
        CloseCode.INVALID_DATA,
      );
    this.phase = this.final ? 'after-final' : 'ready';
    this.reply(encodeRoundAck(this.round, this.roundPages, hash));
  }

  private onComplete(sourceHash: string): void {
    // The guest resumes here: memory complete, vCPU state loaded. Verification is the lab's
    // proof, not part of a real resume, so it is not counted in the downtime.
    const destinationDowntimeMs = this.options.clock.now() - this.downtimeStart;
    const memory = this.memory!;
    const image = verifyImage(
      memory,
      sourceHash,
      this.edge && { ...this.edge, check: this.options.edgeChecker },
    );
    const verdict: DestinationVerdict = {
      ...image,
      destinationDowntimeMs,
      rounds: this.round + 1,
      pagesReceived: this.pagesReceived,
    };
    this.phase = 'done';
    this.reply(encodeVerdict(verdict));
    this.transport.close(CloseCode.NORMAL, 'verified');
    this.onEnd({
      kind: 'verified',
      verdict,
      vcpuStateBytes: this.vcpuState!.length,
      pagesPerRound: this.pagesPerRound,
    });
    this.vcpuState = undefined;
  }

  private onClose(error: WireError | undefined): void {
    if (this.phase === 'ended' || this.phase === 'done') return;
    this.discard({
      kind: 'discarded',
      reason: error ? error.message : 'the source closed the link before COMPLETE',
      error,
    });
  }

  private reply(frame: Buffer): void {
    this.transport.send(frame).catch(() => undefined);
  }

  private fail(error: WireError): void {
    this.reply(encodeError(error));
    this.end({ kind: 'discarded', reason: error.message, error }, error.closeCode);
  }

  private end(outcome: Ending, closeCode: number): void {
    this.transport.close(closeCode, outcome.kind === 'discarded' ? outcome.reason.slice(0, 120) : 'done');
    this.discard(outcome);
  }

  private discard(outcome: Ending): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.memory = undefined;
    this.apply = undefined;
    this.vcpuState = undefined;
    this.onEnd({ ...outcome, pagesPerRound: this.pagesPerRound } as ReceiverOutcome);
  }
}
