/**
 * Hybrid postcopy's second phase, as QEMU runs it after `migrate-start-postcopy`: the source has
 * stopped its vCPUs; it sends the device state and the discard set (pages dirtied since they
 * were sent), the destination runs the guest at once, and the pages it lacks come two ways: page
 * requests (faults, on the return path) served first (postcopy-preempt as a priority queue:
 * within each tick's budget a requested page goes before any page of the background push), and
 * the background push of the rest of the discard set.
 *
 * `PostcopySource` is the source's end over a Transport; the destination's is PostcopyReceiver
 * (src/dest/postcopy-receiver.ts), and the frames between them are src/wire's (README there:
 * postcopy). Time is virtual, in ticks of TICK_MS, in lockstep epochs (see the receiver): the
 * link carries bandwidth × tick bytes per tick and one-way latency on every page and request.
 *
 * Link loss pauses both sides (postcopy-paused: neither holds the whole guest). `migrate-recover`
 * (recover(), or a plan's `recoverAfter`) opens a new connection (postcopy-recover): RECOVER, the
 * destination's received bitmap back, the source re-sends what is not there.
 *
 * `Postcopy` runs both ends in one process, over an in-process link or a loopback WebSocket.
 */
import type { PostcopyFaults } from '../config/faults';
import type { PostcopyTimeline } from '../dest/postcopy';
import { PostcopyReceiver, TICK_MS, chained, epochTicks, ticksOf } from '../dest/postcopy-receiver';
import type { GuestSpec, SparseMemory } from '../guest/index';
import { transferTimeMs, type LinkModel } from '../link/bandwidth';
import { inprocPair } from '../link/inproc';
import type { InprocEndpoint } from '../link/inproc';
import type { Transport } from '../link/types';
import { connectWs } from '../link/ws-client';
import { listenWs } from '../link/ws-server';
import { wallClock, type VirtualClock } from '../util/clock';
import { PageEncoder, emptyStats } from '../wire/batch';
import { CloseCode, Encoding, PAGE_SIZE } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import {
  decodeFrame,
  encodeBitmap,
  encodeClock,
  encodeError,
  encodeRecover,
  encodeVcpuState,
  encodeVerify,
  packBits,
  unpackBits,
  type Frame,
} from '../wire/frames';
import type { PageReader } from '../wire/pages';
import type { DestinationVerdict } from '../wire/verdict';

export { TICK_MS };

export type PostcopyStatus =
  'postcopy-active' | 'postcopy-paused' | 'postcopy-recover' | 'completed' | 'failed';

export interface PostcopySourceOptions {
  transport: Transport;
  /** The run's clock; the source's vCPUs are stopped. */
  clock: VirtualClock;
  /** The source's image when its vCPUs stopped, never written after. */
  source: PageReader & { imageHash(): string };
  /** Per page: 1 if still dirty at the source (the discard set). */
  discard: Uint8Array;
  /** The device state (the guest's vcpuState()). */
  vcpuState: Uint8Array;
  link: LinkModel;
  /** Link losses, in ms after the switch; each recovers `recoverAfter` ms later unless absent (then recover() must be called). */
  linkLoss?: { at: number; recoverAfter?: number }[];
  /** A fresh connection to the destination for migrate-recover. */
  reopen: () => Promise<Transport>;
  /**
   * A loss no plan foresaw (the connection went): migrate-recover this long after it (ms of the
   * run's clock), as a management layer retrying would. Absent: wait for recover().
   */
  autoRecoverMs?: number;
  migrationId: string;
  token: string;
  /** zero and lz4 by default (XBZRLE has no base copy to delta against in postcopy). */
  encodings?: { zero: boolean; lz4: boolean };
  faults?: PostcopyFaults;
  onState?: (status: PostcopyStatus, time: number) => void;
}

