/**
 * Imports a real QEMU migration, polled over QMP, as a precopy result, so it can be viewed and
 * reported beside a simulated one.
 *
 * Input: JSON Lines, one object per line (blank lines ignored), in time order:
 * - a sample in QMP's own framing: `{"return": {...query-migrate...}, "timestamp": {"seconds": S,
 *   "microseconds": U}}` (QMP puts timestamps on events; a poller adds one to each reply);
 * - or a bare query-migrate object with a `"timestamp"`, either QMP's `{seconds, microseconds}` or a
 *   number of seconds since the epoch (`date +%s.%N`);
 * - QMP events with their timestamps are accepted: `MIGRATION` (`data.status`) records a state
 *   change, other events are skipped; so are the QMP greeting and empty command replies (`{"return": {}}`).
 *
 * Rounds come from `ram.dirty-sync-count`: each sync opens a round (round = count − 1; count 1 is the
 * bulk round). Per round, from the counters' differences between the first samples of consecutive
 * counts: bytes on the wire (Δtransferred), pages sent (Δnormal + Δduplicate + Δxbzrle pages), zero
 * pages (Δduplicate). Pages dirtied during a round are what the next sync found (the peak of
 * `ram.remaining` in the next round), which gives the guest's dirty rate and the writable working
 * set. For a completed migration the last round is stop-and-copy: it starts at total-time − downtime
 * and sends `ram.downtime-bytes`. QEMU does not report its threshold; it is estimated as each
 * round's send rate × `downtimeLimit` (QEMU's default 300 ms unless given). Times are only as fine
 * as the sampling: a sync missed between two samples merges two rounds (reported in `warnings`).
 */
import { z } from 'zod';
import {
  MIGRATION_STATUSES,
  type MigrationResult,
  type MigrationStatus,
  type RamStats,
  type RoundStats,
} from '../migration/result';

export class QmpImportError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'QmpImportError';
  }
}

export interface QmpImportOptions {
  /** QEMU's downtime-limit in ms, for the threshold estimate (default 300, QEMU's default). */
  downtimeLimit?: number;
  /** Recorded in the result's scenario. */
  source?: string;
}

export interface QmpImport {
  result: MigrationResult;
  warnings: string[];
}

export const MAX_LINE_BYTES = 1 << 20;

const STATUSES = MIGRATION_STATUSES;

const count = z.number().nonnegative();
const statusSchema = z
  .string()
  .refine((s): s is MigrationStatus => (STATUSES as readonly string[]).includes(s), {
    message: `status must be one of ${STATUSES.join(', ')} (postcopy, colo and wait-unplug are not supported)`,
  });

const ramSchema = z.looseObject({
  transferred: count,
  remaining: count,
  total: count,
  duplicate: count.default(0),
  normal: count.default(0),
  'normal-bytes': count.default(0),
  'dirty-sync-count': z.number().int().nonnegative(),
  'dirty-pages-rate': count.default(0),
  mbps: count.default(0),
  'pages-per-second': count.default(0),
  'precopy-bytes': count.default(0),
  'downtime-bytes': count.default(0),
  'page-size': z.number().int().positive().default(4096),
});

const queryMigrateSchema = z.looseObject({
  status: statusSchema,
  'error-desc': z.string().optional(),
  'total-time': count.optional(),
  'setup-time': count.optional(),
  downtime: count.optional(),
  'expected-downtime': count.optional(),
  ram: ramSchema.optional(),
  'cpu-throttle-percentage': z.number().min(0).max(100).optional(),
  'xbzrle-cache': z
    .looseObject({
      'cache-size': count,
      bytes: count,
      pages: count,
      'cache-miss': count,
      'cache-miss-rate': z.number(),
      'encoding-rate': z.number(),
      overflow: count,
    })
    .optional(),
});
type QueryMigrate = z.infer<typeof queryMigrateSchema>;

const timestampSchema = z.union(
  [
    z.object({ seconds: z.number().int().nonnegative(), microseconds: z.number().int().min(0).max(999_999) }),
    z.number().nonnegative(),
  ],
  {
    error: 'expected {"seconds": integer, "microseconds": 0..999999} or a number of seconds since the epoch',
  },
);

