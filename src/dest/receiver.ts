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
 */
import { createActor, fromPromise, type Actor } from 'xstate';
import {
  destinationDowntime,
  destinationMachine,
  type DestinationContext,
  type DestinationEvent,
  type Failure,
} from '../../machines/destination.machine';
import type { GuestSpec } from '../guest/index';
import type { Transport } from '../link/index';
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
  type DecodeOptions,
  type Frame,
} from '../wire/frames';
import { tokensEqual } from '../wire/validation';
import type { DestinationVerdict, PostRun } from '../wire/verdict';
import { loadGuest, resumableSpec, runResumedGuest, type LoadedGuest } from './post-run';
import { RunClock } from './run-clock';
import { createImage, type DestinationImage } from './image';
import { inspectImage, judgeImage, type EdgeChecker, type ImageInspection } from './verify';

export interface ReceiverOptions {
  token: string;
  clock: Clock;
  maxPayload: number;
  maxGuestPages: number;
  edgeChecker: EdgeChecker;
  /** Fault switch for negative tests: flip a byte of the first page of each batch after applying it. */
  faultCorruptAppliedPage?: boolean;
  /**
   * Fault switch for negative tests: the first page of the stop-and-copy round is counted but
   * never written (a lost page): the round's counts and hash still match, the image does not.
   */
  faultDropFinalPage?: boolean;
}

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

  constructor(
    private readonly transport: Transport,
    private readonly options: ReceiverOptions,
    private readonly onEnd: (outcome: ReceiverOutcome) => void,
  ) {
    this.decodeOptions = { verifyChecksum: transport.deliversSealedFrames !== true };
    this.runClock = new RunClock(options.clock);
    this.actor = createActor(this.machine());
    this.actor.subscribe({ complete: () => this.finish() });
    this.actor.start();
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

  ////     frames → events     ////

  private onFrame(bytes: Uint8Array): void {
    if (this.ended) return;
    let frame: Frame;
    let time: number;
    try {
      frame = decodeFrame(bytes, this.decodeOptions);
      time = this.runClock.arrival(frame.type, stampOf(frame));
    } catch (e) {
      return this.send({ type: 'FAULT', failure: failureOf(asWireError(e)), time: this.runClock.now() });
    }
    this.current = frame;
    this.send(this.eventOf(frame, time));
    this.current = undefined;
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
      case 'HELLO':
      case 'CONFIG':
      case 'VCPU_STATE':
      case 'PREPARE':
      case 'GO':
        return { type: frame.type, time };
      default:
        // Frames only a destination sends (HELLO_ACK, ROUND_ACK, READY, RESUMED, VERDICT).
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
        applyPages: this.act(() => this.applyPages(this.frame('PAGES'))),
        ackRound: this.act(() => this.ackRound(this.frame('ROUND_END'))),
        keepState: this.act(() => {
          this.vcpuState = this.frame('VCPU_STATE').blob;
          this.vcpuStateBytes = this.vcpuState.length;
        }),
        sendReady: ({ context }) => this.reply(encodeHandshake('READY', context.timeline.ready!)),
        resume: ({ context }) => this.reply(encodeHandshake('RESUMED', context.timeline.resumed!)),
        sendVerdict: ({ context }) => this.sendVerdict(context),
        reject: ({ context }) => this.reject(context.failure),
        discard: () => this.dropImage(),
        release: () => this.dropImage(),
      },
      actors: {
        prepareGuest: fromPromise<number>(async () => this.prepare()),
        runResumed: fromPromise<PostRun | null>(({ signal }) => this.runResumed(signal)),
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
    this.edge = hello.edgePages > 0 ? { firstPage: hello.edgeFirstPage, pages: hello.edgePages } : undefined;
    this.memory = createImage(hello.image, hello.pages, this.edge);
    this.apply = { memory: this.memory, encodings: hello.encodings };
    this.reply(encodeHelloAck(this.options.maxPayload));
  }

  private acceptConfig(config: LinkConfig): void {
    // A digests-only image (a generated guest's) holds no memory a guest could run on.
    this.spec = config.guest && this.memory!.bytes ? resumableSpec(config.guest, this.memory!.pages) : null;
    this.config = config;
    this.runClock.configure(config);
  }

  private applyPages(pages: Extract<Frame, { type: 'PAGES' }>): void {
    const round = this.pagesPerRound.length - 1;
    const dropping = this.options.faultDropFinalPage && this.actor.getSnapshot().context.final;
    const restore =
      dropping && this.pagesPerRound[round] === 0
        ? this.memory!.keepPage(pages.body.readUInt32LE(8))
        : undefined;
    applyPages(pages.body, pages.count, this.apply!);
    restore?.();
    this.runningHash = chainFrame(this.runningHash, pages.checksum);
    if (this.options.faultCorruptAppliedPage) this.memory!.corruptPage(pages.body.readUInt32LE(8));
    this.pagesPerRound[round] = this.pagesPerRound[round]! + pages.count;
  }

  private ackRound(end: Extract<Frame, { type: 'ROUND_END' }>): void {
    if (end.runningHash !== this.runningHash)
      throw new WireError(
        'PRECOPY_ERR_ROUND_MISMATCH',
        `ROUND_END round ${end.round} hash ${end.runningHash}; destination has hash ${this.runningHash}`,
        CloseCode.INVALID_DATA,
      );
    this.reply(encodeRoundAck(end.round, end.pages, this.runningHash));
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
    const snapshot = this.actor.getSnapshot();
    const context = snapshot.context;
    const pagesPerRound = this.pagesPerRound;
    if (snapshot.value === 'verified' || snapshot.value === 'cutOff') {
      this.transport.close(CloseCode.NORMAL, 'done');
      this.onEnd({
        kind: 'resumed',
        verdict: snapshot.value === 'verified' ? this.verdict(context) : undefined,
        ...(context.reason ? { reason: context.reason } : {}),
        vcpuStateBytes: this.vcpuStateBytes,
        pagesPerRound,
      });
      return;
    }
    const failure = context.failure;
    // A valid close code whatever the source sent (ws refuses 1005, 2500, ...).
    if (snapshot.value === 'abandoned') this.transport.close(CloseCode.CANCELLED, 'discarded');
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