export interface PostcopyResult {
  status: 'completed' | 'failed';
  'error-desc'?: string;
  states: PostcopyStatus[];
  /** Stop → the destination runs: device state and discard bitmap on the link. */
  downtime: number;
  /** Switch → every page at the destination. */
  'total-time': number;
  'postcopy-bytes': number;
  'postcopy-requests': number;
  /** Time every vCPU was blocked at once (QEMU's meaning). */
  'postcopy-blocktime': number;
  'postcopy-vcpu-blocktime': number[];
  /** Writes each destination vCPU made since it resumed. */
  vcpuWrites: number[];
  recoveries: number;
  /** Faults over time as the destination sampled them, `t` in ms after the switch. */
  timeline: PostcopyTimeline;
  verification: { passed: boolean; firstBadPage?: number };
  /** The destination's verdict, when it gave one. */
  verdict?: DestinationVerdict;
}

interface Request {
  gfn: number;
  /** Tick it reaches the source. */
  arrive: number;
}

/** What the source is waiting for from the destination. */
type Awaited = 'clock' | 'recovered' | 'verdict';

export class PostcopySource {
  private status: PostcopyStatus = 'postcopy-active';
  private readonly states: PostcopyStatus[] = [];
  private transport: Transport;
  private readonly pages: number;
  /** Per page: still to push. */
  private toSend: Uint8Array;
  private cursor = 0;
  private readonly returnPath: Request[] = [];
  private budget = 0;
  private bytes = 0;
  private generation = 0;
  private readonly latencyTicks: number;
  private readonly epoch: number;
  private readonly encoder: PageEncoder;
  private said = { frames: 0, hash: 0 };
  private heard = { frames: 0, hash: 0 };
  /** PAGES frames sent (the dropFrame fault counts them). */
  private pagesFrames = 0;
  private answeredWrong = false;
  /** The destination's last CLOCK (ticks), and when every page was there (ms), once it said. */
  private destTick = 0;
  private completedAt: number | undefined;
  private received: Uint8Array | undefined;
  private verdict: DestinationVerdict | undefined;
  private failure: WireError | undefined;
  private linkDown = false;
  private wake: (() => void) | undefined;
  private recoverAsked = false;
  /** After a recovery: no page goes before this tick (the received bitmap's round trip). */
  private holdUntil = 0;

  constructor(private readonly o: PostcopySourceOptions) {
    this.pages = o.discard.length;
    if (o.source.pages !== this.pages)
      throw new RangeError(`postcopy: the source has ${o.source.pages} pages, the discard set ${this.pages}`);
    this.transport = o.transport;
    this.toSend = o.discard.slice();
    this.latencyTicks = ticksOf(o.link.latencyMs);
    this.epoch = epochTicks(o.link.latencyMs);
    this.encoder = new PageEncoder({ zero: o.encodings?.zero ?? true, lz4: o.encodings?.lz4 ?? true });
  }

  get state(): PostcopyStatus {
    return this.status;
  }

  /** migrate-recover: a new link (only in postcopy-paused; otherwise an error naming the state). */
  recover(): void {
    if (this.status !== 'postcopy-paused')
      throw new Error(`migrate-recover: the migration is ${this.status}, not postcopy-paused`);
    this.recoverAsked = true;
    this.wake?.();
  }