const eventSchema = z.looseObject({
  event: z.string(),
  data: z.looseObject({ status: z.string().optional() }).optional(),
  timestamp: timestampSchema,
});

interface Sample {
  line: number;
  /** ms since the epoch. */
  time: number;
  q: QueryMigrate;
}

interface StatusMark {
  time: number;
  status: MigrationStatus;
}

function toMs(ts: z.infer<typeof timestampSchema>): number {
  return typeof ts === 'number' ? ts * 1000 : ts.seconds * 1000 + ts.microseconds / 1000;
}

function fail(line: number, error: z.ZodError, prefix = ''): never {
  const issue = error.issues[0]!;
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new QmpImportError(line, `${path || '(object)'}: ${issue.message}`);
}

/** Parses the lines into samples and status marks; throws QmpImportError naming the line. */
export function parseQmpLines(text: string): { samples: Sample[]; marks: StatusMark[] } {
  const samples: Sample[] = [];
  const marks: StatusMark[] = [];
  let lastTime = -Infinity;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '') return;
    if (trimmed.length > MAX_LINE_BYTES)
      throw new QmpImportError(line, `longer than ${MAX_LINE_BYTES} bytes`);
    let obj: unknown;
    try {
      obj = JSON.parse(trimmed);
    } catch (e) {
      throw new QmpImportError(line, `not JSON (${(e as Error).message})`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new QmpImportError(line, 'expected a JSON object');
    }
    const record = obj as Record<string, unknown>;
    if ('QMP' in record) return; // the greeting
    const at = (ts: unknown): number => {
      const parsed = timestampSchema.safeParse(ts);
      if (!parsed.success) fail(line, parsed.error, 'timestamp');
      const time = toMs(parsed.data);
      if (time < lastTime)
        throw new QmpImportError(line, 'timestamp goes back in time (lines must be in time order)');
      lastTime = time;
      return time;
    };
    if ('event' in record) {
      const ev = eventSchema.safeParse(record);
      if (!ev.success) fail(line, ev.error);
      const time = at(record.timestamp);
      if (ev.data.event === 'MIGRATION') {
        const status = statusSchema.safeParse(ev.data.data?.status);
        if (!status.success) fail(line, status.error, 'data.status');
        marks.push({ time, status: status.data });
      }
      return;
    }
    const framed = 'return' in record;
    const body = framed ? record.return : record;
    if (framed && typeof body === 'object' && body !== null && Object.keys(body).length === 0) return;
    if (!('timestamp' in record)) throw new QmpImportError(line, 'timestamp: required on every sample');
    // The bare form's `timestamp` passes as an unknown (loose) field.
    const q = queryMigrateSchema.safeParse(body);
    if (!q.success) fail(line, q.error, framed ? 'return' : '');
    const time = at(record.timestamp);
    samples.push({ line, time, q: q.data });
    marks.push({ time, status: q.data.status });
  });
  if (samples.length === 0) throw new QmpImportError(lines.length, 'no query-migrate samples in the file');
  return { samples, marks };
}

interface Counters {
  transferred: number;
  pages: number;
  zero: number;
}

function countersOf(q: QueryMigrate): Counters {
  const ram = q.ram!;
  return {
    transferred: ram.transferred,
    pages: ram.normal + ram.duplicate + (q['xbzrle-cache']?.pages ?? 0),
    zero: ram.duplicate,
  };
}

/** Where a round starts: its time (ms since the migration started) and the counters there. */
interface Boundary {
  count: number;
  time: number;
  counters: Counters;
  /** Samples taken during this round. */
  samples: Sample[];
}

