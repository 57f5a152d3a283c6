/**
 * The destination's end of postcopy over a Transport (in-process or WebSocket): the guest runs
 * here on what pre-copy left (PostcopyDestination), its faults go to the source as REQ_PAGES on
 * the return path, and the source's PAGES are placed as they arrive. The stream, from the source:
 * BITMAP(discard), VCPU_STATE, CLOCK(B) (the guest runs from B), then per epoch CLOCK-stamped
 * PAGES and a CLOCK closing the epoch; this side answers each epoch with its REQ_PAGES and a
 * CLOCK. When every page is here it sends BITMAP(received), all set; the source's VERIFY brings
 * its stopped image's hash, compared with the image as it arrived (each page's digest taken
 * before this guest could write it), and the VERDICT closes the link.
 *
 * Virtual time, lockstep: epochs of E = latency + 1 ticks. A page sent at tick n arrives at
 * n + 1 + latency and a request made at m reaches the source at m + latency, so running one
 * epoch past the other side's last CLOCK never misses anything that could have arrived: both
 * transports give the same figures.
 *
 * A lost link pauses (postcopy-paused: pages in flight and requests are gone; faulting vCPUs
 * block, the others run on). A RECOVER on a fresh connection (`attachRecovery`) brings the time
 * the new link came up; this side answers with its received bitmap, the source re-sends what is
 * missing from the CLOCK it sends next, and the pages vCPUs wait on are asked for again.
 * Everything a peer sends is checked: a bad frame, a gfn out of range, a tally that does not
 * match the frames received (a frame lost on the way) is an ERROR with its code and close code.
 */
import type { GuestSpec, SparseMemory } from '../guest/index';
import type { Transport } from '../link/types';
import { virtualClock, type VirtualClock } from '../util/clock';
import { applyPages, chainFrame } from '../wire/batch';
import { CloseCode, MAX_REQUEST_PAGES, PAGE_SIZE } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import {
  decodeFrame,
  encodeBitmap,
  encodeClock,
  encodeError,
  encodeRequestPages,
  encodeVerdict,
  packBits,
  unpackBits,
  type Frame,
} from '../wire/frames';
import { tokensEqual } from '../wire/validation';
import type { DestinationVerdict } from '../wire/verdict';
import { PostcopyDestination } from './postcopy';

/** The simulation step (ms): blocktimes are exact to this. */
export const TICK_MS = 0.1;

/** Ticks of `ms`, rounded up (a hair of float error does not add a tick). */
export function ticksOf(ms: number): number {
  return Math.ceil(ms / TICK_MS - 1e-9);
}

/** The lockstep's epoch, in ticks, for a one-way latency: the longest either side may run ahead. */
export function epochTicks(latencyMs: number): number {
  return ticksOf(latencyMs) + 1;
}

export type PostcopyReceiverState =
  | 'awaiting-discard'
  | 'awaiting-state'
  | 'starting'
  | 'active'
  | 'paused'
  | 'recovering'
  | 'verifying'
  | 'ended';

export interface PostcopyReceiverOptions {
  /** What pre-copy left here: valid except where the discard set says. */
  memory: SparseMemory;
  spec: GuestSpec;
  /** One-way link latency (ms), as CONFIG gave it. */
  latencyMs: number;
  /** Fail (ERROR PRECOPY_ERR_TIMEOUT, close 4003) if not complete this long after the switch (ms). */
  deadlineMs: number;
  /** HELLO's: a RECOVER must name it and carry the token. */
  migrationId: string;
  token: string;
  /** Encodings PAGES may use (HELLO's mask). */
  encodings: number;
  /** Fault switch for negative tests: pages left out of the discard set (stale copies kept as valid). */
  faultDiscardOmits?: number[];
  onState?: (state: PostcopyReceiverState, time: number) => void;
  onEnd?: (outcome: PostcopyReceiverOutcome) => void;
}

export interface PostcopyReceiverOutcome {
  /** The guest runs here in every case; `verdict` when the source stayed to verify. */
  verdict?: DestinationVerdict;
  error?: WireError;
}

interface Arrival {
  tick: number;
  gfn: number;
  bytes: Uint8Array;
}

