/**
 * The one validated schema of a migration scenario. A scenario file is JSON with three parts
 * (`guest`, `migration`, `run`); every field also has a CLI flag of the same name, and flags
 * override the file. Both go through `parseScenario`, so a file and a command line produce the
 * same typed `Scenario` and the same errors, which name the field and the allowed range.
 *
 * `migration` uses QEMU's own parameter and capability names (migrate-set-parameters /
 * migrate-set-capabilities) with QEMU's defaults, plus precopy's additions beside them.
 */
import { z } from 'zod';
import { guestSpecSchema, WORKLOAD_KINDS } from '../guest/spec';
import { didYouMean } from '../util/suggest';
import { excerpt } from '../util/excerpt';
import { badScenario, ConfigError } from '../config/error';
import { PAGE_SIZE } from '../util/units';
import { booleanField, durationField, intField, numberField, rateField, sizeField } from '../config/fields';

const MiB = 1024 * 1024;

/** Bytes per second, more than 0 (max-bandwidth, encode-rate, the link's bandwidth). */
const bandwidthField = rateField({ min: 1, max: Number.MAX_SAFE_INTEGER, text: '(0, ∞) bytes/s' });
/** A downtime, up to QEMU's MAX_MIGRATE_DOWNTIME (2000 s). */
const downtimeField = durationField({ min: 0, max: 2_000_000, text: '[0, 2000s]' });
/** A time span of at least 1 ms (ramp interval, timeout). */
const intervalField = durationField({ min: 1, max: 2 ** 40, text: '[1ms, ∞)' });

/**
 * When the live phase ends: qemu (threshold tested every iteration), round (tested at round
 * ends), xen (Xen'05's last-round rules), stall (KubeVirt VEP 248's local-minimum detector).
 */
export const STOP_RULES = ['qemu', 'round', 'xen', 'stall'] as const;
export type StopRule = (typeof STOP_RULES)[number];
export const RAMPS = ['none', 'nova', 'linear'] as const;
export type DowntimeRamp = (typeof RAMPS)[number];

export const ENCODINGS = ['zero', 'lz4', 'xbzrle', 'raw'] as const;
export type Encoding = (typeof ENCODINGS)[number];
/** QEMU's zero-page-detection values (migration.json ZeroPageDetection). */
export const ZERO_PAGE_DETECTION = ['none', 'legacy', 'multifd'] as const;

const encodingsSchema = z
  .preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(z.enum(ENCODINGS, { error: `each must be one of ${ENCODINGS.join(', ')}` })).min(1, {
      error: 'needs at least one encoding',
    }),
  )
  .refine((list) => !list.includes('raw') || list.every((e) => e === 'raw' || e === 'xbzrle'), {
    error:
      '`raw` stands alone (every page sent whole; with xbzrle, deltas or whole pages); combine zero, lz4, xbzrle otherwise',
  });

/** The encodings less `zero`; raw when nothing else is left (raw is always the fallback). */
function withoutZero(list: Encoding[]): Encoding[] {
  const rest = list.filter((e) => e !== 'zero');
  return rest.length > 0 ? rest : ['raw'];
}

