/**
 * The source's end of one migration over any Transport. State lives here and only here:
 * where in the protocol we are, the one request awaiting its reply, and the first failure.
 * Replies (HELLO_ACK, ROUND_ACK, READY, RESUMED, VERDICT) are matched to the single outstanding
 * request; any other frame from the destination, an ERROR frame, a malformed frame or a lost link
 * fails the session once: the outstanding request rejects, listeners hear it, later calls reject
 * with it. Once GO is sent (the commit point) cancel() sends nothing: the migration can only
 * complete.
 *
 * Deadlines: every request has one, on the injected `deadlines.clock` (a wall clock at the process
 * edge, a virtual one in tests): HELLO → HELLO_ACK within `helloMs`, ROUND_END / PREPARE / GO
 * within `replyMs` of their reply, VERIFY → VERDICT within `replyMs` plus the post-run. A reply
 * that does not come fails the session with PRECOPY_ERR_TIMEOUT naming the deadline, close 4003.
 * A peer's ERROR frame cannot make this side throw: its close code is mapped (close.ts).
 *
 * HELLO carries a migration id (`migrationId`, random per session): if the link dies after GO
 * and before RESUMED, `recover()` asks the destination on a fresh connection how it ended
 * (recovery.ts), within `recoveryMs`.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Subscription } from 'rxjs';
import { wallClock, type Clock } from '../util/clock';
import { peerCloseCode } from '../wire/close';
import { PageEncoder, chainFrame, emptyStats } from '../wire/batch';
import type { PageReader } from '../wire/pages';
import {
  CloseCode,
  Encoding,
  HEADER_SIZE,
  PAGES_BODY_HEADER,
  PAGE_ENTRY_HEADER,
  PAGE_SIZE,
} from '../wire/constants';
import { WireError, WIRE_ERROR_CODES, asWireError, type WireErrorCode } from '../wire/errors';
import {
  MAX_GUEST_PAGES,
  decodeFrame,
  encodeCancel,
  encodeConfig,
  encodeError,
  encodeHandshake,
  encodeHello,
  encodeRoundEnd,
  encodeRoundStart,
  encodeSync,
  encodeVcpuState,
  encodeVerify,
  type Frame,
  type FrameName,
} from '../wire/frames';
import { BARE_CONFIG, type LinkConfig } from '../wire/config';
import { encodingBit } from '../wire/validation';
import type { LinkFaults } from '../config/faults';
import { encoderCache, sessionTransport } from './faults';
import { XbzrleCache } from '../wire/xbzrle';
import { isZeroPage } from '../util/digest';
import { RateMeter, TokenBucket } from './bandwidth';
import { ChannelSplit, addStats } from './sender';
import { DEFAULT_RECOVERY, recoverOutcome } from './recovery';
import type {
  EncodingName,
  GuestLayout,
  Recovery,
  RoundAck,
  SendStats,
  SourceSession,
  PostcopyLink,
  Transport,
} from './types';
import type { DestinationVerdict } from '../wire/verdict';

type Phase =
  | 'connected'
  | 'ready'
  | 'round'
  | 'after-final'
  | 'state-sent'
  | 'prepared'
  | 'committed'
  | 'resumed'
  | 'completed'
  | 'postcopy'
  | 'closed';

export interface SessionOptions {
  /** Carried in HELLO (the ws link also sends it in the upgrade request). */
  token: string;
  encodings: EncodingName[];
  xbzrleCacheSize: number;
  maxBatchPages: number;
  maxBandwidth: number;
  clock: Clock;
  /** The link's part of the fault plan, for negative tests (src/link/faults.ts applies it). */
  faults?: LinkFaults;
  /** How long each reply may take, on which clock. Default DEFAULT_DEADLINES on the wall clock. */
  deadlines?: Partial<SessionDeadlines>;
  /** multifd: one transport per channel, pages go there (absent or empty: pages go on this link). */
  channels?: Transport[];
  /** multifd with zero-page-detection legacy: the migration thread finds zero pages and sends them here. */
  zeroOnMain?: boolean;
  /**
   * Names this migration for the recovery query: 16 hex digits. Default: 8 random bytes (a
   * seeded generator would give two runs of one scenario the same id at one destination).
   */
  migrationId?: string;
  /** A fresh connection to the same destination, for the recovery query; absent: recover() says unreachable. */
  reopen?: () => Promise<Transport>;
  /** A fresh connection for postcopy's migrate-recover (ws `/recover`); absent: no postcopy on this link. */
  reopenRecovery?: () => Promise<Transport>;
}

