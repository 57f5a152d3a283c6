/**
 * Expanding a sweep into runs. Each run has a stable id: a hash of its scenario, seed and mode,
 * so the same run gets the same id on every machine and every rerun (the results file and the
 * job queue both key on it). `point` is the same hash without the seed: it groups seeds.
 */
import { createHash } from 'node:crypto';
import { seedsOf, type SweepSpec } from './spec';

export type SweepMode = 'full' | 'fast';

export interface SweepRun {
  /** hash(scenario, seed, mode): the results file's and the queue's key. */
  id: string;
  /** hash(scenario, mode): the same for every seed of one point. */
  point: string;
  /** The swept values of this point, by field path, in axis order. */
  coords: Record<string, unknown>;
  scenario: Record<string, unknown>;
  seed: number;
  mode: SweepMode;
}

/** JSON with object keys sorted at every level: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

export function stableHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** A copy of `obj` with the dotted `path` set to `value`; intermediate objects are created. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const [head, ...rest] = path.split('.');
  const key = head!;
  if (rest.length === 0) return { ...obj, [key]: value };
  const inner = obj[key];
  if (inner !== undefined && (inner === null || typeof inner !== 'object' || Array.isArray(inner)))
    throw new RangeError(`sweep: cannot set ${path}: ${key} is not an object in the base scenario`);
  return { ...obj, [key]: setPath((inner as Record<string, unknown>) ?? {}, rest.join('.'), value) };
}

/** The value at a dotted path, or undefined. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Every combination of the grid's axes, first axis slowest. */
function gridCombinations(grid: Record<string, unknown[]>): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const [path, values] of Object.entries(grid))
    combos = combos.flatMap((c) => values.map((v) => ({ ...c, [path]: v })));
  return combos;
}

/** All runs of a sweep, in a stable order: list entry, then grid combination, then seed. */
export function expandSweep(spec: SweepSpec, mode: SweepMode = spec.mode): SweepRun[] {
  const runs: SweepRun[] = [];
  const seeds = seedsOf(spec);
  const seen = new Set<string>();
  for (const entry of spec.list ?? [{}]) {
    for (const combo of gridCombinations(spec.grid)) {
      const coords = { ...entry, ...combo };
      let scenario = spec.base;
      for (const [path, value] of Object.entries(coords)) scenario = setPath(scenario, path, value);
      const point = stableHash({ scenario, mode });
      for (const seed of seeds) {
        const id = stableHash({ scenario, seed, mode });
        // A list entry that repeats a grid point is one run, not two.
        if (seen.has(id)) continue;
        seen.add(id);
        runs.push({ id, point, coords, scenario, seed, mode });
      }
    }
  }
  return runs;
}
