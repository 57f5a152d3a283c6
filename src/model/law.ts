/**
 * A workload's write law, as the model needs it: which pages each write can land on, and how
 * many writes have been made after so much vCPU run time. It reads the same parsed spec the
 * guest builds its generators from (src/guest/workloads), and follows the same rules:
 *
 * - rates are the whole guest's, shared evenly by the vCPUs (the incrementer and replay run on
 *   vCPU 0 alone); writes follow each vCPU's run time, so all writing vCPUs share one run clock;
 * - random workloads (idle, uniform, hotcold) pick pages uniformly in their region, hotcold
 *   `hotShare` of them in its hot set and the rest anywhere: per page, the writes are a Poisson
 *   process whose mean after run time r is Λ(r) = Σ_source share × writes(r);
 * - sweeping workloads (sequential, incrementer) and replay are deterministic: the pages written
 *   between two run times are ranges, found exactly (`DetSource`);
 * - phased schedules run in run time and may loop; each phase's generators only advance while
 *   their phase emits.
 *
 * Memory is cut into cells (GFN ranges between region boundaries). A scattered hot set is a
 * seeded random subset of all memory, so it is a "layer": every cell holds a fraction of its
 * pages in it. A page class is one combination of layer memberships; its weight is the share of
 * a cell's pages in that class.
 */
import type { BasicWorkload, GuestSpec, WorkloadSpec } from '../guest/spec';
import { loadTrace, type ReplayTrace } from '../guest/trace';
import { PAGE_SIZE } from '../util/units';

/** Cumulative writes (all writing vCPUs together) after `r` ms of run time. */
export type Cumulative = (r: number) => number;

/** A random source: its writes land uniformly on the pages its `share` gives a weight. */
interface RandomSource {
  writes: Cumulative;
  /** Probability that one write lands on a given page of (cell, class). */
  share: (cell: Cell, cls: number) => number;
}

/** A GFN range [from, to) written in some run-time interval. */
export type Range = [number, number];

/** A deterministic source: the exact ranges written between two run times, and write counts. */
export interface DetSource {
  readonly from: number;
  readonly to: number;
  /** Ranges written in (r1, r2], ascending and disjoint. */
  written(r1: number, r2: number): Range[];
  /** Writes to the pages of [a, b) made by run time r: the share of pages written at least once, and their mean count. */
  passes(a: number, b: number, r: number): { touched: number; mean: number };
  /** Distinct pages written in (r1, r2] (the length of `written`). */
  distinct(r1: number, r2: number): number;
  /** The incrementer: its writes are `incb` on byte 0 (a zero page comes back to zero every 256 passes). */
  readonly incrementer: boolean;
}

export interface Cell {
  from: number;
  to: number;
}

export interface WorkloadLaw {
  pages: number;
  cells: Cell[];
  /** Fractions of a cell's pages in each class (sum 1). */
  classWeights: Float64Array;
  /** Λ of (cell, class) after run time r: mean writes per page from the random sources. */
  lambda(cell: number, cls: number, r: number): number;
  /** dΛ/dr of (cell, class) at run time r (per run-ms). */
  intensity(cell: number, cls: number, r: number): number;
  det: DetSource[];
  /** vCPUs that write (all, or only vCPU 0). */
  writers: number;
  /** Content and size of the workload's writes (the incrementer's are its own). */
  writeContent: 'random' | 'text' | 'zero';
  writeSize: number;
  /** Total page writes after run time r (for the guest's own write count). */
  totalWrites: Cumulative;
  /** True when no source ever writes (idle at rate 0, an empty trace...). */
  quiet: boolean;
}

const perMs = (rate: number) => rate / PAGE_SIZE / 1000;