/** One multifd channel: its own connection and its own encoder (running hash, frame pool). */
interface Channel {
  transport: Transport;
  encoder: PageEncoder;
}

export interface SessionDeadlines {
  /** The scheduler the deadlines run on (not the run's clock: a virtual run's clock stands still while it waits). */
  clock: Clock;
  /** HELLO → HELLO_ACK (the setup deadline). */
  helloMs: number;
  /** ROUND_END → ROUND_ACK, PREPARE → READY, GO → RESUMED; VERIFY → VERDICT gets this plus the post-run. */
  replyMs: number;
  /** After the link died with GO in flight: how long the recovery query may keep trying. */
  recoveryMs: number;
  /** The recovery query's first backoff (it doubles, at most 8×). */
  retryMs: number;
}

export const DEFAULT_DEADLINES = { helloMs: 10_000, replyMs: 30_000, ...DEFAULT_RECOVERY } as const;

interface Pending {
  expect: FrameName;
  timer: Subscription | undefined;
  resolve(frame: Frame): void;
  reject(error: WireError): void;
}

const layoutSchema = z.strictObject({
  pages: z.number().int().min(1).max(MAX_GUEST_PAGES),
  pageSize: z.literal(PAGE_SIZE),
  edgeRegion: z
    .strictObject({ firstPage: z.number().int().min(0), pages: z.number().int().min(1) })
    .optional(),
  image: z.enum(['bytes', 'digests']).optional(),
});

/** Pages per PAGES frame when the destination accepts `maxPayload` bytes: fit to it, at most `wanted`. */
export function framePages(maxPayload: number, wanted: number): number {
  return Math.min(
    wanted,
    Math.floor((maxPayload - HEADER_SIZE - PAGES_BODY_HEADER) / (PAGE_ENTRY_HEADER + PAGE_SIZE)),
  );
}

export function encodingsMask(encodings: readonly EncodingName[]): number {
  let mask = encodingBit(Encoding.RAW);
  if (encodings.includes('zero')) mask |= encodingBit(Encoding.ZERO);
  if (encodings.includes('lz4')) mask |= encodingBit(Encoding.LZ4);
  if (encodings.includes('xbzrle')) mask |= encodingBit(Encoding.XBZRLE);
  return mask;
}

/** A page reads as zeros (unstored pages do). */
function isZeroRead(memory: PageReader, gfn: number): boolean {
  const page = memory.peek(gfn);
  return page === undefined || isZeroPage(page);
}

/** ROUND_END's hash under multifd: the main link's running hash, then each channel's, in channel order. */
export function combineHashes(hashes: readonly number[]): number {
  let combined = 0;
  for (const h of hashes) combined = chainFrame(combined, h);
  return combined;
}

function usage(message: string): WireError {
  return new WireError('PRECOPY_ERR_USAGE', message);
}

/**
 * A peer's ERROR frame as a local error; its code is kept when it is one of ours, its close code
 * when it is one a close frame can carry (never 1000: an error is no normal closure).
 */
function peerError(frame: Extract<Frame, { type: 'ERROR' }>): WireError {
  const known = (WIRE_ERROR_CODES as readonly string[]).includes(frame.code);
  return new WireError(
    known ? (frame.code as WireErrorCode) : 'PRECOPY_ERR_PEER',
    `destination: ${frame.message} (${frame.code}, close code ${frame.closeCode})`,
    peerCloseCode(frame.closeCode),
    frame.code,
  );
}