  async run(): Promise<{ result: Omit<PostcopyResult, 'verification'>; verdict?: DestinationVerdict }> {
    const { clock, link } = this.o;
    const start = clock.now();
    this.enter('postcopy-active');
    this.listen(this.transport);
    const bitmap = packBits(this.o.discard);
    this.say(encodeBitmap('discard', start, bitmap));
    this.say(encodeVcpuState(this.o.vcpuState));
    // The switch's downtime: device state and the discard bitmap, then the destination runs.
    this.bytes += this.o.vcpuState.length + bitmap.length;
    const downtime = transferTimeMs(this.o.vcpuState.length + bitmap.length, link, 1);
    let base = ticksOf(start + downtime);
    this.startLockstep(base);
    const losses = [...(this.o.linkLoss ?? [])].sort((a, b) => a.at - b.at);
    let k = 0;
    while (this.completedAt === undefined && !this.failure) {
      if (!this.linkDown) await this.until('clock', () => this.destTick >= base + k * this.epoch);
      if (this.completedAt !== undefined || this.failure) break;
      const boundary = base + (k + 1) * this.epoch;
      const output = this.linkDown ? [] : this.runEpoch(base + k * this.epoch, boundary);
      const loss = losses[0];
      if (this.linkDown || (loss && boundary * TICK_MS - start >= loss.at)) {
        // Lost with the link: this epoch's output (never sent) and every request on the way.
        const planned = !this.linkDown && loss !== undefined;
        if (planned) losses.shift();
        const lostAt = planned ? boundary : ticksOf(clock.now()) + this.epoch;
        this.loseLink();
        const recovered = await this.recoverLink(lostAt, planned ? loss.recoverAfter : this.o.autoRecoverMs);
        if (recovered === undefined) break;
        base = recovered;
        k = 0;
        continue;
      }
      clock.advanceTo(boundary * TICK_MS);
      for (const item of output) {
        if (typeof item === 'number') this.sayClock(item);
        else if (++this.pagesFrames === this.o.faults?.dropFrame) this.said = chained(this.said, item);
        else this.say(item);
      }
      this.sayClock(boundary);
      k++;
    }
    if (this.completedAt !== undefined && !this.failure) {
      clock.advanceTo(Math.max(clock.now(), this.completedAt));
      this.send(encodeVerify(this.o.source.imageHash(), clock.now()));
      await this.until('verdict', () => this.verdict !== undefined);
    }
    this.transport.close(CloseCode.NORMAL, 'done');
    const failed = this.failure !== undefined || this.verdict?.passed !== true;
    const desc =
      this.failure?.message ??
      (this.verdict && !this.verdict.passed ? `verification failed: ${this.verdict.reason}` : undefined);
    this.enter(failed ? 'failed' : 'completed');
    const stats = this.verdict?.postcopy;
    return {
      result: {
        status: failed ? 'failed' : 'completed',
        ...(desc ? { 'error-desc': desc } : {}),
        states: this.states,
        downtime,
        'total-time': (this.completedAt ?? clock.now()) - start,
        'postcopy-bytes': this.bytes,
        'postcopy-requests': stats?.requests ?? 0,
        'postcopy-blocktime': stats?.blocktime ?? 0,
        'postcopy-vcpu-blocktime': stats?.vcpuBlocktime ?? [],
        vcpuWrites: stats?.vcpuWrites ?? [],
        recoveries: stats?.recoveries ?? 0,
        timeline: {
          t: (stats?.timeline.t ?? []).map((t) => Math.round((t - start) * 10) / 10),
          requests: stats?.timeline.requests ?? [],
          vcpuBlocktime: stats?.timeline.vcpuBlocktime ?? [],
        },
      },
      ...(this.verdict ? { verdict: this.verdict } : {}),
    };
  }

  ////     frames     ////

  private listen(transport: Transport): void {
    const decode = { verifyChecksum: transport.deliversSealedFrames !== true };
    transport.setHandlers({
      message: (bytes) => {
        // A lost link's late frames (its requests) are gone with it, however late they come in.
        if (transport !== this.transport || this.linkDown || this.failure) return;
        try {
          const frame = decodeFrame(bytes, decode);
          if (frame.type !== 'CLOCK') this.heard = chained(this.heard, bytes);
          this.onFrame(frame);
        } catch (e) {
          const error = asWireError(e);
          this.send(encodeError(error));
          transport.close(error.closeCode, error.message.slice(0, 120));
          this.fail(error);
        }
      },
      close: (error) => {
        if (transport !== this.transport) return;
        if (this.verdict || this.failure) return;
        if (this.completedAt !== undefined)
          return this.fail(
            error ??
              new WireError('PRECOPY_ERR_LINK_LOST', 'the destination closed before its verdict', 1006),
          );
        this.linkDown = true;
        this.wake?.();
      },
    });
  }