/** Cumulative writes of phase `index` of a phased schedule (per vCPU × vcpus = whole guest). */
function phaseWrites(
  phases: { duration: number; rate: number }[],
  repeat: boolean,
  index: number,
): Cumulative {
  const starts = [0];
  const startWrites = [0];
  for (const p of phases) {
    starts.push(starts[starts.length - 1]! + p.duration);
    startWrites.push(startWrites[startWrites.length - 1]! + perMs(p.rate) * p.duration);
  }
  const cycle = starts[phases.length]!;
  const own = perMs(phases[index]!.rate) * phases[index]!.duration;
  return (r) => {
    const cycles = repeat ? Math.floor(r / cycle) : 0;
    const t = Math.min(r - cycles * cycle, cycle);
    const inPhase = Math.min(Math.max(t - starts[index]!, 0), phases[index]!.duration);
    return cycles * own + perMs(phases[index]!.rate) * inPhase;
  };
}

/** A sweep over `slices` equal slices of [first, first + pages): slice cursors advance together. */
class SweepSource implements DetSource {
  private readonly firsts: number[] = [];
  private readonly counts: number[] = [];
  readonly from: number;
  readonly to: number;

  constructor(
    first: number,
    pages: number,
    slices: number,
    /** Writes of each slice after run time r. */
    private readonly perSlice: Cumulative,
    readonly incrementer: boolean,
  ) {
    for (let v = 0; v < slices; v++) {
      const start = Math.floor((pages * v) / slices);
      this.firsts.push(first + start);
      this.counts.push(Math.floor((pages * (v + 1)) / slices) - start);
    }
    this.from = first;
    this.to = first + pages;
  }

  written(r1: number, r2: number): Range[] {
    const w1 = Math.floor(this.perSlice(r1));
    const w2 = Math.floor(this.perSlice(r2));
    if (w2 <= w1) return [];
    const out: Range[] = [];
    for (let v = 0; v < this.firsts.length; v++) {
      const first = this.firsts[v]!;
      const count = this.counts[v]!;
      if (w2 - w1 >= count) {
        out.push([first, first + count]);
        continue;
      }
      const p1 = w1 % count;
      const p2 = w2 % count;
      if (p1 < p2) out.push([first + p1, first + p2]);
      else {
        if (p2 > 0) out.push([first, first + p2]);
        out.push([first + p1, first + count]);
      }
    }
    return out;
  }

  distinct(r1: number, r2: number): number {
    const n = Math.floor(this.perSlice(r2)) - Math.floor(this.perSlice(r1));
    let sum = 0;
    for (const count of this.counts) sum += Math.min(count, Math.max(0, n));
    return sum;
  }

  passes(a: number, b: number, r: number): { touched: number; mean: number } {
    const w = Math.floor(this.perSlice(r));
    let pages = 0;
    let touched = 0;
    let writes = 0;
    for (let v = 0; v < this.firsts.length; v++) {
      const first = this.firsts[v]!;
      const count = this.counts[v]!;
      const lo = Math.max(a, first);
      const hi = Math.min(b, first + count);
      if (hi <= lo) continue;
      pages += hi - lo;
      // Page at slice position x has been written ceil((w - x) / count) times when w > x.
      const full = Math.floor(w / count);
      const rest = w - full * count;
      const x0 = lo - first;
      const x1 = hi - first;
      const extra = Math.max(0, Math.min(x1, rest) - x0); // positions below `rest` got one more pass
      writes += full * (x1 - x0) + extra;
      touched += full > 0 ? x1 - x0 : extra;
    }
    if (pages === 0) return { touched: 0, mean: 0 };
    return { touched: touched / pages, mean: touched > 0 ? writes / touched : 0 };
  }
}

/** Replay: a trace's records cut into elementary ranges, each with the run times it is written at. */
class ReplaySource implements DetSource {
  readonly incrementer = false;
  readonly from: number;
  readonly to: number;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** Per elementary range: the times (within one period) it is written at, ascending. */
  private readonly times: number[][] = [];

  constructor(
    trace: ReplayTrace,
    private readonly period: number | undefined,
  ) {
    const bounds = new Set<number>();
    for (let i = 0; i < trace.times.length; i++) {
      bounds.add(trace.first[i]!);
      bounds.add(trace.first[i]! + trace.count[i]!);
    }
    const sorted = [...bounds].sort((x, y) => x - y);
    const index = new Map(sorted.map((b, i) => [b, i]));
    const hits: number[][] = sorted.map(() => []);
    for (let i = 0; i < trace.times.length; i++) {
      const lo = index.get(trace.first[i]!)!;
      const hi = index.get(trace.first[i]! + trace.count[i]!)!;
      for (let k = lo; k < hi; k++) hits[k]!.push(trace.times[i]!);
    }
    for (let k = 0; k + 1 < sorted.length; k++) {
      if (hits[k]!.length === 0) continue;
      this.starts.push(sorted[k]!);
      this.ends.push(sorted[k + 1]!);
      this.times.push(hits[k]!);
    }
    this.from = this.starts[0] ?? 0;
    this.to = this.ends[this.ends.length - 1] ?? 0;
  }