export class PostcopyReceiver {
  private state: PostcopyReceiverState = 'awaiting-discard';
  /** This side's own run clock: the guest's. Virtual time only. */
  readonly clock: VirtualClock = virtualClock();
  private dest: PostcopyDestination | undefined;
  private discard: Uint8Array | undefined;
  private transport: Transport;
  private readonly latencyTicks: number;
  private readonly epoch: number;
  /** Switch time (BITMAP(discard).at), tick of the current lockstep's base, next epoch to run. */
  private startMs = 0;
  private base = 0;
  private next = 0;
  /** The source's last CLOCK, in ticks. */
  private sourceTick = 0;
  private readonly arrivals: Arrival[] = [];
  /** The frames the source sent on this link that this side received (count, running hash), and this side's. */
  private heard = { frames: 0, hash: 0 };
  private said = { frames: 0, hash: 0 };
  /** Page records placed or kept per PAGES frame (the link's generation must match PAGES.round). */
  private generation = 0;
  private recoveries = 0;
  private pagesPlaced = 0;
  private completedAt = 0;
  private started = false;
  /** When the guest started here (the run's clock). */
  private resumedAt = 0;
  /** Each vCPU's write count in the loaded state (the source's), so the figures are this side's. */
  private writesBefore: number[] = [];

  constructor(
    transport: Transport,
    private readonly options: PostcopyReceiverOptions,
  ) {
    this.transport = transport;
    this.latencyTicks = ticksOf(options.latencyMs);
    this.epoch = epochTicks(options.latencyMs);
    this.listen(transport);
  }

  get status(): PostcopyReceiverState {
    return this.state;
  }

  /** The destination half (tests look at its guest and bitmaps). */
  get destination(): PostcopyDestination | undefined {
    return this.dest;
  }

  /**
   * A connection whose first frame must be RECOVER for this migration (only while paused):
   * the new link. Any other is refused with an ERROR naming why.
   */
  attachRecovery(transport: Transport): void {
    transport.setHandlers({
      message: (bytes) => {
        try {
          const frame = decodeFrame(bytes, { verifyChecksum: transport.deliversSealedFrames !== true });
          if (frame.type !== 'RECOVER')
            throw new WireError(
              'PRECOPY_ERR_UNEXPECTED_FRAME',
              `${frame.type} on a recovery connection (RECOVER first)`,
            );
          if (!tokensEqual(frame.token, this.options.token))
            throw new WireError(
              'PRECOPY_ERR_TOKEN',
              'RECOVER.token does not match the destination token',
              CloseCode.POLICY,
            );
          if (frame.migrationId !== this.options.migrationId)
            throw new WireError(
              'PRECOPY_ERR_BAD_FIELD',
              `RECOVER.migrationId ${frame.migrationId} is not this migration's`,
              CloseCode.POLICY,
            );
          // The source recovering is word that the old link is dead, whether or not its close got here first.
          if (this.state === 'active' || this.state === 'starting' || this.state === 'recovering') {
            this.transport.close(CloseCode.INTERNAL, 'replaced by a recovery');
            this.lost();
          }
          if (this.state !== 'paused')
            throw new WireError(
              'PRECOPY_ERR_UNEXPECTED_FRAME',
              `RECOVER while ${this.state}, not paused`,
              CloseCode.POLICY,
            );
          this.recover(transport, frame.at);
        } catch (e) {
          const error = asWireError(e);
          transport.send(encodeError(error)).catch(() => undefined);
          transport.close(error.closeCode, error.message.slice(0, 120));
        }
      },
      close: () => undefined,
    });
  }

  ////     frames     ////

  /**
   * A frame of the main link, as its handler hands it over: the pre-copy receiver passes on the
   * BITMAP(discard) that switched the migration to postcopy this way, then the link itself.
   */
  receive(bytes: Uint8Array): void {
    this.onBytes(this.transport, bytes);
  }

  private listen(transport: Transport): void {
    transport.setHandlers({
      message: (bytes) => this.onBytes(transport, bytes),
      close: () => {
        if (transport === this.transport) this.lost();
      },
    });
  }

