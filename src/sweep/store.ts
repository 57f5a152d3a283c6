/**
 * The results file: one JSON line per finished run, appended the moment it finishes, so a kill
 * loses at most the runs still in flight. Reopening reads what is there and skips those ids.
 * A torn last line (the process died mid-write) is cut off and its run counts as not done; a bad
 * line anywhere else is an error that names the line, never silently dropped data.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { MigrationResult } from '../migration/result';
import type { SweepMode } from './points';

export interface RunRecord {
  id: string;
  point: string;
  coords: Record<string, unknown>;
  seed: number;
  mode: SweepMode;
  /** The engine's result, or why the run could not produce one (a bad scenario, a crash). */
  result?: MigrationResult;
  error?: string;
}

export interface StoreFaults {
  /** Fault injection for the negative test: forget completed ids, so reruns redo and duplicate. */
  forgetCompleted?: boolean;
}

export class ResultsStore {
  private readonly records = new Map<string, RunRecord>();
  private readonly fd: number;
  /** Lines cut off at open because they were torn (0 or 1). */
  readonly tornLinesDropped: number;

  constructor(
    readonly file: string,
    private readonly faults: StoreFaults = {},
  ) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const { records, validBytes } = parseLines(file, text);
    for (const r of records) this.records.set(r.id, r);
    // Append mode: every record lands at the end of the file, whoever else appends to it.
    this.fd = openSync(file, 'a');
    this.tornLinesDropped = validBytes < Buffer.byteLength(text) ? 1 : 0;
    if (this.tornLinesDropped) ftruncateSync(this.fd, validBytes);
  }

  has(id: string): boolean {
    return !this.faults.forgetCompleted && this.records.has(id);
  }

  get size(): number {
    return this.records.size;
  }

  all(): RunRecord[] {
    return [...this.records.values()];
  }

  /** Append a finished run (one write); a run already stored is ignored, so retries never count twice. */
  add(record: RunRecord): boolean {
    if (this.has(record.id)) return false;
    const bytes = Buffer.from(JSON.stringify(record) + '\n');
    writeSync(this.fd, bytes);
    this.records.set(record.id, record);
    return true;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Read every complete line; stop before a torn final line. */
export function parseLines(file: string, text: string): { records: RunRecord[]; validBytes: number } {
  const records: RunRecord[] = [];
  let offset = 0;
  let lineNo = 0;
  while (offset < text.length) {
    const end = text.indexOf('\n', offset);
    const line = text.slice(offset, end < 0 ? text.length : end);
    lineNo++;
    const last = end < 0 || text.slice(end + 1).trim() === '';
    const record = parseRecord(line);
    if (record === undefined) {
      if (end < 0) break; // torn: the writer died before the newline
      if (!last)
        throw new Error(`${file}:${lineNo}: not a results record (the file is damaged; fix or remove it)`);
      break;
    }
    if (record !== null) records.push(record);
    offset = end < 0 ? text.length : end + 1;
  }
  return { records, validBytes: Buffer.byteLength(text.slice(0, offset)) };
}

/** A record, null for a blank line, undefined for a line that is not one. */
function parseRecord(line: string): RunRecord | null | undefined {
  if (line.trim() === '') return null;
  try {
    const r = JSON.parse(line) as RunRecord;
    if (typeof r?.id !== 'string' || typeof r.point !== 'string' || typeof r.seed !== 'number')
      return undefined;
    return r;
  } catch {
    return undefined;
  }
}