export class Session implements SourceSession {
  readonly encodings: readonly EncodingName[];
  readonly migrationId: string;
  private phase: Phase = 'connected';
  private round = -1;
  private final = false;
  private pages = 0;
  private maxBatchPages: number;
  /** Requests awaiting their replies, oldest first (multifd keeps one round's ack outstanding). */
  private pending: Pending[] = [];
  /** multifd: the previous live round's ROUND_ACK, checked before the next round ends. */
  private lastAck: Promise<unknown> = Promise.resolve();
  private failed: WireError | undefined;
  /** GO has left: from here the migration only completes. */
  private goSent = false;
  private readonly listeners = new Set<(e: WireError) => void>();
  private readonly encoder: PageEncoder;
  private readonly bucket: TokenBucket;
  private readonly meter: RateMeter;
  private readonly deadlines: SessionDeadlines;
  /** CONFIG's post-run (ms): the verdict waits for it. */
  private postRunMs = 0;
  private readonly channels: Channel[];
  private readonly split: ChannelSplit;
  /** Scratch for a send's pages sorted by thread (multifd). */
  private scratch = new Uint32Array(0);

  private readonly transport: Transport;

  constructor(
    transport: Transport,
    private readonly options: SessionOptions,
  ) {
    this.transport = sessionTransport(transport, options.faults);
    this.encodings = [...options.encodings];
    this.migrationId = options.migrationId ?? randomBytes(8).toString('hex');
    this.deadlines = { clock: wallClock(), ...DEFAULT_DEADLINES, ...options.deadlines };
    this.maxBatchPages = options.maxBatchPages;
    this.encoder = new PageEncoder({
      zero: options.encodings.includes('zero'),
      lz4: options.encodings.includes('lz4'),
      xbzrle: encoderCache(
        options.encodings.includes('xbzrle') ? new XbzrleCache(options.xbzrleCacheSize) : undefined,
        options.faults,
      ),
    });
    this.bucket = new TokenBucket(options.maxBandwidth, options.clock);
    this.meter = new RateMeter(options.clock);
    this.channels = (options.channels ?? []).map((channel) => ({
      transport: sessionTransport(channel, options.faults),
      encoder: new PageEncoder({
        zero: options.encodings.includes('zero') && !options.zeroOnMain,
        lz4: options.encodings.includes('lz4'),
      }),
    }));
    this.split = new ChannelSplit(Math.max(1, this.channels.length));
    transport.setHandlers({ message: (f) => this.onFrame(f), close: (e) => this.onClose(e) });
    this.channels.forEach((c, i) =>
      c.transport.setHandlers({ message: (f) => this.onChannelFrame(i, f), close: (e) => this.onClose(e) }),
    );
  }

  get failure(): WireError | undefined {
    return this.failed;
  }

  get committed(): boolean {
    return this.goSent;
  }

