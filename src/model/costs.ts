/**
 * What a page costs on the wire, measured with the real encoder (src/wire PageEncoder and
 * xbzrleEncode) over a few hundred sample pages built as the guest builds them: the fill's
 * pages are windows of the scenario's own content pool (the same seeded pool the guest makes),
 * the workload's writes copy its write windows to random aligned slots. Nothing here
 * re-implements an encoding.
 *
 * A page's cost depends on what it started as (a fill page or a zero page) and how many writes
 * it has taken since: `entry(base, n)` on a grid of write counts, interpolated between them.
 * Zero pages cost their record header, not a page. XBZRLE deltas are measured the same way
 * against the page as it was before the last k writes.
 */
import { contentPool, fillPage, writeViews } from '../guest/content';
import type { ContentKind, GuestSpec } from '../guest/spec';
import { SparseMemory } from '../guest/sparse-memory';
import { Rng } from '../util/rng';
import { emptyStats, PageEncoder } from '../wire/batch';
import {
  DEFAULT_BATCH_PAGES,
  HEADER_SIZE,
  PAGE_ENTRY_HEADER,
  PAGES_BODY_HEADER,
  PAGE_SIZE,
} from '../wire/constants';
import { XBZRLE_OVERFLOW, xbzrleEncode } from '../wire/xbzrle';

export type PageBase = 'zero' | 'fill';

export interface CostOptions {
  zero: boolean;
  lz4: boolean;
  xbzrle: boolean;
  /** Sample pages per grid point (the fill's own pages get four times as many). */
  samples?: number;
  /** Seed of the sampling (which windows and slots); the pools come from the scenario's seed. */
  sampleSeed?: number;
  /** Fault switch for negative tests: zero pages cost a whole page, as the textbook model assumes. */
  zeroPagesAsData?: boolean;
}

export interface PageCosts {
  /** Frame header bytes per page (a PAGES frame per DEFAULT_BATCH_PAGES pages). */
  readonly framePerPage: number;
  /** Entry bytes of a page of `base` after `n` writes (n may be fractional: interpolated). */
  entry(base: PageBase, n: number): number;
  /** Probability the page goes out as a zero page. */
  zeroShare(base: PageBase, n: number): number;
  /** Mean entry over n ~ Poisson(mu) + shift (n ≥ 1 when `atLeastOne`). */
  expected(base: PageBase, mu: number, shift: number, atLeastOne: boolean): { bytes: number; zero: number };
  /** XBZRLE delta bytes after k writes since the cached copy (null: overflow, the page goes whole). */
  delta(k: number): number | null;
  /** The spread of the fill pages' entries (relative standard deviation of their mean). */
  readonly fillSpread: number;
  readonly fillKind: ContentKind;
  readonly incrementer: boolean;
}

/**
 * The guest's content pools come from its seed in a fixed order (src/guest/guest.ts): the seed's
 * generator forks once for the fill and once for the content table, whose pools fork in the
 * order the workload's generators register their kinds, the fill's kind last.
 */
export function scenarioPools(spec: GuestSpec): Map<ContentKind, Uint8Array> {
  const rng = new Rng(spec.seed);
  rng.fork(); // the fill's
  const contentRng = rng.fork();
  const order: ContentKind[] = [];
  const w = spec.workload;
  if (w.kind === 'phased') for (const p of w.phases) order.push(p.workload.content);
  else if (w.kind !== 'incrementer') order.push(w.content);
  order.push(spec.fill.content);
  const pools = new Map<ContentKind, Uint8Array>();
  for (const kind of order) if (!pools.has(kind)) pools.set(kind, contentPool(kind, contentRng.fork()));
  return pools;
}

/** Write counts the entry sizes are measured at; beyond the last one a page is saturated. */
function grid(writeSize: number, incrementer: boolean): number[] {
  if (incrementer) return [0, 1];
  // Four writes per slot cover all but 2 % of a page's slots: past that a page no longer changes.
  const saturate = Math.max(2, Math.ceil((4 * PAGE_SIZE) / writeSize));
  const out = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48];
  for (let n = 64; n < saturate; n *= 2) out.push(n);
  out.push(saturate);
  return [...new Set(out.filter((n) => n <= saturate))].sort((a, b) => a - b);
}

/** Poisson means past this are costed at their mean (the cost curve is flat there). */
const MAX_SUMMED_MU = 40;
/** The tabulated range of means starts here (below it a page has almost surely taken no write). */
const MIN_MU = 1e-4;
const MU_STEPS = 256;
const muAt = (i: number) => MIN_MU * Math.pow(MAX_SUMMED_MU / MIN_MU, i / MU_STEPS);

