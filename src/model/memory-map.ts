/**
 * The migration bitmap as the model keeps it: guest memory as a list of GFN intervals, each
 * inside one cell of the workload law, holding per page class the probability that a page is
 * pending (never sent yet, or harvested dirty), was sent since the last sync, or sits in the
 * XBZRLE cache. Quantities are expectations over pages, not pages: a 64 GiB guest is a few
 * dozen intervals.
 *
 * It mirrors src/migration/dirty-tracker.ts:
 * - the send cursor walks the bitmap in address order and wraps (QEMU's ram_find_and_save_block);
 * - a sync folds in every page written since the previous one (get: the MMU's log; ring: the
 *   reaped rings), so a page written after the sync that harvested it is sent again even when
 *   its newest bytes already went;
 * - manual (clear before send): sending a page clears its log bit, so only writes after its send
 *   count at the next sync.
 * Intervals are split where the cursor stops and where a deterministic source's written ranges
 * begin and end, and merged again when their states agree.
 */
import type { PageCosts } from './costs';
import type { Range, WorkloadLaw } from './law';

export interface Interval {
  from: number;
  to: number;
  cell: number;
  /** Per class: pending and never sent since the migration began (its bytes may still be the fill's). */
  orig: Float64Array;
  /** Per class: pending, harvested as written. */
  dirty: Float64Array;
  /** Per class: sent since the last sync (manual mode clears these pages' log at the send). */
  sent: Float64Array;
  /** Per class: Λ when the pages sent since the last sync went (their log was cleared then). */
  sentLambda: Float64Array;
  /** Per class: Λ when the interval's pages were last sent, over all its pages (XBZRLE's delta). */
  lastSendLambda: Float64Array;
  /** Per class: in the XBZRLE cache. */
  cached: Float64Array;
  /** Written by a deterministic source since the last sync (0 or 1 after the split). */
  det: number;
}

export interface SendTotals {
  pages: number;
  zeroPages: number;
  bytes: number;
  /** XBZRLE: pages sent as deltas, and pages found unchanged. */
  deltaPages: number;
}

export interface SendContext {
  /** Run time of the writing vCPUs now. */
  run: number;
  /** XBZRLE active for this round (rounds after the bulk), and whether misses are inserted. */
  xbzrle: boolean;
  insert: boolean;
  /** Probability a cached page survived the other pages mapped to its slot. */
  survival: number;
}

const EPS = 1e-6;
/** Fewer pending pages than this are none: the send loop stops there, so every empty test uses it. */
export const EMPTY_PAGES = EPS;

function copy(a: Float64Array): Float64Array {
  return new Float64Array(a);
}

export class MemoryMap {
  intervals: Interval[] = [];
  /** Send cursor (GFN, fractional). */
  cursor = 0;
  readonly classes: number;
  readonly populated: number;

  constructor(
    readonly law: WorkloadLaw,
    readonly costs: PageCosts,
    /** Share of pages the fill populated. */
    populated: number,
    readonly manual: boolean,
  ) {
    this.classes = law.classWeights.length;
    this.populated = populated;
    law.cells.forEach((cell, i) => {
      const k = this.classes;
      this.intervals.push({
        from: cell.from,
        to: cell.to,
        cell: i,
        orig: new Float64Array(k).fill(1),
        dirty: new Float64Array(k),
        sent: new Float64Array(k),
        sentLambda: new Float64Array(k),
        lastSendLambda: new Float64Array(k),
        cached: new Float64Array(k),
        det: 0,
      });
    });
  }

  /** Pages in the bitmap. */
  pending(): number {
    let sum = 0;
    for (const iv of this.intervals) sum += this.pendingIn(iv, iv.to - iv.from);
    return sum;
  }

  private pendingIn(iv: Interval, length: number): number {
    let density = 0;
    const w = this.law.classWeights;
    for (let c = 0; c < this.classes; c++) density += w[c]! * (iv.orig[c]! + iv.dirty[c]!);
    return density * length;
  }