  private onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'REQ_PAGES':
        for (const gfn of frame.gfns) {
          if (gfn >= this.pages)
            throw new WireError('PRECOPY_ERR_BAD_GFN', `REQ_PAGES gfn ${gfn} is not in [0, ${this.pages})`);
          this.returnPath.push({ gfn, arrive: ticksOf(frame.at) + this.latencyTicks });
        }
        return;
      case 'CLOCK': {
        if (frame.frames !== this.heard.frames || frame.runningHash !== this.heard.hash)
          throw new WireError(
            'PRECOPY_ERR_ROUND_MISMATCH',
            `CLOCK at ${frame.at} ms: the destination sent ${frame.frames} frames (hash ${frame.runningHash}); ${this.heard.frames} arrived (hash ${this.heard.hash})`,
            CloseCode.INVALID_DATA,
          );
        this.destTick = Math.max(this.destTick, ticksOf(frame.at));
        return this.wake?.();
      }
      case 'BITMAP': {
        if (frame.kind !== 'received')
          throw new WireError(
            'PRECOPY_ERR_UNEXPECTED_FRAME',
            `BITMAP(${frame.kind}) is sent by a source, not to one`,
          );
        const received = unpackBits(frame, this.pages);
        if (received.every((bit) => bit === 1)) this.completedAt = frame.at;
        else if (this.status === 'postcopy-recover') this.received = received;
        else
          throw new WireError(
            'PRECOPY_ERR_UNEXPECTED_FRAME',
            `BITMAP(received) with pages missing outside postcopy-recover`,
          );
        return this.wake?.();
      }
      case 'VERDICT':
        this.verdict = frame.verdict;
        return this.wake?.();
      case 'ERROR':
        this.fail(
          new WireError(
            'PRECOPY_ERR_PEER',
            `destination reported ${frame.code}: ${frame.message}`,
            frame.closeCode,
          ),
        );
        return;
      default:
        throw new WireError(
          'PRECOPY_ERR_UNEXPECTED_FRAME',
          `${frame.type} is not allowed at a postcopy source`,
        );
    }
  }

  /** Resolve once `ready()` holds, or the link went, or the run failed or finished. */
  private until(what: Awaited, ready: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        const done =
          ready() ||
          this.failure !== undefined ||
          (what !== 'verdict' && this.completedAt !== undefined) ||
          (what === 'clock' && this.linkDown) ||
          (what === 'recovered' && this.linkDown && this.received === undefined);
        if (done) {
          this.wake = undefined;
          resolve();
        }
      };
      this.wake = check;
      check();
    });
  }

  private say(frame: Buffer): void {
    this.said = chained(this.said, frame);
    this.send(frame);
  }

  /** CLOCK(tick) with the tally of what went before it on this link (not counted itself). */
  private sayClock(tick: number): void {
    this.send(encodeClock(tick * TICK_MS, this.said.frames, this.said.hash));
  }

  private send(frame: Buffer): void {
    this.transport.send(frame).catch(() => undefined);
  }

  private fail(error: WireError): void {
    this.failure ??= error;
    this.wake?.();
  }

  private enter(status: PostcopyStatus): void {
    this.status = status;
    this.states.push(status);
    this.o.onState?.(status, this.o.clock.now());
  }

  ////     the link     ////

  private startLockstep(base: number): void {
    this.o.clock.advanceTo(Math.max(this.o.clock.now(), base * TICK_MS));
    this.destTick = base;
    this.sayClock(base);
  }

  /**
   * Ticks [from, to): each tick's budget goes to requests first, then the background push. The
   * output: per tick that sent pages, its tick (a CLOCK, sealed with the tally when it goes) and
   * the PAGES frames.
   */
  private runEpoch(from: number, to: number): Array<number | Buffer> {
    const { link, faults } = this.o;
    const output: Array<number | Buffer> = [];
    const perTick = (link.bandwidth * TICK_MS) / 1000;
    for (let tick = from; tick < to; tick++) {
      if (tick < this.holdUntil) continue;
      this.budget += perTick;
      const frames: Buffer[] = [];
      const send = (gfn: number, reader: PageReader = this.o.source) => {
        this.toSend[gfn] = 0;
        const frame = this.encoder.encode(this.generation, [gfn], 0, 1, reader, emptyStats())!;
        this.budget -= frame.length;
        this.bytes += frame.length;
        frames.push(frame);
      };
      while (this.returnPath.length > 0 && this.returnPath[0]!.arrive <= tick && this.budget >= PAGE_SIZE) {
        const { gfn } = this.returnPath.shift()!;
        if (faults?.skipRequests) this.toSend[gfn] = 0;
        else if (this.toSend[gfn]) send(gfn, this.answer(gfn));
        // else: already on the wire; it arrives without a second copy.
      }
      while (this.budget >= PAGE_SIZE && this.cursor < this.pages) {
        if (this.toSend[this.cursor]) send(this.cursor);
        this.cursor++;
      }
      if (this.cursor >= this.pages && this.budget > PAGE_SIZE) this.budget = PAGE_SIZE; // an idle link saves nothing
      if (frames.length === 0) continue;
      output.push(tick, ...frames);
    }
    return output;
  }

  /** The reader a request is answered from (the wrong page once, for the negative test). */
  private answer(gfn: number): PageReader {
    if (!this.o.faults?.wrongAnswer || this.answeredWrong) return this.o.source;
    this.answeredWrong = true;
    const source = this.o.source;
    return { pages: source.pages, peek: (g) => source.peek(g === gfn ? (g + 1) % source.pages : g) };
  }

  private loseLink(): void {
    this.returnPath.length = 0;
    this.budget = 0;
    this.linkDown = true;
    this.transport.close(CloseCode.INTERNAL, 'link lost');
    if (this.status !== 'postcopy-paused') this.enter('postcopy-paused');
  }

  /**
   * migrate-recover at `lostAt` + `after` ms (or when recover() is called): RECOVER on a new
   * connection, the received bitmap back, then the lockstep again. Returns its base tick.
   */
  private async recoverLink(lostAt: number, after: number | undefined): Promise<number | undefined> {
    const { clock, link } = this.o;
    clock.advanceTo(Math.max(clock.now(), lostAt * TICK_MS));
    if (after === undefined) {
      await new Promise<void>((resolve) => {
        this.wake = () => this.recoverAsked && resolve();
        this.wake();
      });
      this.wake = undefined;
    } else clock.advanceTo(Math.max(clock.now(), lostAt * TICK_MS + after));
    this.recoverAsked = false;
    this.enter('postcopy-recover');
    const at = ticksOf(clock.now());
    try {
      this.transport = await this.o.reopen();
    } catch (e) {
      this.fail(asWireError(e));
      return undefined;
    }
    this.linkDown = false;
    this.received = undefined;
    this.generation++;
    this.said = { frames: 0, hash: 0 };
    this.heard = { frames: 0, hash: 0 };
    this.listen(this.transport);
    this.send(encodeRecover(this.o.migrationId, at * TICK_MS, this.o.token));
    await this.until('recovered', () => this.received !== undefined);
    if (this.failure || this.completedAt !== undefined) return undefined;
    if (this.linkDown) return this.recoverLink(ticksOf(clock.now()), this.o.autoRecoverMs);
    const received = this.received!;
    this.bytes += Math.ceil(this.pages / 8);
    this.toSend = Uint8Array.from(received, (bit) => (bit ? 0 : 1));
    this.cursor = 0;
    // The lockstep resumes at R; no page goes before the bitmap's round trip is over.
    this.holdUntil = ticksOf(at * TICK_MS + transferTimeMs(Math.ceil(this.pages / 8), link, 2));
    this.enter('postcopy-active');
    this.startLockstep(at);
    return at;
  }
}