  async hello(layout: GuestLayout, config: LinkConfig = BARE_CONFIG): Promise<void> {
    this.expectPhase('hello', 'connected');
    const parsed = layoutSchema.safeParse(layout);
    if (!parsed.success) throw usage(`hello: layout ${z.prettifyError(parsed.error)}`);
    const edge = layout.edgeRegion;
    if (edge && edge.firstPage + edge.pages > layout.pages)
      throw usage(
        `hello: edgeRegion [${edge.firstPage}, ${edge.firstPage + edge.pages}) must lie inside [0, ${layout.pages})`,
      );
    this.pages = layout.pages;
    this.postRunMs = config.postRunMs;
    const ack = await this.request(
      encodeHello({
        pages: layout.pages,
        pageSize: layout.pageSize,
        edgeFirstPage: edge?.firstPage ?? 0,
        edgePages: edge?.pages ?? 0,
        encodings: encodingsMask(this.encodings),
        image: layout.image ?? 'bytes',
        channels: this.channels.length,
        migrationId: this.migrationId,
        token: this.options.token,
      }),
      'HELLO_ACK',
      { name: 'hello', ms: this.deadlines.helloMs, after: 'HELLO' },
    );
    if (ack.type !== 'HELLO_ACK') throw this.failed!;
    // Fit batches to what the destination accepts rather than fail on the first big one.
    const fit = framePages(ack.maxPayload, this.maxBatchPages);
    if (fit < 1)
      throw this.fail(
        new WireError('PRECOPY_ERR_BAD_FIELD', `HELLO_ACK.maxPayload ${ack.maxPayload} cannot hold one page`),
        true,
      );
    this.maxBatchPages = fit;
    const configFrame = encodeConfig(config);
    if (configFrame.length > ack.maxPayload)
      throw this.fail(
        usage(`hello: CONFIG is ${configFrame.length} bytes, the destination accepts ${ack.maxPayload}`),
        true,
      );
    await this.send(configFrame);
    this.phase = 'ready';
  }

  async startRound(round: number, options: { final?: boolean } = {}): Promise<void> {
    this.expectPhase('startRound', 'ready');
    if (round !== this.round + 1)
      throw usage(`startRound: round ${round} out of order, expected ${this.round + 1}`);
    this.round = round;
    this.final = options.final === true;
    this.encoder.startRound(round, this.final);
    for (const c of this.channels) c.encoder.startRound(round, this.final);
    this.phase = 'round';
    await this.send(encodeRoundStart(round, this.final, this.now()));
  }

  async sendPages(gfns: ArrayLike<number>, count: number, memory: PageReader): Promise<SendStats> {
    this.expectPhase('sendPages', 'round');
    if (!Number.isInteger(count) || count < 0 || count > gfns.length)
      throw usage(`sendPages: count must be an integer in [0, ${gfns.length}], got ${count}`);
    if (memory.pages !== this.pages)
      throw usage(`sendPages: memory has ${memory.pages} pages, hello said ${this.pages}`);
    for (let i = 0; i < count; i++) {
      const gfn = gfns[i]!;
      if (!Number.isInteger(gfn) || gfn < 0 || gfn >= this.pages)
        throw usage(`sendPages: gfns[${i}] = ${gfn} is outside the guest [0, ${this.pages})`);
    }
    if (this.channels.length > 0) return this.sendMultifd(gfns, count, memory);
    const stats = emptyStats();
    await this.encodeAndSend(this.encoder, this.transport, gfns, 0, count, memory, stats);
    return stats;
  }

  /**
   * multifd: the migration thread keeps the zero pages when it detects them (legacy), the
   * channels take the rest, each its slice (sender.ts), each on its own connection.
   */
  private async sendMultifd(gfns: ArrayLike<number>, count: number, memory: PageReader): Promise<SendStats> {
    if (this.scratch.length < count) this.scratch = new Uint32Array(count);
    const pages = this.scratch;
    let zeros = 0;
    let rest = count;
    // Zero pages fill the scratch from the front, the others from the back (order kept on both sides).
    for (let i = count - 1; i >= 0; i--) {
      const gfn = gfns[i]!;
      if (this.options.zeroOnMain && isZeroRead(memory, gfn)) pages[zeros++] = gfn;
      else pages[--rest] = gfn;
    }
    pages.subarray(0, zeros).reverse();
    const stats: SendStats = emptyStats();
    await this.encodeAndSend(this.encoder, this.transport, pages, 0, zeros, memory, stats);
    const channels = this.channels.map(() => emptyStats());
    const slices: Array<[number, number, number]> = [];
    this.split.split(count - zeros, (c, from, to) => slices.push([c, zeros + from, zeros + to]));
    for (const [c, from, to] of slices) {
      const channel = this.channels[c]!;
      await this.encodeAndSend(channel.encoder, channel.transport, pages, from, to, memory, channels[c]!);
      addStats(stats, channels[c]!);
    }
    stats.channels = channels;
    return stats;
  }

