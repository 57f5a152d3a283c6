/**
 * The `guest` part of a scenario: memory size, vCPUs, seed, initial contents (`fill`) and the
 * workload. One zod schema turns files and flags into a `GuestSpec` whose every size is resolved
 * to bytes against the memory size, so a parsed spec is itself valid input (numbers are bytes,
 * bytes/s and ms) and parses to the same value again.
 *
 * Defaults, and why:
 * - `memory` 1GiB, `vcpus` 1 (QEMU's default), `seed` 1.
 * - `fill` `{ populated: '50%', content: 'text' }`: a fresh QEMU guest sends about half its RAM
 *   as zero pages in the bulk round (research/live-migration.md §4), and the other half is
 *   mostly kernel and application data that compresses like text.
 * - `workload` `{ kind: 'idle' }`: a guest that boots and sits, a few page writes per second.
 * - workload `content` `random` (written data such as counters, pointers and buffers compresses
 *   poorly at word granularity), `writeSize` 8 (one 64-bit store, the common CPU write: each
 *   page write stores 8 bytes at a random 8-byte slot of the page; up to 4096 for page copies).
 * Rates are dirtying rates: page writes per second × 4 KiB, as QEMU's dirty-pages-rate counts
 * them; `N pages/s` is accepted beside `200MiB/s` and `1Gbit/s`.
 */
import { z } from 'zod';
import { excerpt, quoted } from '../util/excerpt';
import { formatBytes, PAGE_SIZE, parseSize } from '../util/units';
import { durationField, intField, numberField, rateField, sizeField } from '../config/fields';
import { loadTrace } from './trace';
import { ConfigError } from '../config/error';

export const MIN_MEMORY = 1024 ** 2;
export const MAX_MEMORY = 1024 ** 4;
export const MAX_VCPUS = 64;
export const MAX_RATE = 16 * 1024 ** 3;
export const MAX_PHASES = 64;
/** QEMU's test guest increments byte 0 of every page in 1 MiB .. 100 MiB (a-b-bootblock.S). */
const INCREMENTER_OFFSET = 1024 ** 2;
const INCREMENTER_SIZE = 99 * 1024 ** 2;
const DEFAULT_HOT = 256 * 1024 ** 2;
const DEFAULT_RATE = 100 * 1024 ** 2;

export const CONTENT_KINDS = ['random', 'text', 'zero'] as const;
export type ContentKind = (typeof CONTENT_KINDS)[number];

//////////////////////////////     field schemas     //////////////////////////////

const sizeOrNumber = z.union([z.string(), z.number()]);

/** A dirtying rate in bytes/s: `200MiB/s`, `1Gbit/s`, `5000 pages/s`, or a number of bytes/s. */
const workloadRate = rateField({
  min: 0,
  max: MAX_RATE,
  text: `[0, ${formatBytes(MAX_RATE)}/s] (units: B/s, KiB/s, MiB/s, GiB/s, Mbit/s, Gbit/s, pages/s)`,
});

const positiveDuration = durationField({ min: 0, max: Infinity, above: true, text: '(0, ∞) ms' });

const shareField = numberField(0, 1);

/** `50%` or a size: how much of memory holds data before the migration starts. */
const populatedField = sizeOrNumber.transform((value, ctx) => {
  const percent = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value) : null;
  if (percent) {
    const p = Number(percent[1]);
    if (p <= 100) return { percent: p };
    ctx.addIssue({
      code: 'custom',
      message: `${excerpt(String(value))} is outside the allowed range [0%, 100%]`,
    });
    return z.NEVER;
  }
  try {
    return { bytes: parseSize(value) };
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `not a size or percentage: ${quoted(value)}; allowed: 0%..100% or a size up to memory (e.g. 2GiB)`,
    });
    return z.NEVER;
  }
});

const contentField = z.enum(CONTENT_KINDS, { error: `allowed: ${CONTENT_KINDS.join(' | ')}` });