  private onBytes(transport: Transport, bytes: Uint8Array): void {
    if (transport !== this.transport || this.state === 'ended') return;
    try {
      const frame = decodeFrame(bytes, { verifyChecksum: transport.deliversSealedFrames !== true });
      // The tally chains each frame's header checksum, CLOCKs (which carry it) aside.
      if (frame.type !== 'CLOCK') this.heard = chained(this.heard, bytes);
      this.onFrame(frame);
    } catch (e) {
      this.fail(asWireError(e));
    }
  }

  private unexpected(frame: Frame): never {
    throw new WireError(
      'PRECOPY_ERR_UNEXPECTED_FRAME',
      `${frame.type} is not allowed in postcopy state '${this.state}'`,
    );
  }

  private onFrame(frame: Frame): void {
    if (frame.type === 'ERROR')
      return this.end({
        error: new WireError(
          'PRECOPY_ERR_PEER',
          `source reported ${frame.code}: ${frame.message}`,
          CloseCode.PEER_ERROR,
        ),
      });
    switch (this.state) {
      case 'awaiting-discard':
        if (frame.type !== 'BITMAP' || frame.kind !== 'discard') this.unexpected(frame);
        this.discard = unpackBits(frame, this.options.memory.pages);
        for (const gfn of this.options.faultDiscardOmits ?? []) this.discard[gfn] = 0;
        this.startMs = frame.at;
        return this.enter('awaiting-state');
      case 'awaiting-state':
        if (frame.type !== 'VCPU_STATE') this.unexpected(frame);
        this.dest = new PostcopyDestination({
          memory: this.options.memory,
          discard: this.discard!,
          spec: this.options.spec,
          vcpuState: frame.blob,
          clock: this.clock,
          tickMs: TICK_MS,
        });
        this.discard = undefined;
        return this.enter('starting');
      case 'starting':
      case 'recovering':
        if (frame.type !== 'CLOCK') this.unexpected(frame);
        this.checkTally(frame);
        return this.begin(ticksOf(frame.at));
      // The source's lockstep runs on until it hears this side is complete: checked the same.
      case 'active':
      case 'verifying':
        if (frame.type === 'CLOCK') {
          this.checkTally(frame);
          const tick = ticksOf(frame.at);
          if (tick < this.sourceTick)
            throw new WireError(
              'PRECOPY_ERR_BAD_FIELD',
              `CLOCK.at ${frame.at} goes back from ${this.sourceTick * TICK_MS}`,
            );
          this.sourceTick = tick;
          return this.runEpochs();
        }
        if (frame.type === 'PAGES') return this.receivePages(frame);
        if (frame.type === 'VERIFY' && this.state === 'verifying') return this.verdict(frame.sourceHash);
        return this.unexpected(frame);
      default:
        return this.unexpected(frame);
    }
  }

  private checkTally(clock: Extract<Frame, { type: 'CLOCK' }>): void {
    if (clock.frames !== this.heard.frames || clock.runningHash !== this.heard.hash)
      throw new WireError(
        'PRECOPY_ERR_ROUND_MISMATCH',
        `CLOCK at ${clock.at} ms: the source sent ${clock.frames} frames (hash ${clock.runningHash}); ${this.heard.frames} arrived (hash ${this.heard.hash})`,
        CloseCode.INVALID_DATA,
      );
  }

  /** PAGES: decoded now, placed when they arrive in the run's time (sent at the source's last CLOCK). */
  private receivePages(frame: Extract<Frame, { type: 'PAGES' }>): void {
    if (frame.round !== this.generation)
      throw new WireError(
        'PRECOPY_ERR_BAD_FIELD',
        `postcopy PAGES.round ${frame.round} is not the link's generation ${this.generation}`,
      );
    const tick = this.sourceTick + 1 + this.latencyTicks;
    const arrivals = this.arrivals;
    const pages = this.options.memory.pages;
    const scratch = new Uint8Array(PAGE_SIZE);
    applyPages(frame.body, frame.count, {
      encodings: this.options.encodings,
      memory: {
        pages,
        zeroPage: (gfn) => void arrivals.push({ tick, gfn, bytes: new Uint8Array(PAGE_SIZE) }),
        storePage: (gfn, bytes) => void arrivals.push({ tick, gfn, bytes: Uint8Array.from(bytes) }),
        decodeTarget: () => scratch,
      },
    });
  }