export function importQmp(text: string, options: QmpImportOptions = {}): QmpImport {
  const limit = options.downtimeLimit ?? 300;
  const warnings: string[] = [];
  const { samples, marks } = parseQmpLines(text);
  const last = samples[samples.length - 1]!;
  const withTotal = samples.find((s) => s.q['total-time'] !== undefined);
  const t0 = withTotal ? withTotal.time - withTotal.q['total-time']! : samples[0]!.time;
  const withRam = samples.filter((s) => s.q.ram && s.q.ram['dirty-sync-count'] >= 1);
  if (withRam.length === 0)
    throw new QmpImportError(last.line, 'ram: no sample reports ram.dirty-sync-count ≥ 1');
  const pageSize = withRam[0]!.q.ram!['page-size'];
  const completed = last.q.status === 'completed';
  const end = completed && last.q['total-time'] !== undefined ? last.q['total-time'] : last.time - t0;

  const boundaries: Boundary[] = [];
  for (const s of withRam) {
    const c = s.q.ram!['dirty-sync-count'];
    const open = boundaries[boundaries.length - 1];
    if (open && open.count === c) {
      open.samples.push(s);
      continue;
    }
    if (open && c < open.count) throw new QmpImportError(s.line, 'ram.dirty-sync-count went down');
    if (open && c > open.count + 1) {
      warnings.push(
        `line ${s.line}: dirty-sync-count jumped ${open.count} → ${c}: rounds ${open.count}..${c - 2} merged (sample more often)`,
      );
    }
    boundaries.push({ count: c, time: s.time - t0, counters: countersOf(s.q), samples: [s] });
  }
  if (completed) carveStopAndCopy(boundaries, last.q, end, pageSize);

  const endCounters = countersOf(withRam[withRam.length - 1]!.q);
  const spans = boundaries.map((b, i) => {
    const next = boundaries[i + 1];
    const until = next ? next.counters : endCounters;
    return {
      duration: Math.max(0, (next ? next.time : end) - b.time),
      bytesWire: until.transferred - b.counters.transferred,
      pagesSent: until.pages - b.counters.pages,
      pagesZero: until.zero - b.counters.zero,
    };
  });
  // What each sync found dirty: the peak of remaining in its round (a carved stop-and-copy has no
  // samples of its own; it sent exactly what the final sync found).
  const harvested = boundaries.map((b, i) =>
    b.samples.length > 0
      ? Math.round(Math.max(...b.samples.map((s) => s.q.ram!.remaining)) / pageSize)
      : spans[i]!.pagesSent,
  );
  const rounds: RoundStats[] = boundaries.map((b, i) => {
    const { duration, bytesWire, pagesSent, pagesZero } = spans[i]!;
    const isLast = i === boundaries.length - 1;
    const seconds = duration / 1000;
    const final = completed && isLast;
    const lastSample = b.samples[b.samples.length - 1]?.q;
    const sendRate = seconds > 0 ? bytesWire / seconds : 0;
    // A round cut short (cancelled, failed, recording stopped) has no next sync: QEMU's own
    // dirty-pages-rate and remaining are all there is.
    const cutShort = isLast && !final;
    const dirtyRate = final
      ? 0
      : cutShort
        ? (lastSample?.ram?.['dirty-pages-rate'] ?? 0) * pageSize
        : seconds > 0
          ? (harvested[i + 1]! * pageSize) / seconds
          : 0;
    const dirtied = final ? 0 : cutShort ? Math.round((dirtyRate * seconds) / pageSize) : harvested[i + 1]!;
    const remaining = final ? 0 : cutShort ? (lastSample?.ram?.remaining ?? 0) : dirtied * pageSize;
    return {
      round: b.count - 1,
      start: b.time,
      duration,
      pagesHarvested: harvested[i]!,
      pagesSent,
      pagesZero,
      bytesRaw: pagesSent * pageSize,
      bytesWire,
      compressionRatio: bytesWire > 0 ? (pagesSent * pageSize) / bytesWire : 1,
      dirtyRate,
      sendRate,
      lambda: sendRate > 0 ? dirtyRate / sendRate : 0,
      workingSetPages: dirtied,
      remaining,
      threshold: sendRate * (limit / 1000),
      expectedDowntime: lastSample?.['expected-downtime'] ?? 0,
      throttle: lastSample?.['cpu-throttle-percentage'] ?? 0,
      predictedRoundsLeft: null,
      predictedEta: null,
      dirtyByRegion: [],
      final,
    };
  });
  // Stop-and-copy's threshold is the one that let it happen: the last live round's.
  const finalRound = rounds.find((r) => r.final);
  if (finalRound && rounds.length > 1) finalRound.threshold = rounds[rounds.length - 2]!.threshold;

  return { result: assembleResult(samples, marks, rounds, { end, limit, source: options.source }), warnings };
}

