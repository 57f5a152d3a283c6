/**
 * What a page costs on the wire, measured with the real encoder (src/wire PageEncoder and
 * xbzrleEncode) over a few hundred sample pages built as the run's backing builds them
 * (src/guest/memory.ts). Nothing here re-implements an encoding.
 * - stored: the fill's pages are windows of the scenario's own content pool (the same seeded
 *   pool the guest makes), the workload's writes copy its write windows to random aligned slots;
 * - generated: the page's content state (src/guest/page-states.ts) follows the fill and each
 *   write, and GeneratedMemory itself makes the bytes the encoder reads, from the pools the
 *   generated guest makes (random first, then text);
 * - metadata (fast mode): the content state after the writes, sized by the very table the
 *   counting link uses (src/link/metadata-sizes.ts).
 * So a sparse page (a zero page that took a few small writes) costs what that backing makes of
 * it: real bytes in stored memory, a saturating count of 8-byte units in the other two.
 *
 * A page's cost depends on what it started as (a fill page or a zero page) and how many writes
 * it has taken since: `entry(base, n)` on a grid of write counts, interpolated between them.
 * Zero pages cost their record header, not a page. XBZRLE deltas are measured the same way
 * against the page as it was before the last k writes.
 */
import { contentPool, fillPage, writeViews } from '../guest/content';
import { GeneratedMemory } from '../guest/generated-memory';
import { MetadataMemory } from '../guest/backings';
import type { Backing, GuestMemory } from '../guest/memory';
import { MAX_SPARSE_UNITS, SPARSE_RANDOM, SPARSE_UNIT_BYTES, type GuestSamples } from '../guest/page-states';
import type { ContentKind, GuestSpec } from '../guest/spec';
import { SparseMemory } from '../guest/sparse-memory';
import { encodedSizes } from '../link/metadata-sizes';
import { Rng } from '../util/rng';
import { emptyStats, PageEncoder } from '../wire/batch';
import {
  DEFAULT_BATCH_PAGES,
  Encoding,
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
  /** How the run holds its pages (default stored): the costs follow what that backing sends. */
  backing?: Backing;
  /** Fault switch for negative tests: cost a generated or metadata run's pages as stored ones. */
  ignoreBacking?: boolean;
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

/** Entry bytes and zero shares of a page of each base after each count of writes on the grid. */
interface CostTable {
  counts: number[];
  table: Record<PageBase, number[]>;
  zeros: Record<PageBase, number[]>;
  /** Relative standard deviation of the fill pages' mean entry. */
  fillSpread: number;
}

/**
 * The pools a generated guest makes: GeneratedMemory asks for the random pool, then the text
 * pool, before any workload registers its content (src/guest/backings.ts).
 */
export function generatedPools(seed: number): { random: Uint8Array; text: Uint8Array } {
  const rng = new Rng(seed);
  rng.fork(); // the fill's
  const contentRng = rng.fork();
  const random = contentPool('random', contentRng.fork());
  return { random, text: contentPool('text', contentRng.fork()) };
}

/** What a metadata guest samples its size table from (Guest.pageSamples): its text pool and write sizes. */
export function metadataSamples(spec: GuestSpec): GuestSamples {
  const writeSize = { random: SPARSE_UNIT_BYTES, text: SPARSE_UNIT_BYTES };
  const w = spec.workload;
  const writes = w.kind === 'phased' ? w.phases.map((p) => p.workload) : w.kind === 'incrementer' ? [] : [w];
  const registered = new Set<string>();
  for (const { content, writeSize: size } of writes) {
    const key = `${content}/${size}`;
    if (registered.has(key)) continue;
    registered.add(key);
    if (content !== 'zero' && size < PAGE_SIZE) writeSize[content] = size;
  }
  return { text: scenarioPools(spec).get('text'), writeSize };
}

/** Write counts for a state-based backing: every count until the page's state stops changing. */
function stateGrid(writeSize: number, incrementer: boolean): number[] {
  if (incrementer || writeSize >= PAGE_SIZE) return [0, 1];
  const units = Math.min(MAX_SPARSE_UNITS, Math.ceil(writeSize / SPARSE_UNIT_BYTES));
  return Array.from({ length: Math.ceil(MAX_SPARSE_UNITS / units) + 1 }, (_, n) => n);
}

/** Sample pages per state for the generated backing (as metadata-sizes.ts measures its table). */
const WHOLE_PAGE_SAMPLES = 32;
const SPARSE_SAMPLES = 6;

/**
 * Costs where the backing keeps a content state per page (generated, metadata). A probe page
 * takes the fill and the writes through PageStates, as the guest records them; the state it is
 * in after n writes is what the page costs: for metadata, the counting link's table entry; for
 * generated, the mean of pages in that state made by GeneratedMemory and encoded.
 */
function stateTable(
  spec: GuestSpec,
  backing: 'generated' | 'metadata',
  options: CostOptions,
  write: { kind: ContentKind; size: number },
): CostTable {
  const incrementer = spec.workload.kind === 'incrementer';
  const counts = stateGrid(write.size, incrementer);
  const rng = new Rng(options.sampleSeed ?? 0x5eed ^ spec.seed);
  const slots = PAGE_SIZE / write.size;
  /** Page `gfn` of `memory` takes the fill (when `fill`) and then n writes. */
  const replay = (memory: GuestMemory, gfn: number, fill: boolean, n: number) => {
    if (fill) memory.recordFill(gfn, spec.fill.content);
    for (let k = 0; k < n; k++)
      if (incrementer) memory.recordIncrement(gfn);
      else memory.recordWrite(gfn, rng.int(slots) * write.size, write.size, write.kind);
  };
  let sizeOf: (state: number, base: PageBase, n: number) => { bytes: number; zero: number; spread: number };
  if (backing === 'metadata') {
    const sizes = encodedSizes({ zero: options.zero, lz4: options.lz4 }, metadataSamples(spec));
    sizeOf = (state) => ({
      bytes: sizes.entryBytes[state]!,
      zero: sizes.encoding[state] === Encoding.ZERO ? 1 : 0,
      spread: 0,
    });
  } else {
    const pools = generatedPools(spec.seed);
    const encoder = new PageEncoder({ zero: options.zero, lz4: options.lz4 });
    sizeOf = (state, base, n) => {
      const k = state >= SPARSE_RANDOM ? SPARSE_SAMPLES : WHOLE_PAGE_SAMPLES;
      const memory = new GeneratedMemory(
        k,
        spec.seed,
        pools,
        incrementer ? { firstPage: 0, pages: k } : undefined,
      );
      const sizes: number[] = [];
      let zero = 0;
      for (let gfn = 0; gfn < k; gfn++) {
        replay(memory, gfn, base === 'fill', n);
        const stats = emptyStats();
        encoder.encode(0, [gfn], 0, 1, memory, stats);
        sizes.push(stats.bytesWire - HEADER_SIZE - PAGES_BODY_HEADER);
        zero += stats.zeroPages;
      }
      const mean = sizes.reduce((a, b) => a + b, 0) / k;
      const variance = sizes.reduce((v, x) => v + (x - mean) ** 2, 0) / k;
      return { bytes: mean, zero: zero / k, spread: mean > 0 ? Math.sqrt(variance / k) / mean : 0 };
    };
  }
  const measured = new Map<number, { bytes: number; zero: number; spread: number }>();
  const table = { zero: [] as number[], fill: [] as number[] };
  const zeros = { zero: [] as number[], fill: [] as number[] };
  let fillSpread = 0;
  for (const base of ['zero', 'fill'] as PageBase[]) {
    const probe = new MetadataMemory(1);
    let made = 0;
    replay(probe, 0, base === 'fill', 0);
    for (const n of counts) {
      replay(probe, 0, false, n - made);
      made = n;
      const state = probe.states.states[0]!;
      // A page costs its state's size (the incrementer's counter value aside).
      let e = measured.get(state);
      if (!e) measured.set(state, (e = sizeOf(state, base, n)));
      const zero = options.zeroPagesAsData && e.zero > 0;
      table[base].push(zero ? e.zero * (PAGE_ENTRY_HEADER + PAGE_SIZE) + (1 - e.zero) * e.bytes : e.bytes);
      zeros[base].push(zero ? 0 : e.zero);
      if (base === 'fill' && n === 0) fillSpread = e.spread;
    }
  }
  return { counts, table, zeros, fillSpread };
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

  const page = new Uint8Array(PAGE_SIZE);
  /** The stored backing: sample pages built byte for byte as the guest writes them. */
  const storedTable = (): CostTable => {
    const counts = grid(writeSize, incrementer);
    const table = { zero: [] as number[], fill: [] as number[] };
    const zeros = { zero: [] as number[], fill: [] as number[] };
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
    return { counts, table, zeros, fillSpread };
  };
  const stateBacking =
    options.backing !== undefined && options.backing !== 'stored' && !options.ignoreBacking
      ? options.backing
      : undefined;
  const { counts, table, zeros, fillSpread } = stateBacking
    ? stateTable(spec, stateBacking, options, { kind: writeKind, size: writeSize })
    : storedTable();

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