  /** Split so that an interval starts at `at`; returns the index of that interval. */
  private splitAt(at: number): number {
    const list = this.intervals;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.to <= at) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= list.length) return list.length;
    const iv = list[lo]!;
    if (at - iv.from <= EPS) return lo;
    if (iv.to - at <= EPS) return lo + 1;
    const right: Interval = {
      ...iv,
      from: at,
      orig: copy(iv.orig),
      dirty: copy(iv.dirty),
      sent: copy(iv.sent),
      sentLambda: copy(iv.sentLambda),
      lastSendLambda: copy(iv.lastSendLambda),
      cached: copy(iv.cached),
    };
    iv.to = at;
    list.splice(lo + 1, 0, right);
    return lo + 1;
  }

  /** Cost per page now, and the zero share, of the pending pages of class c in `iv`. */
  private pageCost(
    iv: Interval,
    c: number,
    ctx: SendContext,
  ): { orig: { bytes: number; zero: number }; dirty: { bytes: number; zero: number } } {
    const mu = this.law.lambda(iv.cell, c, ctx.run);
    let touched = 0;
    let mean = 0;
    for (const d of this.law.det) {
      if (d.to <= iv.from || d.from >= iv.to) continue;
      const p = d.passes(iv.from, iv.to, ctx.run);
      touched = Math.max(touched, p.touched);
      mean = Math.max(mean, p.mean);
    }
    const p = this.populated;
    const mix = (shift: number, atLeastOne: boolean) => {
      const f = this.costs.expected('fill', mu, shift, atLeastOne);
      const z = this.costs.expected('zero', mu, shift, atLeastOne);
      return { bytes: p * f.bytes + (1 - p) * z.bytes, zero: p * f.zero + (1 - p) * z.zero };
    };
    const blend = (a: { bytes: number; zero: number }, b: { bytes: number; zero: number }, t: number) => ({
      bytes: t * a.bytes + (1 - t) * b.bytes,
      zero: t * a.zero + (1 - t) * b.zero,
    });
    const orig = touched > 0 ? blend(mix(mean, false), mix(0, false), touched) : mix(0, false);
    const dirty = touched > 0 ? blend(mix(mean, false), mix(0, true), touched) : mix(0, true);
    return { orig, dirty };
  }

  /**
   * Send from the cursor until `maxBytes` or `maxPages` went or nothing is pending; the clock moves on by
   * `onSent` after each interval (so later pages see later writes), which hears the interval's
   * wire bytes, pages and zero pages (the sender CPU model charges pages). Returns what went.
   */
  send(
    maxBytes: number,
    maxPages: number,
    ctx: SendContext,
    onSent: (bytes: number, pages: number, zeroPages: number) => SendContext,
  ): SendTotals {
    const out: SendTotals = { pages: 0, zeroPages: 0, bytes: 0, deltaPages: 0 };
    if (maxBytes <= 0 || maxPages <= 0) return out;
    let total = this.pending();
    let guard = 4 * this.intervals.length + 16;
    while (out.bytes < maxBytes && out.pages < maxPages && total > EPS && guard-- > 0) {
      if (this.cursor >= this.law.pages - EPS) this.cursor = 0;
      const i = this.splitAt(this.cursor);
      if (i >= this.intervals.length) {
        this.cursor = 0;
        continue;
      }
      const iv = this.intervals[i]!;
      const length = iv.to - iv.from;
      const pending = this.pendingIn(iv, length);
      if (pending <= EPS) {
        this.cursor = iv.to;
        continue;
      }
      const perGfn = this.costPerGfn(iv, ctx);
      // The interval ends where the first budget runs out (bytes, or pages for the sender's CPU).
      const cut = Math.min(
        perGfn.bytes > 0 ? iv.from + (maxBytes - out.bytes) / perGfn.bytes : Infinity,
        perGfn.pages > 0 ? iv.from + (maxPages - out.pages) / perGfn.pages : Infinity,
      );
      if (cut < iv.to) {
        // Less than a sliver of budget left: the window is spent.
        if (cut - iv.from <= EPS) break;
        if (iv.to - cut > EPS) this.splitAt(cut);
      }
      const take = iv;
      const len = take.to - take.from;
      out.bytes += perGfn.bytes * len;
      out.pages += perGfn.pages * len;
      out.zeroPages += perGfn.zero * len;
      out.deltaPages += perGfn.delta * len;
      total -= perGfn.pages * len;
      this.markSent(take, ctx);
      this.cursor = take.to;
      ctx = onSent(perGfn.bytes * len, perGfn.pages * len, perGfn.zero * len);
    }
    return out;
  }

  /** Per GFN of `iv`: pages pending, their bytes, zero and delta pages. */
  private costPerGfn(
    iv: Interval,
    ctx: SendContext,
  ): { pages: number; bytes: number; zero: number; delta: number } {
    const w = this.law.classWeights;
    let pages = 0;
    let bytes = 0;
    let zero = 0;
    let delta = 0;
    for (let c = 0; c < this.classes; c++) {
      const o = w[c]! * iv.orig[c]!;
      const d = w[c]! * iv.dirty[c]!;
      if (o + d <= 0) continue;
      const cost = this.pageCost(iv, c, ctx);
      pages += o + d;
      zero += o * cost.orig.zero + d * cost.dirty.zero;
      let dirtyBytes = cost.dirty.bytes;
      let origBytes = cost.orig.bytes;
      if (ctx.xbzrle) {
        // A cached copy turns the page into a delta of the writes since it was sent.
        const hit = iv.cached[c]! * ctx.survival;
        const mu = Math.max(0, this.law.lambda(iv.cell, c, ctx.run) - iv.lastSendLambda[c]!);
        const writes = mu > 0 ? mu / (1 - Math.exp(-mu)) : 1;
        const deltaBytes = this.costs.delta(writes);
        if (deltaBytes !== null) {
          const nonZero = 1 - cost.dirty.zero;
          dirtyBytes = (1 - hit * nonZero) * cost.dirty.bytes + hit * nonZero * deltaBytes;
          origBytes = (1 - hit * nonZero) * cost.orig.bytes + hit * nonZero * deltaBytes;
          delta += (o + d) * hit * nonZero;
        }
      }
      bytes += o * origBytes + d * dirtyBytes;
    }
    return { pages, bytes: bytes + pages * this.costs.framePerPage, zero, delta };
  }

  private markSent(iv: Interval, ctx: SendContext): void {
    for (let c = 0; c < this.classes; c++) {
      const was = iv.orig[c]! + iv.dirty[c]!;
      if (was <= 0) continue;
      const lambda = this.law.lambda(iv.cell, c, ctx.run);
      const before = iv.sent[c]!;
      iv.sent[c] = Math.min(1, before + was);
      iv.sentLambda[c] = (before * iv.sentLambda[c]! + was * lambda) / (before + was);
      iv.orig[c] = 0;
      iv.dirty[c] = 0;
      // The pages just sent carry the newest Λ; the rest of the class keeps its older one.
      iv.lastSendLambda[c] = was * lambda + (1 - was) * iv.lastSendLambda[c]!;
      if (ctx.xbzrle && ctx.insert) iv.cached[c] = Math.min(1, iv.cached[c]! + was * (1 - iv.cached[c]!));
    }
  }

  /**
   * migration_bitmap_sync: fold in every page written since the previous sync (run times
   * `from` → `to`). Returns the pages newly set.
   */
  sync(from: number, to: number): number {
    const ranges: Range[] = [];
    for (const d of this.law.det) ranges.push(...d.written(from, to));
    for (const [a, b] of ranges) {
      this.splitAt(a);
      this.splitAt(b);
    }
    for (const iv of this.intervals) iv.det = 0;
    if (ranges.length > 0) {
      ranges.sort((x, y) => x[0] - y[0]);
      const union: Range[] = [];
      for (const r of ranges) {
        const last = union[union.length - 1];
        if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
        else union.push([r[0], r[1]]);
      }
      ranges.splice(0, ranges.length, ...union);
      let k = 0;
      for (const iv of this.intervals) {
        while (k < ranges.length && ranges[k]![1] <= iv.from + EPS) k++;
        if (k < ranges.length && ranges[k]![0] <= iv.from + EPS && ranges[k]![1] >= iv.to - EPS) iv.det = 1;
      }
    }
    const w = this.law.classWeights;
    let newly = 0;
    for (const iv of this.intervals) {
      const length = iv.to - iv.from;
      for (let c = 0; c < this.classes; c++) {
        const now = this.law.lambda(iv.cell, c, to);
        const since = now - this.law.lambda(iv.cell, c, from);
        const written = 1 - (1 - iv.det) * Math.exp(-since);
        const sent = iv.sent[c]!;
        const sentWritten = this.manual
          ? 1 - (1 - iv.det) * Math.exp(-Math.max(0, now - iv.sentLambda[c]!))
          : written;
        const idle = Math.max(0, 1 - iv.orig[c]! - iv.dirty[c]! - sent);
        const added = idle * written + sent * sentWritten;
        iv.dirty[c] = iv.dirty[c]! + added;
        iv.sent[c] = 0;
        newly += added * w[c]! * length;
      }
    }
    this.merge();
    return newly;
  }

  /** Scale every pending probability by `factor` (the predictor matching a measured remaining). */
  scalePending(factor: number): void {
    for (const iv of this.intervals)
      for (let c = 0; c < this.classes; c++) {
        const pending = iv.orig[c]! + iv.dirty[c]!;
        if (pending <= 0) continue;
        const scaled = Math.min(1, pending * factor);
        iv.orig[c] = (iv.orig[c]! * scaled) / pending;
        iv.dirty[c] = (iv.dirty[c]! * scaled) / pending;
      }
  }

  /** Zero pages invalidate their cache slot; pages rewritten to zero leave the cache (XBZRLE). */
  cachedPages(): number {
    let sum = 0;
    const w = this.law.classWeights;
    for (const iv of this.intervals)
      for (let c = 0; c < this.classes; c++) sum += w[c]! * iv.cached[c]! * (iv.to - iv.from);
    return sum;
  }

  /** Join neighbours in the same cell whose states agree (within a small tolerance). */
  private merge(): void {
    const out: Interval[] = [];
    const close = (a: Float64Array, b: Float64Array, tol: number) => {
      for (let c = 0; c < a.length; c++) if (Math.abs(a[c]! - b[c]!) > tol) return false;
      return true;
    };
    for (const iv of this.intervals) {
      const last = out[out.length - 1];
      if (
        last &&
        last.cell === iv.cell &&
        Math.abs(last.to - iv.from) <= EPS &&
        close(last.orig, iv.orig, 1e-4) &&
        close(last.dirty, iv.dirty, 1e-4) &&
        close(last.cached, iv.cached, 1e-3) &&
        close(last.lastSendLambda, iv.lastSendLambda, 1e-3 * (1 + Math.abs(iv.lastSendLambda[0] ?? 0)))
      ) {
        const a = last.to - last.from;
        const b = iv.to - iv.from;
        for (let c = 0; c < this.classes; c++) {
          last.orig[c] = (last.orig[c]! * a + iv.orig[c]! * b) / (a + b);
          last.dirty[c] = (last.dirty[c]! * a + iv.dirty[c]! * b) / (a + b);
          last.cached[c] = (last.cached[c]! * a + iv.cached[c]! * b) / (a + b);
          last.lastSendLambda[c] = (last.lastSendLambda[c]! * a + iv.lastSendLambda[c]! * b) / (a + b);
        }
        last.to = iv.to;
      } else out.push(iv);
    }
    this.intervals = out;
  }
}