  /** Encode gfns[from..to) into PAGES frames on `transport`, adding to `stats`. */
  private async encodeAndSend(
    encoder: PageEncoder,
    transport: Transport,
    gfns: ArrayLike<number>,
    from: number,
    to: number,
    memory: PageReader,
    stats: SendStats,
  ): Promise<void> {
    for (let at = from; at < to; at += this.maxBatchPages) {
      const frame = encoder.encode(
        this.round,
        gfns,
        at,
        Math.min(to, at + this.maxBatchPages),
        memory,
        stats,
      );
      if (!frame) continue;
      await this.send(frame, () => encoder.release(frame), transport);
    }
  }

  async endRound(round: number): Promise<RoundAck> {
    this.expectPhase('endRound', 'round');
    if (round !== this.round) throw usage(`endRound: round ${round} is not the open round ${this.round}`);
    let pages = this.encoder.roundPages;
    const hashes = [this.encoder.runningHash];
    // multifd: each channel's sync packet first, then ROUND_END on the main link (QEMU's flush).
    for (const c of this.channels) {
      await this.send(encodeSync(round, c.encoder.roundPages, c.encoder.runningHash), undefined, c.transport);
      pages += c.encoder.roundPages;
      hashes.push(c.encoder.runningHash);
    }
    const hash = this.channels.length > 0 ? combineHashes(hashes) : hashes[0]!;
    const reply = this.request(encodeRoundEnd(round, pages, hash, this.now()), 'ROUND_ACK', {
      name: 'reply',
      ms: this.deadlines.replyMs,
      after: `ROUND_END ${round}`,
    }).then((ack) => this.checkAck(ack, round, pages, hash));
    if (this.channels.length > 0 && !this.final) {
      // QEMU's source does not wait for the destination between rounds: round N+1 goes out while
      // round N's ack is on its way. One ack stays outstanding; the previous one must be in.
      const previous = this.lastAck;
      this.lastAck = reply;
      reply.catch(() => undefined);
      await previous;
    } else {
      await this.lastAck;
      await reply;
    }
    this.phase = this.final ? 'after-final' : 'ready';
    return { round, pages, runningHash: hash };
  }

  private checkAck(ack: Frame, round: number, pages: number, hash: number): void {
    if (ack.type !== 'ROUND_ACK') throw this.failed!;
    if (ack.round !== round || ack.pages !== pages || ack.runningHash !== hash)
      throw this.fail(
        new WireError(
          'PRECOPY_ERR_ROUND_MISMATCH',
          `ROUND_ACK round ${ack.round} pages ${ack.pages} hash ${ack.runningHash} does not match round ${round} pages ${pages} hash ${hash}`,
          CloseCode.INVALID_DATA,
        ),
        true,
      );
  }

  async sendVcpuState(blob: Uint8Array): Promise<void> {
    this.expectPhase('sendVcpuState', 'after-final');
    const frame = encodeVcpuState(blob);
    this.phase = 'state-sent';
    await this.send(frame);
  }

  async prepare(): Promise<{ readyAt: number }> {
    this.expectPhase('prepare', 'state-sent');
    const readyAt = await this.handshake('PREPARE', 'READY');
    this.phase = 'prepared';
    return { readyAt };
  }

  async go(): Promise<{ resumedAt: number }> {
    this.expectPhase('go', 'prepared');
    // Committed before the first byte leaves: a cancel racing this call sends nothing.
    this.goSent = true;
    this.phase = 'committed';
    const resumedAt = await this.handshake('GO', 'RESUMED');
    this.phase = 'resumed';
    return { resumedAt };
  }

