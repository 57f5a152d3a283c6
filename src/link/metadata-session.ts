/**
 * The link of a metadata-only migration (sweeps' fast mode): a SourceSession that sends nothing
 * and counts what the real session would put on the wire. Pages are batched into PAGES frames
 * exactly as the real session batches them (the same frame size for the default destination);
 * each page costs its content state's entry (metadata-sizes.ts) and each frame its header, so the
 * engine's SendStats and its virtual time per send come out as the real link's (exact or
 * estimated per state, as the size table says). There is no destination: the handshake answers
 * at once, and verify() reports the destination's downtime as the real receiver measures it
 * (the last live round's end to GO, from the same timestamps) and a verdict that says the image
 * was not verified and no guest resumed (no post-run).
 */
import type { GuestSamples, PageStates } from '../guest/page-states';
import type { SparseMemory } from '../guest/sparse-memory';
import type { Clock } from '../util/clock';
import { emptyStats } from '../wire/batch';
import {
  DEFAULT_BATCH_PAGES,
  DEFAULT_MAX_PAYLOAD,
  Encoding,
  HEADER_SIZE,
  PAGES_BODY_HEADER,
  PAGE_SIZE,
} from '../wire/constants';
import { WireError } from '../wire/errors';
import { BARE_CONFIG, type LinkConfig } from '../wire/config';
import type { EncodingName, GuestLayout, RoundAck, SendStats, SourceSession } from './types';
import type { DestinationVerdict } from '../wire/verdict';
import { encodedSizes, type EncodedSizes } from './metadata-sizes';
import { framePages } from './session';
import { ChannelSplit, addStats } from './sender';

export const NOT_VERIFIED = 'not verified: metadata-only run';

export interface MetadataSessionOptions {
  /** The pages' content states (the metadata-only guest's). */
  states: PageStates;
  /** What the size table's sample pages are made of (the guest's pools and write sizes). */
  samples: GuestSamples;
  /** zero, lz4, raw; xbzrle has no metadata model. */
  encodings: readonly EncodingName[];
  clock: Clock;
  /** multifd: channels the pages are spread over (0 = none), and zero pages kept on the main link (legacy). */
  channels?: number;
  zeroOnMain?: boolean;
}

function usage(message: string): WireError {
  return new WireError('PRECOPY_ERR_USAGE', message);
}

export class MetadataSession implements SourceSession {
  readonly encodings: readonly EncodingName[];
  readonly failure = undefined;
  /** Pages per frame, as the real session settles on with the default destination. */
  private readonly framePages = framePages(DEFAULT_MAX_PAYLOAD, DEFAULT_BATCH_PAGES);
  private readonly sizes: EncodedSizes;
  private round = -1;
  private roundPages = 0;
  private pagesSent = 0;
  private final = false;
  private latencyMs = 0;
  /** The timestamps the real destination would see (ROUND_END of the last live round, ...). */
  private readonly at = { lastLiveEnd: 0, finalStart: 0, finalEnd: 0, prepare: 0, go: 0 };
  private goSent = false;
  private readonly split: ChannelSplit;
  private scratch = new Uint32Array(0);

  constructor(private readonly options: MetadataSessionOptions) {
    this.split = new ChannelSplit(Math.max(1, options.channels ?? 0));
    if (options.encodings.includes('xbzrle'))
      throw usage('metadata-only link: xbzrle has no metadata model (its size depends on page history)');
    this.encodings = [...options.encodings];
    this.sizes = encodedSizes(
      { zero: this.encodings.includes('zero'), lz4: this.encodings.includes('lz4') },
      options.samples,
    );
  }

  get committed(): boolean {
    return this.goSent;
  }

  async hello(layout: GuestLayout, config: LinkConfig = BARE_CONFIG): Promise<void> {
    if (layout.pages !== this.options.states.pages)
      throw usage(`hello: layout has ${layout.pages} pages, the page states ${this.options.states.pages}`);
    this.latencyMs = config.latencyMs;
  }

  async startRound(round: number, options: { final?: boolean } = {}): Promise<void> {
    if (round !== this.round + 1)
      throw usage(`startRound: round ${round} out of order, expected ${this.round + 1}`);
    this.round = round;
    this.roundPages = 0;
    this.final = options.final === true;
    if (this.final) this.at.finalStart = this.options.clock.now();
  }