/** Power-of-two write sizes keep every write inside one page at an aligned slot. */
const writeSizeField = sizeField({ min: 4, max: PAGE_SIZE }).superRefine((n, ctx) => {
  if ((n & (n - 1)) !== 0)
    ctx.addIssue({ code: 'custom', message: `${n} is not a power of two in [4, 4096]` });
});

//////////////////////////////     workload schemas     //////////////////////////////

const writes = {
  content: contentField.default('random'),
  writeSize: writeSizeField.default(8),
};
const region = {
  offset: sizeField({ min: 0, max: MAX_MEMORY }, PAGE_SIZE).default(0),
  size: sizeField({ min: PAGE_SIZE, max: MAX_MEMORY }, PAGE_SIZE).optional(),
};

const idleInput = z.strictObject({
  kind: z.literal('idle'),
  rate: workloadRate.default(8 * PAGE_SIZE),
  ...writes,
});
const uniformInput = z.strictObject({
  kind: z.literal('uniform'),
  rate: workloadRate.default(DEFAULT_RATE),
  ...region,
  ...writes,
});
const hotcoldInput = z.strictObject({
  kind: z.literal('hotcold'),
  rate: workloadRate.default(DEFAULT_RATE),
  hot: sizeField({ min: PAGE_SIZE, max: MAX_MEMORY }, PAGE_SIZE).optional(),
  hotShare: shareField.default(0.9),
  layout: z
    .enum(['scattered', 'contiguous'], { error: 'allowed: scattered | contiguous' })
    .default('scattered'),
  offset: sizeField({ min: 0, max: MAX_MEMORY }, PAGE_SIZE).default(0),
  ...writes,
});
const sequentialInput = z.strictObject({
  kind: z.literal('sequential'),
  rate: workloadRate.default(DEFAULT_RATE),
  ...region,
  ...writes,
});
const incrementerInput = z.strictObject({
  kind: z.literal('incrementer'),
  rate: workloadRate.default(DEFAULT_RATE),
  offset: sizeField({ min: 0, max: MAX_MEMORY }, PAGE_SIZE).default(INCREMENTER_OFFSET),
  size: sizeField({ min: PAGE_SIZE, max: MAX_MEMORY }, PAGE_SIZE).optional(),
});
const replayInput = z.strictObject({
  kind: z.literal('replay'),
  /** A trace file (format in src/guest/README.md), or the same text inline as `trace`. */
  file: z.string().min(1).optional(),
  trace: z.string().optional(),
  /** Repeat the trace every `period` of run time (must exceed the last record's time). */
  period: positiveDuration.optional(),
  ...writes,
});

const BASIC_KINDS = ['idle', 'uniform', 'hotcold', 'sequential'] as const;
const basicInput = z.discriminatedUnion('kind', [idleInput, uniformInput, hotcoldInput, sequentialInput], {
  error: `unknown workload kind; allowed in a phase: ${BASIC_KINDS.join(' | ')}`,
});
const phasedInput = z.strictObject({
  kind: z.literal('phased'),
  phases: z
    .array(z.strictObject({ duration: positiveDuration, workload: basicInput }), {
      error: 'must be a list of phases',
    })
    .min(1, { error: `needs 1 to ${MAX_PHASES} phases` })
    .max(MAX_PHASES, { error: `needs 1 to ${MAX_PHASES} phases` }),
  /** Loop the schedule (default); false: the guest stops writing after the last phase. */
  repeat: z.boolean().default(true),
});

export const WORKLOAD_KINDS = [...BASIC_KINDS, 'phased', 'incrementer', 'replay'] as const;
const workloadInput = z.discriminatedUnion(
  'kind',
  [idleInput, uniformInput, hotcoldInput, sequentialInput, phasedInput, incrementerInput, replayInput],
  { error: `unknown workload kind; allowed: ${WORKLOAD_KINDS.join(' | ')}` },
);