////     both ends in one process     ////

export interface PostcopyOptions {
  clock: VirtualClock;
  /** The source's image when its vCPUs stopped, never written after. */
  source: SparseMemory;
  /** What pre-copy left at the destination (stale where `discard` is set); the guest runs on it. */
  destination: SparseMemory;
  /** Per page: 1 if still dirty at the source (the discard set). */
  discard: Uint8Array;
  /** The guest, and the source's vCPU state at the stop (the device state sent at the switch). */
  guest: GuestSpec;
  vcpuState: Uint8Array;
  link: LinkModel;
  /** Link losses, in ms after the switch; each recovers `recoverAfter` ms later unless absent (then recover() must be called). */
  linkLoss?: { at: number; recoverAfter?: number }[];
  /** The phase fails if it has not completed this long after the switch (ms). */
  deadline: number;
  /** inproc (default) or a loopback WebSocket. */
  transport?: 'inproc' | 'ws';
  /** PostcopySourceOptions.autoRecoverMs. */
  autoRecoverMs?: number;
  /** The plan's postcopy part (src/config/faults.ts): the source's faults and the runner's. */
  faults?: PostcopyFaults;
  onState?: (status: PostcopyStatus, time: number) => void;
}

const TOKEN = 'postcopy';
const MIGRATION_ID = '00000000000000ec';

