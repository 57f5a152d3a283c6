/**
 * Reading saved results (`precopy run --json`, `precopy import-qmp`) for `view` and `report`:
 * the file is checked against the result contract first, so a wrong file gets one clear error
 * naming the field instead of a chart that silently draws nothing.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { z } from 'zod';
import { MIGRATION_STATUSES, type MigrationResult } from '../migration/result';

/** Bad input from the user (a file, a flag): the CLI prints it and exits 2. */
export class InputError extends Error {
  override name = 'InputError';
}

const num = z.number().refine(Number.isFinite, 'expected a finite number');
const nullableNum = num.nullable();
const status = z.enum(MIGRATION_STATUSES);

const roundSchema = z.looseObject({
  round: z.number().int().nonnegative(),
  start: num,
  duration: num,
  pagesHarvested: num,
  pagesSent: num,
  pagesZero: num,
  bytesRaw: num,
  bytesWire: num,
  compressionRatio: num,
  dirtyRate: num,
  sendRate: num,
  lambda: num,
  workingSetPages: num,
  remaining: num,
  threshold: num,
  expectedDowntime: num,
  throttle: num.min(0).max(100),
  predictedRoundsLeft: nullableNum,
  predictedEta: nullableNum,
  dirtyByRegion: z.array(num),
  final: z.boolean(),
});

const resultSchema = z.looseObject({
  status,
  'total-time': num,
  'setup-time': num,
  downtime: num,
  'expected-downtime': num,
  ram: z.looseObject({ transferred: num, remaining: num, total: num, duplicate: num, 'page-size': num }),
  'cpu-throttle-percentage': num,
  precopy: z.looseObject({
    version: z.literal(1),
    clock: z.enum(['virtual', 'wall']),
    converged: z.boolean(),
    destinationDowntime: num,
    verification: z.looseObject({ passed: z.boolean() }).nullable(),
    regionPages: num,
    rounds: z.array(roundSchema),
    predictionError: z.array(z.looseObject({ round: num, rounds: nullableNum, eta: nullableNum })),
    states: z.array(status),
  }),
});

/** Validates an already parsed result; `where` names it in the error (a file name). */
export function checkResult(value: unknown, where: string): MigrationResult {
  const parsed = resultSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new InputError(`${where}: ${path.replace(/^\./, '') || '(root)'}: ${issue.message}`);
  }
  return parsed.data as unknown as MigrationResult;
}

export function loadResult(path: string): MigrationResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(
      `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not JSON (${(e as Error).message})`);
  }
  return checkResult(value, path);
}

/** A result's display name: its file name without `.json`. */
export function titleOf(path: string): string {
  return basename(path).replace(/\.json$/i, '');
}