  /** One switchover step: send `step`, wait for its `reply` within the reply deadline; the reply's time. */
  private async handshake(step: 'PREPARE' | 'GO', reply: 'READY' | 'RESUMED'): Promise<number> {
    const frame = await this.request(encodeHandshake(step, this.now()), reply, {
      name: 'reply',
      ms: this.deadlines.replyMs,
      after: step,
    });
    if (frame.type !== reply) throw this.failed!;
    return frame.at;
  }

  async verify(sourceHash: string): Promise<DestinationVerdict> {
    this.expectPhase('verify', 'resumed');
    const reply = await this.request(encodeVerify(sourceHash, this.now()), 'VERDICT', {
      name: 'verdict',
      ms: this.deadlines.replyMs + this.postRunMs,
      after: 'VERIFY',
    });
    if (reply.type !== 'VERDICT') throw this.failed!;
    return reply.verdict;
  }

  async cancel(reason: string): Promise<void> {
    // After GO the destination may already run the guest: nothing can take it back.
    if (this.goSent || this.failed || this.phase === 'closed') return;
    const error = new WireError(
      'PRECOPY_ERR_CANCELLED',
      `cancelled by the source: ${reason}`,
      CloseCode.CANCELLED,
    );
    this.failed = error;
    this.phase = 'closed';
    this.rejectPending(error);
    await this.transport.send(encodeCancel(reason)).catch(() => undefined);
    this.closeAll(CloseCode.CANCELLED, 'cancelled');
  }

  handOffPostcopy(): PostcopyLink {
    this.expectPhase('handOffPostcopy', 'ready');
    const reopen = this.options.reopenRecovery;
    if (!reopen || this.channels.length > 0)
      throw new WireError(
        'PRECOPY_ERR_USAGE',
        'handOffPostcopy: this link has no recovery connection (or has multifd channels)',
      );
    // The destination runs the guest once BITMAP(discard) is there: committed, like GO.
    this.phase = 'postcopy';
    this.goSent = true;
    return { transport: this.transport, migrationId: this.migrationId, token: this.options.token, reopen };
  }

  async close(): Promise<void> {
    if (this.phase === 'postcopy') return; // the postcopy protocol owns the link now
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeAll(CloseCode.NORMAL, 'done');
  }

  async recover(): Promise<Recovery> {
    if (!this.options.reopen)
      return { outcome: 'unreachable', attempts: 0, error: 'this link cannot reach the destination again' };
    return recoverOutcome({
      open: this.options.reopen,
      migrationId: this.migrationId,
      token: this.options.token,
      clock: this.deadlines.clock,
      deadlineMs: this.deadlines.recoveryMs,
      retryMs: this.deadlines.retryMs,
    });
  }

