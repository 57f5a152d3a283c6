/**
 * The sender CPU model and the multifd page split, shared by every SourceSession.
 *
 * CPU model (virtual time): each sender thread encodes at most `encodeRate` bytes of guest pages
 * per second (zero test, lz4, framing, checksum: every page it handles costs its 4 KiB). Without
 * multifd there is one thread, the migration thread; with multifd each channel is one, and the
 * migration thread keeps what QEMU leaves it (zero pages under zero-page-detection legacy). The
 * threads run in parallel beside the link, so a send takes as long as the slowest of them or the
 * link, whichever is longer: one channel is CPU-bound once the link is faster than it, and N
 * channels scale until the link is the limit.
 */
import { PAGE_SIZE } from '../wire/constants';
import type { BatchStats } from '../wire/batch';
import { transferTimeMs, type LinkModel } from './bandwidth';

/**
 * The default encode rate per multifd channel, bytes/s: PageEncoder with zero,lz4 on random
 * 4 KiB pages measured 0.65-0.98 GiB/s on this machine's 2 shared cores (bench/multifd.bench.ts
 * prints it beside lz4's own speed); 1 GiB/s rounds the upper figure.
 */
export const DEFAULT_ENCODE_RATE = 1024 ** 3;

/** What one sendPages call put on each sender thread: the migration thread first, then the channels. */
export interface ThreadShare {
  pages: number;
  bytesWire: number;
}

/** The encode rate a scenario runs with: its own, the default under multifd, or 0 (not modelled). */
export function encodeRateOf(encodeRate: number | undefined, multifd: boolean): number {
  return encodeRate ?? (multifd ? DEFAULT_ENCODE_RATE : 0);
}

/** Milliseconds a send occupies the link and its sender threads (0 rate = CPU not modelled). */
export function sendTimeMs(
  link: LinkModel,
  encodeRate: number,
  bytesWire: number,
  threads: readonly ThreadShare[],
): number {
  let busiest = 0;
  for (const t of threads) busiest = Math.max(busiest, t.pages);
  return cpuBoundMs(transferTimeMs(bytesWire, link, 0), encodeRate, busiest);
}

/**
 * A send takes the link's time or, when it is slower, the time its busiest sender thread needs
 * to encode its `busiestPages` (the threads run in parallel; 0 rate = CPU not modelled).
 */
export function cpuBoundMs(linkMs: number, encodeRate: number, busiestPages: number): number {
  if (encodeRate <= 0) return linkMs;
  return Math.max(linkMs, ((busiestPages * PAGE_SIZE) / encodeRate) * 1000);
}

/**
 * Spreads each send's pages over the channels in contiguous, nearly equal slices, starting where
 * the previous send stopped, so a run of small sends still loads every channel alike. (QEMU hands
 * full 128-page packets to the next idle channel; over a round the load per channel is the same.)
 */
export class ChannelSplit {
  private next = 0;

  constructor(readonly channels: number) {}

  /** Calls `take(channel, from, to)` for each slice of [0, count). */
  split(count: number, take: (channel: number, from: number, to: number) => void): void {
    if (count === 0) return;
    const slices = Math.min(this.channels, count);
    const per = Math.ceil(count / slices);
    for (let from = 0, i = 0; from < count; from += per, i++)
      take((this.next + i) % this.channels, from, Math.min(count, from + per));
    this.next = (this.next + slices) % this.channels;
  }
}

/** The sum of per-thread stats. */
export function addStats(into: BatchStats, s: BatchStats): void {
  for (const key of Object.keys(into) as (keyof BatchStats)[]) into[key] += s[key];
}