  ////     the lockstep     ////

  private begin(tick: number): void {
    const dest = this.dest!;
    tick = Math.max(tick, ticksOf(this.clock.now()));
    this.clock.advanceTo(tick * TICK_MS);
    if (!this.started) {
      this.resumedAt = tick * TICK_MS;
      this.writesBefore = Array.from({ length: this.options.spec.vcpus }, (_, v) => dest.guest.vcpuWrites(v));
      dest.guest.start();
    }
    this.started = true;
    this.base = tick;
    this.next = 0;
    this.sourceTick = tick;
    this.enter('active');
    this.runEpochs();
  }

  /** Run every epoch the source's last CLOCK allows (one past it), answering each. */
  private runEpochs(): void {
    while (this.state === 'active' && this.sourceTick >= this.base + this.next * this.epoch) {
      const from = this.base + this.next * this.epoch;
      this.next++;
      if (!this.runTicks(from, from + this.epoch)) return;
      this.sendRequests();
      this.dest!.sample();
      this.say(encodeClock((from + this.epoch) * TICK_MS, this.said.frames, this.said.hash), false);
    }
  }

  /** Ticks [from, to): place what arrived, then the guest runs a tick. False once complete or failed. */
  private runTicks(from: number, to: number): boolean {
    const dest = this.dest!;
    for (let tick = from; tick < to; tick++) {
      this.placeArrived(tick);
      if (dest.missingPages === 0) {
        this.complete(tick);
        return false;
      }
      if (tick * TICK_MS - this.startMs >= this.options.deadlineMs) {
        // The figures go first (an honest failed verdict), then the error and its close code.
        const error = this.stuck(tick * TICK_MS - this.startMs);
        dest.stop();
        this.say(encodeVerdict(this.verdictOf(false, error.message)));
        this.fail(error);
        return false;
      }
      this.clock.advanceTo((tick + 1) * TICK_MS);
    }
    return true;
  }

  private placeArrived(tick: number): void {
    const dest = this.dest!;
    let n = 0;
    while (n < this.arrivals.length && this.arrivals[n]!.tick <= tick) {
      const { gfn, bytes } = this.arrivals[n++]!;
      if (!dest.present[gfn]) this.pagesPlaced++;
      dest.place(gfn, bytes);
    }
    if (n > 0) this.arrivals.splice(0, n);
  }

  private sendRequests(): void {
    const outbox = this.dest!.outbox.splice(0);
    for (let i = 0; i < outbox.length;) {
      const at = outbox[i]!.time;
      const gfns: number[] = [];
      while (i < outbox.length && outbox[i]!.time === at && gfns.length < MAX_REQUEST_PAGES)
        gfns.push(outbox[i++]!.gfn);
      this.say(encodeRequestPages(at, gfns));
    }
  }

  private say(frame: Buffer, counted = true): void {
    if (counted) this.said = chained(this.said, frame);
    this.transport.send(frame).catch(() => undefined);
  }

  private complete(tick: number): void {
    const dest = this.dest!;
    dest.stop();
    dest.sample(true);
    dest.outbox.length = 0;
    this.completedAt = tick * TICK_MS;
    this.say(encodeBitmap('received', this.completedAt, packBits(dest.present)));
    this.enter('verifying');
  }

  ////     loss and recovery     ////

  private lost(): void {
    if (this.state === 'active' || this.state === 'starting' || this.state === 'recovering') {
      // In flight when the link went: gone.
      this.arrivals.length = 0;
      this.dest?.forgetRequests();
      this.enter('paused');
    } else if (this.state !== 'ended' && this.state !== 'paused')
      this.end({
        error: new WireError(
          'PRECOPY_ERR_LINK_LOST',
          `the source closed the link in postcopy state '${this.state}'`,
          1006,
        ),
      });
  }