  onError(listener: (error: WireError) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setMaxBandwidth(bytesPerSecond: number): void {
    this.bucket.setRate(bytesPerSecond);
  }

  measuredRate(): number {
    return this.meter.rate();
  }

  ////     internals     ////

  /** The timestamp control frames carry: the session clock's now (the run's clock). */
  private now(): number {
    return Math.max(0, this.options.clock.now());
  }

  private expectPhase(call: string, phase: Phase): void {
    if (this.failed) throw this.failed;
    if (this.phase !== phase) throw usage(`${call}: not allowed in phase '${this.phase}' (needs '${phase}')`);
  }

  private closeAll(code: number, reason: string): void {
    this.transport.close(code, reason);
    for (const c of this.channels) c.transport.close(code, reason);
  }

  private rejectPending(error: WireError): void {
    for (const p of this.pending.splice(0)) {
      p.timer?.unsubscribe();
      p.reject(error);
    }
  }

  private async send(frame: Buffer, onWritten?: () => void, transport = this.transport): Promise<void> {
    if (this.failed) throw this.failed;
    await this.bucket.take(frame.length);
    const written = () => {
      // Measured when the bytes leave for the peer, not when queued.
      this.meter.record(frame.length);
      onWritten?.();
    };
    try {
      await transport.send(frame, written);
    } catch (e) {
      throw this.failed ?? this.fail(asWireError(e), false);
    }
  }

  /** Send `frame`, wait for its `expect` reply; no reply within the deadline fails the session. */
  private async request(
    frame: Buffer,
    expect: FrameName,
    deadline: { name: string; ms: number; after: string },
  ): Promise<Frame> {
    if (this.failed) throw this.failed;
    const reply = new Promise<Frame>((resolve, reject) =>
      this.pending.push({ expect, resolve, reject, timer: undefined }),
    );
    // If the send fails, the caller gets the send's error; the reply's rejection must not go unhandled.
    reply.catch(() => undefined);
    const pending = this.pending[this.pending.length - 1]!;
    // From the moment the request is handed over (a send held by backpressure has its own bound).
    pending.timer = this.deadlines.clock.schedule(() => {
      if (!this.pending.includes(pending)) return;
      this.fail(
        new WireError(
          'PRECOPY_ERR_TIMEOUT',
          `no ${expect} within ${deadline.ms} ms of ${deadline.after} (the ${deadline.name} deadline)`,
          CloseCode.DEADLINE,
        ),
        true,
      );
    }, deadline.ms);
    await this.send(frame);
    return reply;
  }

  /** The oldest request has its reply: take it off and stop its deadline. */
  private settle(): Pending | undefined {
    const pending = this.pending.shift();
    pending?.timer?.unsubscribe();
    return pending;
  }

  /**
   * A frame from the destination, decoded; undefined when there is none to handle: the session
   * is over, the bytes did not decode, or the destination sent an ERROR (each fails it).
   */
  private received(bytes: Uint8Array): Frame | undefined {
    if (this.failed || this.phase === 'closed') return undefined;
    let frame: Frame;
    try {
      frame = decodeFrame(bytes);
    } catch (e) {
      this.fail(asWireError(e), true);
      return undefined;
    }
    if (frame.type !== 'ERROR') return frame;
    this.fail(peerError(frame), false);
    return undefined;
  }

  private onFrame(bytes: Uint8Array): void {
    const frame = this.received(bytes);
    if (!frame) return;
    const pending = this.pending[0];
    if (!pending || pending.expect !== frame.type) {
      this.fail(
        new WireError(
          'PRECOPY_ERR_UNEXPECTED_FRAME',
          `destination sent ${frame.type} while the source ${pending ? `waits for ${pending.expect}` : 'expects nothing'}`,
        ),
        true,
      );
      return;
    }
    this.settle();
    // The verdict ends the protocol the moment it arrives: the destination may close right
    // behind it, before the awaiting verify() resumes, and that close is a normal end.
    if (frame.type === 'VERDICT') this.phase = 'completed';
    pending.resolve(frame);
  }

  /** A destination sends nothing on a channel but an ERROR before it closes it. */
  private onChannelFrame(channel: number, bytes: Uint8Array): void {
    const frame = this.received(bytes);
    if (frame)
      this.fail(
        new WireError(
          'PRECOPY_ERR_UNEXPECTED_FRAME',
          `destination sent ${frame.type} on multifd channel ${channel}`,
        ),
        true,
      );
  }

  private onClose(error: WireError | undefined): void {
    if (this.failed) return;
    if (this.phase === 'completed' || this.phase === 'closed') {
      this.phase = 'closed';
      return;
    }
    this.fail(
      error ?? new WireError('PRECOPY_ERR_LINK_LOST', 'destination closed the link mid-migration', 1006),
      false,
    );
  }

  /** Record the first failure, tell the peer (when the link still works) and everyone waiting. */
  private fail(error: WireError, tellPeer: boolean): WireError {
    if (this.failed) return this.failed;
    this.failed = error;
    this.phase = 'closed';
    if (tellPeer) this.transport.send(encodeError(error)).catch(() => undefined);
    this.closeAll(error.closeCode, error.code);
    this.rejectPending(error);
    for (const listener of this.listeners) listener(error);
    return error;
  }
}