  async sendPages(gfns: ArrayLike<number>, count: number, _memory: SparseMemory): Promise<SendStats> {
    const stats: SendStats = emptyStats();
    this.roundPages += count;
    this.pagesSent += count;
    const channels = this.options.channels ?? 0;
    if (channels === 0) {
      this.count(gfns, 0, count, stats);
      return stats;
    }
    // As the real session: zero pages on the main link under legacy detection, the rest split.
    if (this.scratch.length < count) this.scratch = new Uint32Array(count);
    const pages = this.scratch;
    const { states } = this.options.states;
    let zeros = 0;
    let rest = count;
    for (let i = count - 1; i >= 0; i--) {
      const gfn = gfns[i]!;
      if (this.options.zeroOnMain && this.sizes.encoding[states[gfn]!] === Encoding.ZERO)
        pages[zeros++] = gfn;
      else pages[--rest] = gfn;
    }
    this.count(pages, 0, zeros, stats);
    const perChannel = Array.from({ length: channels }, () => emptyStats());
    this.split.split(count - zeros, (c, from, to) => {
      this.count(pages, zeros + from, zeros + to, perChannel[c]!);
    });
    for (const c of perChannel) addStats(stats, c);
    stats.channels = perChannel;
    return stats;
  }

  /** What gfns[from..to) cost in PAGES frames of the real session's size. */
  private count(gfns: ArrayLike<number>, from: number, to: number, stats: SendStats): void {
    const { states } = this.options.states;
    const { entryBytes, encoding } = this.sizes;
    for (let at = from; at < to; at += this.framePages) {
      const end = Math.min(to, at + this.framePages);
      let bytes = HEADER_SIZE + PAGES_BODY_HEADER;
      for (let i = at; i < end; i++) {
        const state = states[gfns[i]!]!;
        bytes += entryBytes[state]!;
        const e = encoding[state];
        if (e === Encoding.ZERO) stats.zeroPages++;
        else if (e === Encoding.LZ4) stats.lz4Pages++;
        else stats.rawPages++;
      }
      stats.bytesWire += bytes;
      stats.frames++;
    }
    stats.pages += to - from;
    stats.bytesRaw += (to - from) * PAGE_SIZE;
  }

  async endRound(round: number): Promise<RoundAck> {
    if (round !== this.round) throw usage(`endRound: round ${round} is not the open round ${this.round}`);
    this.at[this.final ? 'finalEnd' : 'lastLiveEnd'] = this.options.clock.now();
    return { round, pages: this.roundPages, runningHash: 0 };
  }

  async sendVcpuState(): Promise<void> {}

  async prepare(): Promise<{ readyAt: number }> {
    this.at.prepare = this.options.clock.now();
    return { readyAt: this.at.prepare + this.latencyMs };
  }

  async go(): Promise<{ resumedAt: number }> {
    this.goSent = true;
    this.at.go = this.options.clock.now();
    return { resumedAt: this.at.go + this.latencyMs };
  }

  async verify(sourceHash: string): Promise<DestinationVerdict> {
    const at = this.at;
    return {
      // Nothing was checked; the engine reports the result as metadata-only, not as verified.
      passed: true,
      destinationHash: sourceHash,
      destinationDowntimeMs: at.go - at.lastLiveEnd,
      downtimeBreakdown: {
        stop: at.finalStart - at.lastLiveEnd,
        finalRound: at.finalEnd - at.finalStart,
        vcpuState: at.prepare - at.finalEnd,
        prepare: 0,
        commit: at.go - at.prepare,
        resume: 0,
      },
      resumedAt: at.go + this.latencyMs,
      verifyMs: 0,
      rounds: this.round + 1,
      pagesReceived: this.pagesSent,
      postRun: null,
      reason: NOT_VERIFIED,
    };
  }

  async cancel(): Promise<void> {}

  async close(): Promise<void> {}

  onError(): () => void {
    return () => undefined;
  }

  setMaxBandwidth(): void {}

  measuredRate(): number {
    return 0;
  }
}
