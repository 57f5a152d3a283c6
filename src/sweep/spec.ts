/**
 * A sweep: one base scenario and the fields to vary. `grid` takes the cartesian product of its
 * axes; `list` names explicit override sets (each crossed with the grid); every point runs once
 * per seed. Field paths are dotted scenario paths with QEMU's names, e.g. "guest.workload.rate"
 * or "migration.downtime-limit", so a sweep varies anything a scenario file can set.
 *
 *   { "base": {...scenario...}, "grid": {"guest.workload.rate": ["100MiB/s", "200MiB/s"]},
 *     "seeds": 3 }
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../config/error';

/** A dotted path of scenario keys: no empty segments, no prototype tricks. */
const fieldPath = z
  .string()
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
    error: 'must be a dotted field path like guest.workload.rate',
  })
  .refine((p) => !p.split('.').some((s) => s === '__proto__' || s === 'constructor' || s === 'prototype'), {
    error: 'must not name __proto__, constructor or prototype',
  });

const MAX_POINTS = 1_000_000;

export const sweepSpecSchema = z
  .object({
    /** Names the sweep in reports and the default queue name. */
    name: z.string().min(1).max(100).default('sweep'),
    /** The scenario every point starts from (validated per point by the engine). */
    base: z
      .record(z.string(), z.unknown(), { error: 'must be a scenario object {guest, migration, run}' })
      .default({}),
    /** Axes: each field path takes every value in its list (cartesian product). */
    grid: z
      .record(fieldPath, z.array(z.unknown()).min(1, { error: 'an axis needs at least one value' }))
      .default({}),
    /** Explicit points: each is a set of field overrides, crossed with the grid. */
    list: z.array(z.record(fieldPath, z.unknown())).min(1, { error: 'needs at least one entry' }).optional(),
    /** Seeds per point: a count n (seeds 1..n) or the exact list. */
    seeds: z
      .union([
        z.number().int().min(1, { error: 'must be an integer in [1, 10000]' }).max(10_000),
        z
          .array(
            z
              .number()
              .int()
              .min(0)
              .max(2 ** 31 - 1),
          )
          .min(1),
      ])
      .default(1),
    /**
     * full (default): pages with contents, sent and verified. fast: metadata only (page content
     * states, wire sizes counted; virtual clock, inproc link, no xbzrle; nothing verified): the
     * same round statistics where sizes are exact, estimates for lz4 on text-like pages (README).
     */
    mode: z.enum(['full', 'fast'], { error: 'must be full or fast' }).default('full'),
  })
  .strict()
  .refine((s) => pointCount(s) <= MAX_POINTS, { error: `expands to more than ${MAX_POINTS} runs` });

export type SweepSpec = z.output<typeof sweepSpecSchema>;

function pointCount(s: {
  grid: Record<string, unknown[]>;
  list?: unknown[];
  seeds: number | number[];
}): number {
  const seeds = typeof s.seeds === 'number' ? s.seeds : s.seeds.length;
  const grid = Object.values(s.grid).reduce((n, axis) => n * axis.length, 1);
  return grid * (s.list?.length ?? 1) * seeds;
}

/** The seeds every point runs with. */
export function seedsOf(spec: SweepSpec): number[] {
  return typeof spec.seeds === 'number' ? Array.from({ length: spec.seeds }, (_, i) => i + 1) : spec.seeds;
}

/** A bad sweep spec: the one config error (field paths, excerpts), under the sweep's own name. */
export class SweepSpecError extends ConfigError {
  constructor(issues: ConfigIssue[], heading = 'bad sweep spec') {
    super(issues, heading);
    this.name = 'SweepSpecError';
  }
}

/** Validate a sweep spec; the error names every bad field and its allowed values. */
export function parseSweepSpec(json: unknown): SweepSpec {
  const parsed = sweepSpecSchema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : '(sweep)';
    const what =
      i.code === 'unrecognized_keys'
        ? `unknown field(s) ${i.keys.join(', ')}`
        : i.code === 'invalid_key'
          ? `bad field path: ${i.issues.map((k) => k.message).join(', ')}`
          : i.message;
    return { path: where, message: what };
  });
  throw new SweepSpecError(issues);
}

export function loadSweepSpec(file: string): SweepSpec {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SweepSpecError([{ path: file, message: (e as Error).message }], 'cannot read sweep spec');
  }
  return parseSweepSpec(json);
}