const migrationFields = z
  .object({
    // QEMU parameters and capabilities, QEMU's defaults (migration/options.c).
    'max-bandwidth': bandwidthField.default(128 * MiB),
    'downtime-limit': downtimeField.default(300),
    'auto-converge': booleanField.default(false),
    'cpu-throttle-initial': intField(1, 99).default(20),
    'cpu-throttle-increment': intField(1, 100).default(10),
    'max-cpu-throttle': intField(1, 99).default(99),
    'throttle-trigger-threshold': intField(1, 100).default(50),
    /** dirty-limit: per-vCPU penalties from the dirty ring towards vcpu-dirty-limit (QEMU 8.1). */
    'dirty-limit': booleanField.default(false),
    /** dirty-limit's quota per vCPU, MB/s (QEMU's default 1). */
    'vcpu-dirty-limit': intField(1, 1_000_000).default(1),
    /** ms between dirty-limit's reads of the rings (QEMU's range [1, 1000]). */
    'x-vcpu-dirty-limit-period': intField(1, 1000).default(1000),
    xbzrle: booleanField.default(false),
    'xbzrle-cache-size': sizeField({ min: PAGE_SIZE, max: 2 ** 40, text: '[4KiB, 1TiB]' })
      .refine((v) => Number.isInteger(Math.log2(v)), { error: 'must be a power of two (QEMU rounds it)' })
      .default(64 * MiB),
    'pause-before-switchover': booleanField.default(false),
    /** multifd: pages travel on `multifd-channels` connections of their own, a sync per round (QEMU's). */
    multifd: booleanField.default(false),
    'multifd-channels': intField(1, 255).default(2),
    /** Where zero pages are found: none (sent whole), legacy (the migration thread), multifd (the channels; QEMU 9.0's default). */
    'zero-page-detection': z
      .enum(ZERO_PAGE_DETECTION, { error: `must be one of ${ZERO_PAGE_DETECTION.join(', ')}` })
      .default('multifd'),
    /** QEMU postcopy-ram: the migration may switch to postcopy (migrate-start-postcopy, or a trigger below). */
    'postcopy-ram': booleanField.default(false),
    /** postcopy: switch after this many live rounds (precopy's; QEMU leaves it to the management layer). */
    'postcopy-after-rounds': intField(1, 100_000).optional(),
    /** postcopy: switch when a round's sync leaves no fewer bytes than the best before it (no progress). */
    'postcopy-on-stall': booleanField.default(false),
    /** postcopy: switch when the in-run predictor says pre-copy will not converge. */
    'postcopy-on-prediction': booleanField.default(false),
    // precopy's additions.
    'stop-rule': z.enum(STOP_RULES, { error: `must be one of ${STOP_RULES.join(', ')}` }).default('qemu'),
    /** stall: switch over when remaining ≤ best remaining × (1 + margin) (KubeVirt VEP 248). */
    'stall-margin': numberField(0, 10).default(0.1),
    /** stall: the downtime the switchover may cost (best remaining ÷ bandwidth); default downtime-limit. */
    'stall-downtime': downtimeField.optional(),
    /** Raise the downtime limit over the migration: nova (in time) or linear (per round, VEP 291). */
    'downtime-limit-ramp': z.enum(RAMPS, { error: `must be one of ${RAMPS.join(', ')}` }).default('none'),
    /** Ramp: steps to reach downtime-limit (the first step is limit / steps). */
    'downtime-ramp-steps': intField(1, 1000).default(10),
    /** nova ramp: time between steps (nova: 75 s per GiB of guest RAM). */
    'downtime-ramp-interval': intervalField.default(1000),
    'dirty-log': z.enum(['get', 'manual', 'ring'], { error: 'must be get, manual or ring' }).default('get'),
    tracking: z.enum(['wrprot', 'dbit'], { error: 'must be wrprot or dbit' }).default('wrprot'),
    encodings: encodingsSchema.default(['zero', 'lz4']),
    'max-rounds': intField(1, 100_000).default(1000),
    timeout: intervalField.default(3_600_000),
    'on-timeout': z.enum(['cancel', 'force'], { error: 'must be cancel or force' }).default('cancel'),
    /**
     * The sender CPU model (virtual time): bytes of guest pages one sender thread encodes per
     * second. Unset: each multifd channel at DEFAULT_ENCODE_RATE (this machine's measured
     * encoder), and the single migration thread without multifd unmodelled, as before.
     */
    'encode-rate': bandwidthField.optional(),
  })
  .strict();

export const migrationSchema = migrationFields
  .refine((m) => m['cpu-throttle-initial'] <= m['max-cpu-throttle'], {
    error: 'cpu-throttle-initial must not exceed max-cpu-throttle',
    path: ['cpu-throttle-initial'],
  })
  .refine((m) => !m['dirty-limit'] || m['dirty-log'] === 'ring', {
    error: 'dirty-limit needs the KVM dirty ring (dirty-log ring)',
    path: ['dirty-limit'],
  })
  .refine((m) => !(m['dirty-limit'] && m['auto-converge']), {
    error: 'dirty-limit and auto-converge exclude each other (as in QEMU)',
    path: ['dirty-limit'],
  })
  .refine((m) => !(m.multifd && m.xbzrle), {
    error: 'multifd and xbzrle exclude each other (QEMU sends multifd pages without XBZRLE)',
    path: ['multifd'],
  })
  .refine(
    (m) =>
      m['postcopy-ram'] ||
      (m['postcopy-after-rounds'] === undefined && !m['postcopy-on-stall'] && !m['postcopy-on-prediction']),
    {
      error:
        'postcopy-after-rounds, postcopy-on-stall and postcopy-on-prediction need postcopy-ram (--postcopy-ram on)',
      path: ['postcopy-ram'],
    },
  )
  .refine((m) => !(m['postcopy-ram'] && m.multifd), {
    error: 'postcopy-ram with multifd is not modelled (postcopy runs on the main link)',
    path: ['postcopy-ram'],
  })
  .refine((m) => !m.encodings.includes('xbzrle') || m.xbzrle, {
    error: 'the xbzrle encoding needs the xbzrle capability (--xbzrle on)',
    path: ['encodings'],
  })
  // As in QEMU, the capability is what turns XBZRLE on: it implies the encoding.
  .transform((m) =>
    m.xbzrle && !m.encodings.includes('xbzrle')
      ? { ...m, encodings: [...m.encodings, 'xbzrle' as const] }
      : m,
  )
  // zero-page-detection none: no page is tested for zeros, so none goes out as a zero record.
  .transform((m) =>
    m['zero-page-detection'] === 'none' && m.encodings.includes('zero')
      ? { ...m, encodings: withoutZero(m.encodings) }
      : m,
  );