  /** Writes of range k made by run time r (the record at time t is owed once r ≥ t). */
  private count(k: number, r: number): number {
    const times = this.times[k]!;
    const p = this.period;
    const cycles = p === undefined ? 0 : Math.floor(r / p);
    const t = p === undefined ? r : r - cycles * p;
    let n = 0;
    while (n < times.length && times[n]! <= t) n++;
    return cycles * times.length + n;
  }

  written(r1: number, r2: number): Range[] {
    const out: Range[] = [];
    for (let k = 0; k < this.starts.length; k++) {
      if (this.count(k, r2) <= this.count(k, r1)) continue;
      const last = out[out.length - 1];
      if (last && last[1] === this.starts[k]) last[1] = this.ends[k]!;
      else out.push([this.starts[k]!, this.ends[k]!]);
    }
    return out;
  }

  distinct(r1: number, r2: number): number {
    let sum = 0;
    for (const [a, b] of this.written(r1, r2)) sum += b - a;
    return sum;
  }

  passes(a: number, b: number, r: number): { touched: number; mean: number } {
    let touched = 0;
    let writes = 0;
    for (let k = 0; k < this.starts.length; k++) {
      const lo = Math.max(a, this.starts[k]!);
      const hi = Math.min(b, this.ends[k]!);
      if (hi <= lo) continue;
      const n = this.count(k, r);
      if (n > 0) {
        touched += hi - lo;
        writes += n * (hi - lo);
      }
    }
    const span = b - a;
    return { touched: span > 0 ? touched / span : 0, mean: touched > 0 ? writes / touched : 0 };
  }
}

/** What one basic workload (alone or as a phase) contributes, given its cumulative writes. */
function addBasic(
  w: BasicWorkload,
  writes: Cumulative,
  memoryPages: number,
  vcpus: number,
  random: RandomSource[],
  det: DetSource[],
  layers: number[],
  bounds: Set<number>,
): void {
  switch (w.kind) {
    case 'idle':
      random.push({ writes, share: () => 1 / memoryPages });
      return;
    case 'uniform': {
      const from = w.offset / PAGE_SIZE;
      const to = from + w.size / PAGE_SIZE;
      bounds.add(from).add(to);
      random.push({ writes, share: (cell) => (cell.from >= from && cell.to <= to ? 1 / (to - from) : 0) });
      return;
    }
    case 'hotcold': {
      const hot = w.hot / PAGE_SIZE;
      const cold = (1 - w.hotShare) / memoryPages;
      const hotShare = w.hotShare / hot;
      if (w.layout === 'contiguous') {
        const from = w.offset / PAGE_SIZE;
        bounds.add(from).add(from + hot);
        random.push({
          writes,
          share: (cell) => cold + (cell.from >= from && cell.to <= from + hot ? hotShare : 0),
        });
      } else {
        const layer = layers.length;
        layers.push(hot / memoryPages);
        random.push({ writes, share: (_cell, cls) => cold + ((cls >> layer) & 1 ? hotShare : 0) });
      }
      return;
    }
    case 'sequential': {
      const from = w.offset / PAGE_SIZE;
      const pages = w.size / PAGE_SIZE;
      bounds.add(from).add(from + pages);
      det.push(new SweepSource(from, pages, vcpus, (r) => writes(r) / vcpus, false));
      return;
    }
  }
}

/** Scattered hot sets beyond this many are folded into one (2^layers page classes). */
const MAX_LAYERS = 6;