export function measureCosts(spec: GuestSpec, options: CostOptions): PageCosts {
  const samples = options.samples ?? 6;
  const rng = new Rng(options.sampleSeed ?? 0x5eed ^ spec.seed);
  const pools = scenarioPools(spec);
  const w = spec.workload;
  const incrementer = w.kind === 'incrementer';
  const writeKind: ContentKind =
    w.kind === 'phased'
      ? (w.phases.find((p) => p.workload.rate > 0)?.workload ?? w.phases[0]!.workload).content
      : w.kind === 'incrementer'
        ? 'random'
        : w.content;
  const writeSize =
    w.kind === 'phased'
      ? (w.phases.find((p) => p.workload.rate > 0)?.workload ?? w.phases[0]!.workload).writeSize
      : w.kind === 'incrementer'
        ? 1
        : w.writeSize;
  const fillKind = spec.fill.content;
  const fillPool = pools.get(fillKind)!;
  const views = incrementer ? [] : writeViews(pools.get(writeKind)!, writeSize);
  const slotMask = PAGE_SIZE / Math.max(writeSize, 1) - 1;
  const encoder = new PageEncoder({ zero: options.zero, lz4: options.lz4 });
  const memory = new SparseMemory(1);
  const gfns = [0];

  /** Build a sample page of `base` that took `n` writes. */
  const build = (out: Uint8Array, base: PageBase, n: number): Uint8Array => {
    out.fill(0);
    if (base === 'fill') fillPage(out, fillPool, fillKind, rng.int(1 << 20), rng);
    if (incrementer) {
      out[0] = n & 0xff;
      return out;
    }
    for (let i = 0; i < n; i++) write(out);
    return out;
  };
  const write = (out: Uint8Array) => {
    const draw = rng.u32();
    out.set(views[(draw >>> 10) & (views.length - 1)]!, (draw & slotMask) * writeSize);
  };
  const encode = (page: Uint8Array): { bytes: number; zero: boolean } => {
    memory.writable(0).set(page);
    const stats = emptyStats();
    encoder.encode(0, gfns, 0, 1, memory, stats);
    if (options.zeroPagesAsData && stats.zeroPages > 0)
      return { bytes: PAGE_ENTRY_HEADER + PAGE_SIZE, zero: false };
    return { bytes: stats.bytesWire - HEADER_SIZE - PAGES_BODY_HEADER, zero: stats.zeroPages > 0 };
  };

  const counts = grid(writeSize, incrementer);
  const table = { zero: [] as number[], fill: [] as number[] };
  const zeros = { zero: [] as number[], fill: [] as number[] };
  const page = new Uint8Array(PAGE_SIZE);
  let fillSpread = 0;
  for (const base of ['zero', 'fill'] as PageBase[]) {
    const sums = new Float64Array(counts.length);
    const zeroCounts = new Float64Array(counts.length);
    // Each sample page takes its writes one grid step at a time, encoded at every step.
    for (let i = 0; i < samples; i++) {
      build(page, base, 0);
      let made = 0;
      counts.forEach((n, g) => {
        if (incrementer) page[0] = n & 0xff;
        else for (; made < n; made++) write(page);
        const e = encode(page);
        sums[g]! += e.bytes;
        if (e.zero) zeroCounts[g]!++;
      });
    }
    counts.forEach((_, g) => {
      table[base].push(sums[g]! / samples);
      zeros[base].push(zeroCounts[g]! / samples);
    });
  }
  // The fill's own pages vary most from page to page: more of them, and their spread.
  if (spec.fill.content !== 'zero') {
    const k = samples * 4;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < k; i++) {
      const bytes = encode(build(page, 'fill', 0)).bytes;
      sum += bytes;
      sumSq += bytes * bytes;
    }
    const mean = sum / k;
    table.fill[0] = mean;
    fillSpread = mean > 0 ? Math.sqrt(Math.max(0, sumSq / k - mean * mean) / k) / mean : 0;
  }

  const at = (values: number[], n: number): number => {
    if (incrementer) {
      const passes = Math.round(n);
      return passes > 0 && passes % 256 !== 0 ? values[1]! : values[0]!;
    }
    if (n <= 0) return values[0]!;
    const last = counts.length - 1;
    if (n >= counts[last]!) return values[last]!;
    let i = 1;
    while (counts[i]! < n) i++;
    const lo = counts[i - 1]!;
    const hi = counts[i]!;
    return values[i - 1]! + ((values[i]! - values[i - 1]!) * (n - lo)) / (hi - lo);
  };

  // XBZRLE: delta sizes after k writes onto a page (zero or fill, as the fill says most pages are).
  const deltaCounts = incrementer
    ? [1]
    : [1, 2, 4, 8, 16, 32, 64, 128, 256, 512].filter((k) => k * writeSize <= 2 * PAGE_SIZE);
  const deltas: (number | null)[] = [];
  if (options.xbzrle) {
    const old = new Uint8Array(PAGE_SIZE);
    const out = new Uint8Array(PAGE_SIZE * 2);
    for (const k of deltaCounts) {
      let sum = 0;
      let overflow = 0;
      for (let i = 0; i < samples; i++) {
        build(old, spec.fill.populated > 0 ? 'fill' : 'zero', 1);
        page.set(old);
        if (incrementer) page[0] = (page[0]! + 1) & 0xff;
        else for (let j = 0; j < k; j++) write(page);
        const length = xbzrleEncode(old, page, out, 0, PAGE_SIZE - 1);
        if (length === XBZRLE_OVERFLOW) overflow++;
        else sum += length;
      }
      deltas.push(overflow * 2 > samples ? null : sum / Math.max(1, samples - overflow) + 7);
    }
  }

  /** E[entry] over n ~ Poisson(mu) (+ shift), summed term by term. */
  const sum = (base: PageBase, mu: number, shift: number, atLeastOne: boolean) => {
    const values = table[base];
    const zs = zeros[base];
    if (mu <= 0) {
      const n = shift + (atLeastOne ? 1 : 0);
      return { bytes: at(values, n), zero: at(zs, n) };
    }
    if (mu > MAX_SUMMED_MU || incrementer) {
      const mean = shift + (atLeastOne ? mu / -Math.expm1(-mu) : mu);
      return { bytes: at(values, mean), zero: at(zs, mean) };
    }
    let bytes = 0;
    let zero = 0;
    let total = 0;
    const top = Math.ceil(mu + 8 * Math.sqrt(mu) + 8);
    // A running Poisson term: p(n) = p(n − 1) · mu / n.
    let p = Math.exp(-mu);
    for (let n = 0; n <= top; n++) {
      if (n > 0) p *= mu / n;
      if (n === 0 && atLeastOne) continue;
      bytes += p * at(values, n + shift);
      zero += p * at(zs, n + shift);
      total += p;
    }
    return { bytes: bytes / total, zero: zero / total };
  };

  // Without a shift (the common case) the sums are tabulated over log mu and interpolated.
  const tables = new Map<string, { bytes: Float64Array; zero: Float64Array }>();
  const tabulated = (base: PageBase, atLeastOne: boolean) => {
    const key = `${base}/${atLeastOne}`;
    let t = tables.get(key);
    if (!t) {
      t = { bytes: new Float64Array(MU_STEPS + 1), zero: new Float64Array(MU_STEPS + 1) };
      for (let i = 0; i <= MU_STEPS; i++) {
        const e = sum(base, muAt(i), 0, atLeastOne);
        t.bytes[i] = e.bytes;
        t.zero[i] = e.zero;
      }
      tables.set(key, t);
    }
    return t;
  };
  const expected = (base: PageBase, mu: number, shift: number, atLeastOne: boolean) => {
    if (shift !== 0 || mu <= MIN_MU || mu >= MAX_SUMMED_MU || incrementer)
      return sum(base, mu, shift, atLeastOne);
    const t = tabulated(base, atLeastOne);
    const x = (Math.log(mu / MIN_MU) / Math.log(MAX_SUMMED_MU / MIN_MU)) * MU_STEPS;
    const i = Math.min(MU_STEPS - 1, Math.floor(x));
    const f = x - i;
    return {
      bytes: t.bytes[i]! + (t.bytes[i + 1]! - t.bytes[i]!) * f,
      zero: t.zero[i]! + (t.zero[i + 1]! - t.zero[i]!) * f,
    };
  };

  return {
    framePerPage: (HEADER_SIZE + PAGES_BODY_HEADER) / DEFAULT_BATCH_PAGES,
    entry: (base, n) => at(table[base], n),
    zeroShare: (base, n) => at(zeros[base], n),
    expected,
    delta: (k) => {
      if (!options.xbzrle || deltas.length === 0) return null;
      let i = 0;
      while (i < deltaCounts.length - 1 && deltaCounts[i]! < k) i++;
      if (deltaCounts[i]! < k) return null; // beyond the measured range: the page has changed too much
      return deltas[i] ?? null;
    },
    fillSpread,
    fillKind,
    incrementer,
  };
}