const fillInput = z.strictObject({
  populated: populatedField.default({ percent: 50 }),
  content: contentField.default('text'),
});

//////////////////////////////     resolved spec types     //////////////////////////////

/** `T` with the fields `K` resolved against memory: present and defined. */
type Resolved<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };

/** Rates in bytes/s, sizes and offsets in bytes (multiples of 4 KiB), durations in ms. */
export type IdleWorkload = z.output<typeof idleInput>;
export type UniformWorkload = Resolved<z.output<typeof uniformInput>, 'size'>;
export type HotcoldWorkload = Resolved<z.output<typeof hotcoldInput>, 'hot'>;
export type SequentialWorkload = Resolved<z.output<typeof sequentialInput>, 'size'>;
export type BasicWorkload = IdleWorkload | UniformWorkload | HotcoldWorkload | SequentialWorkload;
export type PhasedWorkload = Omit<z.output<typeof phasedInput>, 'phases'> & {
  phases: { duration: number; workload: BasicWorkload }[];
};
export type IncrementerWorkload = Resolved<z.output<typeof incrementerInput>, 'size'>;
export type ReplayWorkload = z.output<typeof replayInput>;
export type WorkloadSpec = BasicWorkload | PhasedWorkload | IncrementerWorkload | ReplayWorkload;

/** The parsed guest: the fill's share resolved to bytes, the workload's regions to memory. */
export interface GuestSpec {
  memory: number;
  vcpus: number;
  seed: number;
  fill: { populated: number; content: ContentKind };
  workload: WorkloadSpec;
}

//////////////////////////////     resolution against memory     //////////////////////////////

type Ctx = z.RefinementCtx;
type Path = (string | number)[];

function issue(ctx: Ctx, path: Path, message: string): void {
  ctx.addIssue({ code: 'custom', path, message });
}

/** A region [offset, offset + size) that must lie inside memory; size defaults to the rest. */
function resolveRegion(
  ctx: Ctx,
  path: Path,
  memory: number,
  offset: number,
  size: number | undefined,
  defaultSize = memory - offset,
): number {
  if (offset >= memory) {
    issue(
      ctx,
      [...path, 'offset'],
      `${formatBytes(offset)} is outside memory; allowed range [0, ${formatBytes(memory - PAGE_SIZE)}]`,
    );
    return 0;
  }
  const bytes = size ?? defaultSize;
  if (offset + bytes > memory)
    issue(
      ctx,
      [...path, 'size'],
      `${formatBytes(bytes)} from offset ${formatBytes(offset)} runs past memory (${formatBytes(memory)}); allowed range [4.00 KiB, ${formatBytes(memory - offset)}]`,
    );
  return bytes;
}

type BasicInput = z.output<typeof basicInput>;
type WorkloadInput = z.output<typeof workloadInput>;

function resolveBasic(ctx: Ctx, path: Path, memory: number, vcpus: number, w: BasicInput): BasicWorkload {
  switch (w.kind) {
    case 'idle':
      return w;
    case 'uniform':
      return { ...w, size: resolveRegion(ctx, path, memory, w.offset, w.size) };
    case 'sequential': {
      const size = resolveRegion(ctx, path, memory, w.offset, w.size);
      // Each vCPU sweeps its own slice of the buffer.
      if (size > 0 && size < vcpus * PAGE_SIZE)
        issue(
          ctx,
          [...path, 'size'],
          `${formatBytes(size)} is smaller than one page per vCPU (${vcpus} vCPUs)`,
        );
      return { ...w, size };
    }
    case 'hotcold': {
      const hot =
        w.hot ?? Math.min(DEFAULT_HOT, Math.max(PAGE_SIZE, Math.floor(memory / 4 / PAGE_SIZE) * PAGE_SIZE));
      if (hot > memory)
        issue(
          ctx,
          [...path, 'hot'],
          `${formatBytes(hot)} is larger than memory (${formatBytes(memory)}); allowed range [4.00 KiB, ${formatBytes(memory)}]`,
        );
      else if (w.layout === 'contiguous') resolveRegion(ctx, path, memory, w.offset, hot);
      return { ...w, hot };
    }
  }
}