  private recover(transport: Transport, at: number): void {
    const dest = this.dest!;
    this.transport = transport;
    this.generation++;
    this.recoveries++;
    this.heard = { frames: 0, hash: 0 };
    this.said = { frames: 0, hash: 0 };
    this.listen(transport);
    // The paused time: the guest ran on (faulting vCPUs blocked), no page arrived.
    const now = ticksOf(this.clock.now());
    const tick = Math.max(ticksOf(at), now);
    if (this.started && !this.runTicks(now, tick)) return;
    this.enter('recovering');
    // Requests made while there was no link went nowhere: ask again, at R, for what vCPUs wait
    // on, ahead of the bitmap (the source has them before its first epoch from R).
    dest.forgetRequests();
    dest.rerequest();
    this.sendRequests();
    this.say(encodeBitmap('received', tick * TICK_MS, packBits(dest.present)));
  }

  ////     the end     ////

  private verdict(sourceHash: string): void {
    const destinationHash = this.dest!.imageHash();
    const passed = destinationHash === sourceHash;
    const verdict = this.verdictOf(
      passed,
      passed
        ? undefined
        : "the image as it arrived (each page before this guest wrote it) differs from the source's stopped image",
    );
    this.say(encodeVerdict(verdict));
    this.transport.close(CloseCode.NORMAL, 'verified');
    this.end({ verdict });
  }

  /** The verdict with this side's postcopy figures; its downtime is the source's (the switch's frames). */
  private verdictOf(passed: boolean, reason: string | undefined): DestinationVerdict {
    const dest = this.dest!;
    return {
      passed,
      destinationHash: dest.imageHash(),
      // The switch → the guest running here: the discard bitmap and the device state arriving.
      destinationDowntimeMs: this.resumedAt - this.startMs,
      downtimeBreakdown: {
        stop: 0,
        finalRound: 0,
        vcpuState: this.resumedAt - this.startMs,
        prepare: 0,
        commit: 0,
        resume: 0,
      },
      resumedAt: this.resumedAt,
      verifyMs: 0,
      rounds: 0,
      pagesReceived: this.pagesPlaced,
      postRun: null,
      postcopy: {
        requests: dest.requests,
        blocktime: dest.blocktime,
        vcpuBlocktime: Array.from(dest.vcpuBlocktime),
        vcpuWrites: Array.from(
          { length: this.options.spec.vcpus },
          (_, v) => dest.guest.vcpuWrites(v) - (this.writesBefore[v] ?? dest.guest.vcpuWrites(v)),
        ),
        recoveries: this.recoveries,
        pagesPlaced: this.pagesPlaced,
        completedAt: this.completedAt,
        timeline: dest.timeline,
      },
      ...(reason ? { reason: reason.slice(0, 1024) } : {}),
    };
  }

  private stuck(since: number): WireError {
    const waiting = this.dest!.guest.vm.vcpus.filter((vcpu) => vcpu.faultedOn >= 0).map(
      (vcpu) => `vCPU ${vcpu.id} on page ${vcpu.faultedOn}`,
    );
    return new WireError(
      'PRECOPY_ERR_TIMEOUT',
      `postcopy did not complete within its deadline of ${this.options.deadlineMs} ms (${since.toFixed(1)} ms): ${this.dest!.missingPages} pages never arrived${waiting.length ? `; blocked: ${waiting.join(', ')}` : ''}`,
      CloseCode.DEADLINE,
    );
  }

  private fail(error: WireError): void {
    if (this.state === 'ended') return;
    this.transport.send(encodeError(error)).catch(() => undefined);
    this.transport.close(error.closeCode, error.message.slice(0, 120));
    this.end({ error });
  }

  private end(outcome: PostcopyReceiverOutcome): void {
    if (this.state === 'ended') return;
    this.dest?.stop();
    this.enter('ended');
    this.options.onEnd?.(outcome);
  }

  private enter(state: PostcopyReceiverState): void {
    this.state = state;
    this.options.onState?.(state, this.clock.now());
  }
}

/** A link's tally of frames (CLOCK's `frames` and `runningHash`) with one more frame counted. */
export function chained(
  tally: { frames: number; hash: number },
  frame: Uint8Array,
): { frames: number; hash: number } {
  const header = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return { frames: tally.frames + 1, hash: chainFrame(tally.hash, header.readUInt32LE(12)) };
}