/** Both ends of postcopy's phase in this process: a PostcopySource and a PostcopyReceiver on one link. */
export class Postcopy {
  private source: PostcopySource | undefined;

  constructor(private readonly o: PostcopyOptions) {
    const pages = o.discard.length;
    for (const [name, n] of [
      ['source', o.source.pages],
      ['destination', o.destination.pages],
      ['guest.memory', o.guest.memory / PAGE_SIZE],
    ] as const)
      if (n !== pages) throw new RangeError(`postcopy: ${name} has ${n} pages, the discard set ${pages}`);
    if (!(o.deadline > 0)) throw new RangeError(`postcopy: deadline must be > 0 ms, got ${o.deadline}`);
  }

  get state(): PostcopyStatus {
    return this.source?.state ?? 'postcopy-active';
  }

  /** migrate-recover (only in postcopy-paused). */
  recover(): void {
    if (!this.source)
      throw new Error('migrate-recover: the migration is postcopy-active, not postcopy-paused');
    this.source.recover();
  }

  async run(): Promise<PostcopyResult> {
    const o = this.o;
    const drops = o.faults?.destDropsLinkAfter;
    const receiver = (transport: Transport) =>
      new PostcopyReceiver(drops === undefined ? transport : droppingAfter(transport, drops), {
        memory: o.destination,
        spec: o.guest,
        latencyMs: o.link.latencyMs,
        deadlineMs: o.deadline,
        migrationId: MIGRATION_ID,
        token: TOKEN,
        encodings: (1 << Encoding.ZERO) | (1 << Encoding.RAW) | (1 << Encoding.LZ4),
        faultDiscardOmits: o.faults?.discardOmits,
      });
    let dest: PostcopyReceiver | undefined;
    let connect: () => Promise<Transport>;
    let close = async (): Promise<void> => undefined;
    if (o.transport === 'ws') {
      const server = await listenWs({ token: TOKEN, keepaliveMs: 0 }, (transport) => {
        if (dest) dest.attachRecovery(transport);
        else dest = receiver(transport);
      });
      connect = () => connectWs({ url: server.url, token: TOKEN, clock: wallClock(), keepaliveMs: 0 });
      close = () => server.close();
    } else {
      connect = async () => {
        const [source, end] = inprocPair();
        if (dest) dest.attachRecovery(end);
        else dest = receiver(end);
        return source as InprocEndpoint;
      };
    }
    try {
      const transport = await connect();
      this.source = new PostcopySource({
        transport,
        clock: o.clock,
        source: o.source,
        discard: o.discard,
        vcpuState: o.vcpuState,
        link: o.link,
        linkLoss: o.linkLoss,
        reopen: connect,
        autoRecoverMs: o.autoRecoverMs,
        migrationId: MIGRATION_ID,
        token: TOKEN,
        faults: o.faults,
        onState: o.onState,
      });
      const { result, verdict } = await this.source.run();
      const passed = verdict?.passed === true;
      const bad = passed ? undefined : dest?.destination?.firstBadPage(o.source);
      return {
        ...result,
        verification: bad === undefined ? { passed } : { passed, firstBadPage: bad },
        ...(verdict ? { verdict } : {}),
      };
    } finally {
      await close();
    }
  }
}

/** A transport that closes itself (1011) once `frames` frames have arrived: the negative tests' lost link. */
function droppingAfter(transport: Transport, frames: number): Transport {
  let seen = 0;
  return {
    send: (frame, done) => transport.send(frame, done),
    close: (code, reason) => transport.close(code, reason),
    get bufferedAmount() {
      return transport.bufferedAmount;
    },
    deliversSealedFrames: transport.deliversSealedFrames,
    setHandlers: (handlers) =>
      transport.setHandlers({
        message: (frame) => {
          if (seen++ === frames) return transport.close(CloseCode.INTERNAL, 'dropped (fault)');
          if (seen <= frames) handlers.message(frame);
        },
        close: (error) => handlers.close(error),
      }),
  };
}