function resolveWorkload(ctx: Ctx, memory: number, vcpus: number, w: WorkloadInput): WorkloadSpec {
  const path: Path = ['workload'];
  switch (w.kind) {
    case 'phased':
      return {
        ...w,
        phases: w.phases.map((p, i) => ({
          duration: p.duration,
          workload: resolveBasic(ctx, [...path, 'phases', i, 'workload'], memory, vcpus, p.workload),
        })),
      };
    case 'incrementer':
      return {
        ...w,
        size: resolveRegion(
          ctx,
          path,
          memory,
          w.offset,
          w.size,
          Math.min(INCREMENTER_SIZE, memory - w.offset),
        ),
      };
    case 'replay':
      return resolveReplay(ctx, path, memory, w);
    default:
      return resolveBasic(ctx, path, memory, vcpus, w);
  }
}

function resolveReplay(
  ctx: Ctx,
  path: Path,
  memory: number,
  w: z.output<typeof replayInput>,
): ReplayWorkload {
  if ((w.file === undefined) === (w.trace === undefined)) {
    issue(ctx, [...path, 'file'], 'give exactly one of `file` (a trace file) or `trace` (its text inline)');
    return w;
  }
  const field = w.file !== undefined ? 'file' : 'trace';
  try {
    const trace = loadTrace(w, memory / PAGE_SIZE);
    if (w.period !== undefined && w.period <= trace.lastTime)
      issue(
        ctx,
        [...path, 'period'],
        `${w.period} ms must exceed the trace's last record time (${trace.lastTime} ms)`,
      );
  } catch (e) {
    issue(ctx, [...path, field], (e as Error).message);
  }
  return w;
}

function resolvePopulated(
  ctx: Ctx,
  memory: number,
  populated: { percent: number } | { bytes: number },
): number {
  if ('percent' in populated) return Math.round(((memory / PAGE_SIZE) * populated.percent) / 100) * PAGE_SIZE;
  if (populated.bytes > memory)
    issue(
      ctx,
      ['fill', 'populated'],
      `${formatBytes(populated.bytes)} is larger than memory (${formatBytes(memory)}); allowed range [0, ${formatBytes(memory)}] or 0%..100%`,
    );
  return Math.ceil(populated.bytes / PAGE_SIZE) * PAGE_SIZE;
}

//////////////////////////////     the schema     //////////////////////////////

export const guestSpecSchema = z
  .strictObject({
    memory: sizeField({ min: MIN_MEMORY, max: MAX_MEMORY }, PAGE_SIZE).default(1024 ** 3),
    vcpus: intField(1, MAX_VCPUS).default(1),
    seed: intField(0, 2 ** 31 - 1).default(1),
    fill: fillInput.default({ populated: { percent: 50 }, content: 'text' }),
    workload: workloadInput.default({ kind: 'idle', rate: 8 * PAGE_SIZE, content: 'random', writeSize: 8 }),
  })
  .transform((g, ctx): GuestSpec => ({
    memory: g.memory,
    vcpus: g.vcpus,
    seed: g.seed,
    fill: { populated: resolvePopulated(ctx, g.memory, g.fill.populated), content: g.fill.content },
    workload: resolveWorkload(ctx, g.memory, g.vcpus, g.workload),
  }));

export function parseGuestSpec(input: unknown): GuestSpec {
  const result = guestSpecSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  // One line per bad field, `guest.<path>: <problem>`.
  throw new ConfigError(
    result.error.issues.map((i) => ({
      path: ['guest', ...i.path.map(String)].join('.'),
      message: i.message,
    })),
  );
}