export const runSchema = z
  .object({
    clock: z.enum(['virtual', 'wall'], { error: 'must be virtual or wall' }).default('virtual'),
    transport: z.enum(['inproc', 'ws'], { error: 'must be inproc or ws' }).default('inproc'),
    dest: z
      .string()
      .regex(/^wss?:\/\/[^\s]+$/, { error: 'must be a ws:// or wss:// URL' })
      .optional(),
    token: z.string().min(1, { error: 'must not be empty' }).optional(),
    /** The link: modelled in virtual time (default 10 Gbit/s); an optional cap in wall time. */
    bandwidth: bandwidthField.optional(),
    latency: durationField({ min: 0, max: 60_000, text: '[0, 60s]' }).default(0),
    /**
     * How long the resumed guest runs at the destination (its own clock) before the workload's
     * check on what it reads; 0 resumes it and checks at once. Off the downtime and total time.
     */
    'post-run': durationField({ min: 0, max: 3_600_000, text: '[0, 1h]' }).default(300),
    /** full: pages with contents, sent and verified; fast: metadata only (README "Modes and backings"). */
    mode: z.enum(['full', 'fast'], { error: 'must be full or fast' }).default('full'),
    /** Full mode's page backing: auto picks stored while the bytes fit comfortably, generated above. */
    backing: z
      .enum(['auto', 'stored', 'generated'], { error: 'must be auto, stored or generated' })
      .default('auto'),
  })
  .strict();

export const scenarioSchema = z
  .object({
    guest: guestSpecSchema,
    migration: migrationSchema.default(migrationSchema.parse({})),
    run: runSchema.default(runSchema.parse({})),
  })
  .strict()
  // The postcopy phase runs in virtual-time lockstep on pages with contents (src/migration/postcopy.ts).
  .refine((s) => !s.migration['postcopy-ram'] || s.run.clock === 'virtual', {
    error: 'postcopy-ram runs in virtual time only; allowed: run.clock virtual',
    path: ['migration', 'postcopy-ram'],
  })
  .refine((s) => !s.migration['postcopy-ram'] || s.run.mode === 'full', {
    error: 'postcopy-ram needs pages with contents; allowed: run.mode full',
    path: ['migration', 'postcopy-ram'],
  });

export type Scenario = z.output<typeof scenarioSchema>;
export type MigrationParams = Scenario['migration'];
export type RunParams = Scenario['run'];

/** The link bandwidth used in virtual time when the scenario gives none (10 Gbit/s). */
export const DEFAULT_VIRTUAL_BANDWIDTH = 1.25e9;

/** Bad scenario or flags: the config layer's one error (src/api.ts exports it by this name). */
export const ScenarioError = ConfigError;
export type ScenarioError = ConfigError;

// ////     flags     ////

/**
 * Each flag's place in the scenario. Guest flags keep the guest spec's names (src/guest/spec.ts);
 * the workload's `content` is `--write-content`, since `--content` is the fill's.
 */
const GUEST_FLAGS = ['memory', 'vcpus', 'seed'] as const;
const FILL_FLAGS = ['populated', 'content'] as const;
/** Workload parameter flag → field of guest.workload (`--workload hotcold --rate 300MiB/s --hot 256MiB`). */
export const WORKLOAD_FLAGS: Record<string, string> = {
  rate: 'rate',
  hot: 'hot',
  'hot-share': 'hotShare',
  layout: 'layout',
  offset: 'offset',
  size: 'size',
  'write-size': 'writeSize',
  'write-content': 'content',
  file: 'file',
  period: 'period',
};
export const MIGRATION_FLAGS = Object.keys(migrationFields.shape) as (keyof MigrationParams)[];
export const RUN_FLAGS = Object.keys(runSchema.shape) as (keyof RunParams)[];

export type ScenarioFlags = Record<string, string | boolean | undefined>;

type Json = Record<string, unknown>;