/**
 * The final sync usually shows only in the `completed` sample. QEMU tells when the guest stopped
 * (total-time − downtime) and what was sent while stopped (downtime-bytes): split that off.
 */
function carveStopAndCopy(boundaries: Boundary[], q: QueryMigrate, end: number, pageSize: number): void {
  const final = boundaries[boundaries.length - 1]!;
  const stop = end - (q.downtime ?? 0);
  if (boundaries.length < 2 || final.time <= stop || q.downtime === undefined) return;
  const ram = q.ram!;
  const stopBytes = ram['downtime-bytes'];
  const endCounters = countersOf(q);
  const stopPages = Math.min(
    Math.round(stopBytes / pageSize),
    endCounters.pages - boundaries[boundaries.length - 2]!.counters.pages,
  );
  final.time = stop;
  final.counters = {
    transferred: endCounters.transferred - stopBytes,
    pages: endCounters.pages - stopPages,
    zero: endCounters.zero,
  };
  final.samples = [];
}

function ramOf(q: QueryMigrate): RamStats {
  const ram = q.ram;
  return {
    transferred: ram?.transferred ?? 0,
    remaining: ram?.remaining ?? 0,
    total: ram?.total ?? 0,
    duplicate: ram?.duplicate ?? 0,
    normal: ram?.normal ?? 0,
    'normal-bytes': ram?.['normal-bytes'] ?? 0,
    'dirty-sync-count': ram?.['dirty-sync-count'] ?? 0,
    'dirty-pages-rate': ram?.['dirty-pages-rate'] ?? 0,
    mbps: ram?.mbps ?? 0,
    'pages-per-second': ram?.['pages-per-second'] ?? 0,
    'precopy-bytes': ram?.['precopy-bytes'] ?? 0,
    'downtime-bytes': ram?.['downtime-bytes'] ?? 0,
    'page-size': ram?.['page-size'] ?? 4096,
  };
}

function assembleResult(
  samples: Sample[],
  marks: StatusMark[],
  rounds: RoundStats[],
  ctx: { end: number; limit: number; source?: string },
): MigrationResult {
  const lastQ = samples[samples.length - 1]!.q;
  const lastWithRam = [...samples].reverse().find((s) => s.q.ram)!.q;
  const states: MigrationStatus[] = [];
  for (const m of marks) if (states[states.length - 1] !== m.status) states.push(m.status);
  const live = rounds.filter((r) => !r.final);
  const liveSeconds = live.reduce((s, r) => s + r.duration, 0) / 1000;
  const dirtiedPages = live.reduce((s, r) => s + r.workingSetPages, 0);
  const status = states[states.length - 1] ?? lastQ.status;
  return {
    status,
    ...(lastQ['error-desc'] ? { 'error-desc': lastQ['error-desc'] } : {}),
    'total-time': lastQ['total-time'] ?? ctx.end,
    'setup-time': samples.find((s) => s.q['setup-time'] !== undefined)?.q['setup-time'] ?? 0,
    downtime: lastQ.downtime ?? 0,
    'expected-downtime':
      [...samples].reverse().find((s) => s.q['expected-downtime'] !== undefined)?.q['expected-downtime'] ?? 0,
    ram: ramOf(lastWithRam),
    'cpu-throttle-percentage': lastQ['cpu-throttle-percentage'] ?? 0,
    ...(lastQ['xbzrle-cache'] ? { 'xbzrle-cache': lastQ['xbzrle-cache'] } : {}),
    precopy: {
      version: 1,
      clock: 'wall',
      converged: status === 'completed',
      guestDirtyPagesRate: liveSeconds > 0 ? dirtiedPages / liveSeconds : 0,
      // Not observable through QMP on the source: left at 0 and shown as "–".
      destinationDowntime: 0,
      downtimeBreakdown: { finalHarvest: 0, finalSend: 0, vcpuState: 0, destinationResume: 0 },
      verification: null,
      regionPages: 0,
      rounds,
      predictionError: [],
      scenario: {
        source: 'qemu-qmp',
        file: ctx.source ?? null,
        samples: samples.length,
        'downtime-limit': ctx.limit,
      },
      states,
    },
  };
}