/** The write law of a guest spec's workload. */
export function workloadLaw(spec: GuestSpec): WorkloadLaw {
  const pages = spec.memory / PAGE_SIZE;
  const vcpus = spec.vcpus;
  const random: RandomSource[] = [];
  const det: DetSource[] = [];
  const layers: number[] = [];
  const bounds = new Set<number>([0, pages]);
  const w: WorkloadSpec = spec.workload;
  let writers = vcpus;
  let writeContent: 'random' | 'text' | 'zero' = 'random';
  let writeSize = 8;
  let totalWrites: Cumulative;
  switch (w.kind) {
    case 'incrementer': {
      writers = 1;
      const from = w.offset / PAGE_SIZE;
      const count = w.size / PAGE_SIZE;
      bounds.add(from).add(from + count);
      totalWrites = (r) => perMs(w.rate) * r;
      det.push(new SweepSource(from, count, 1, totalWrites, true));
      writeSize = 1;
      break;
    }
    case 'replay': {
      writers = 1;
      const trace = loadTrace(w, pages);
      const source = new ReplaySource(trace, w.period);
      for (let k = 0; k < trace.times.length; k++)
        bounds.add(trace.first[k]!).add(trace.first[k]! + trace.count[k]!);
      det.push(source);
      const total = trace.writes[trace.times.length]!;
      totalWrites = (r) => {
        const p = w.period;
        const cycles = p === undefined ? 0 : Math.floor(r / p);
        const t = p === undefined ? r : r - cycles * p;
        let n = 0;
        while (n < trace.times.length && trace.times[n]! <= t) n++;
        return cycles * total + trace.writes[n]!;
      };
      writeContent = w.content;
      writeSize = w.writeSize;
      break;
    }
    case 'phased': {
      const phases = w.phases.map((p) => ({ duration: p.duration, rate: p.workload.rate }));
      const parts = w.phases.map((p, i) => {
        const writes = phaseWrites(phases, w.repeat, i);
        addBasic(p.workload, writes, pages, vcpus, random, det, layers, bounds);
        return writes;
      });
      totalWrites = (r) => parts.reduce((sum, f) => sum + f(r), 0);
      const first = w.phases.find((p) => p.workload.rate > 0)?.workload ?? w.phases[0]!.workload;
      writeContent = first.content;
      writeSize = first.writeSize;
      break;
    }
    default: {
      totalWrites = (r) => perMs(w.rate) * r;
      addBasic(w, totalWrites, pages, vcpus, random, det, layers, bounds);
      writeContent = w.content;
      writeSize = w.writeSize;
    }
  }
  // Fold extra scattered layers into the last kept one (an approximation past MAX_LAYERS).
  if (layers.length > MAX_LAYERS) layers.splice(MAX_LAYERS, layers.length - MAX_LAYERS);
  const classes = 1 << layers.length;
  const classWeights = new Float64Array(classes);
  for (let c = 0; c < classes; c++) {
    let weight = 1;
    layers.forEach((f, j) => (weight *= (c >> j) & 1 ? f : 1 - f));
    classWeights[c] = weight;
  }
  const sorted = [...bounds].filter((b) => b >= 0 && b <= pages).sort((a, b) => a - b);
  const cells: Cell[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) cells.push({ from: sorted[i]!, to: sorted[i + 1]! });
  // shares[cell][class][source]
  const shares = cells.map((cell) =>
    Array.from({ length: classes }, (_, c) => random.map((s) => s.share(cell, Math.min(c, classes - 1)))),
  );
  const lambda = (cell: number, cls: number, r: number) => {
    const row = shares[cell]![cls]!;
    let sum = 0;
    for (let s = 0; s < random.length; s++) if (row[s]! > 0) sum += row[s]! * random[s]!.writes(r);
    return sum;
  };
  const intensity = (cell: number, cls: number, r: number) => {
    const h = 0.5;
    return (lambda(cell, cls, r + h) - lambda(cell, cls, Math.max(0, r - h))) / (r + h - Math.max(0, r - h));
  };
  const quiet = totalWrites(1e9) === 0;
  return {
    pages,
    cells,
    classWeights,
    lambda,
    intensity,
    det,
    writers,
    writeContent,
    writeSize,
    totalWrites,
    quiet,
  };
}