function child(parent: Json, key: string): Json {
  const value = parent[key];
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value)))
    throw badScenario([{ path: key, message: 'must be an object' }]);
  const copy: Json = { ...((value as Json | undefined) ?? {}) };
  parent[key] = copy;
  return copy;
}

/**
 * Lay flags over a scenario file's JSON: same names, flags win. Values stay text; the schema
 * parses them, so a flag and a file field fail with the same message.
 */
export function applyFlags(file: unknown, flags: ScenarioFlags): Json {
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file)))
    throw badScenario([{ path: '(scenario)', message: 'must be a JSON object {guest, migration, run}' }]);
  const root: Json = { ...((file as Json | undefined) ?? {}) };
  const set = (part: Json, key: string, field = key) => {
    const v = flags[key];
    if (v === undefined) return;
    part[field] = v;
  };
  const guest = child(root, 'guest');
  for (const key of GUEST_FLAGS) set(guest, key);
  if (FILL_FLAGS.some((k) => flags[k] !== undefined)) {
    const fill = child(guest, 'fill');
    for (const key of FILL_FLAGS) set(fill, key);
  }
  if (typeof flags.workload === 'string') {
    const previous = guest.workload as Json | undefined;
    guest.workload =
      previous && previous.kind === flags.workload ? { ...previous } : { kind: flags.workload };
  }
  if (Object.keys(WORKLOAD_FLAGS).some((k) => flags[k] !== undefined)) {
    const workload = child(guest, 'workload');
    for (const [flag, field] of Object.entries(WORKLOAD_FLAGS)) set(workload, flag, field);
  }
  const migration = child(root, 'migration');
  for (const key of MIGRATION_FLAGS) set(migration, key);
  const run = child(root, 'run');
  for (const key of RUN_FLAGS) set(run, key);
  return root;
}

/** Each scenario path a flag sets, and the flag (the user's spelling in errors). */
export const FLAG_OF_PATH: Record<string, string> = Object.fromEntries([
  ...GUEST_FLAGS.map((k) => [`guest.${k}`, k]),
  ...FILL_FLAGS.map((k) => [`guest.fill.${k}`, k]),
  ['guest.workload', 'workload'],
  ['guest.workload.kind', 'workload'],
  ...Object.entries(WORKLOAD_FLAGS).map(([flag, field]) => [`guest.workload.${field}`, flag]),
  ...MIGRATION_FLAGS.map((k) => [`migration.${k}`, k]),
  ...RUN_FLAGS.map((k) => [`run.${k}`, k]),
]);

/** The field names an object at `path` may have, for "did you mean". */
function knownFields(path: string): string[] {
  if (path === '') return ['guest', 'migration', 'run'];
  if (path === 'migration') return [...MIGRATION_FLAGS];
  if (path === 'run') return [...RUN_FLAGS];
  if (path === 'guest') return [...GUEST_FLAGS, 'fill', 'workload'];
  if (path === 'guest.fill') return [...FILL_FLAGS];
  return ['kind', 'phases', 'repeat', 'trace', 'duration', 'workload', ...Object.values(WORKLOAD_FLAGS)];
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Json)[k as string] : undefined),
    root,
  );
}

/** An issue's message, with a suggestion for a mistyped field or workload kind. */
function issueMessage(issue: z.core.$ZodIssue, merged: Json): string {
  const at = issue.path.join('.');
  if (issue.code === 'unrecognized_keys')
    return `unknown field(s) ${issue.keys.map((k) => excerpt(k) + didYouMean(k, knownFields(at))).join(', ')}`;
  if (issue.message.startsWith('unknown workload kind')) {
    const workload = valueAt(
      merged,
      issue.path[issue.path.length - 1] === 'kind' ? issue.path.slice(0, -1) : issue.path,
    );
    const kind = (workload as Json | undefined)?.kind;
    if (kind === undefined)
      return `missing: the workload's parameters need a kind (--workload ${WORKLOAD_KINDS.join(' | ')})`;
    return `${issue.message}${typeof kind === 'string' ? didYouMean(kind, WORKLOAD_KINDS) : ''}`;
  }
  return issue.message;
}

/** Validate a scenario (file JSON, flags, or both). Throws ScenarioError naming each bad field. */
export function parseScenario(file: unknown, flags: ScenarioFlags = {}): Scenario {
  const merged = applyFlags(file, flags);
  const parsed = scenarioSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  throw badScenario(
    parsed.error.issues.map((issue) => ({
      path: issue.path.length ? issue.path.join('.') : '(scenario)',
      message: issueMessage(issue, merged),
    })),
  );
}
