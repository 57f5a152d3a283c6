/**
 * Dirty traces for the `replay` workload: one record per line, `<time_ms> <gfns>`, where gfns
 * is `N`, `first-last` (inclusive) or `first+count`; numbers are decimal or 0x-hex; fields are
 * separated by spaces, tabs or a comma; `#` starts a comment. Times are the guest's run time in
 * milliseconds and never decrease. The format is documented with an example in README.md.
 */
import { readFileSync } from 'node:fs';

/** A parsed trace: record i writes pages first[i] .. first[i]+count[i]-1 at times[i]. */
export interface ReplayTrace {
  times: Float64Array;
  first: Float64Array;
  count: Float64Array;
  /** Prefix sums of count: writes[i] = page writes of records before i (length records + 1). */
  writes: Float64Array;
  lastTime: number;
}

const NUMBER = /^(0x[0-9a-f]+|\d+)$/i;
const TIME = /^\d+(\.\d+)?$/;

function gfnNumber(text: string, line: number): number {
  if (!NUMBER.test(text))
    throw new Error(`line ${line}: ${JSON.stringify(text)} is not a GFN (decimal or 0x-hex)`);
  return Number(text);
}

/** One record's pages as [first, count]. */
function parseGfns(text: string, line: number, pages: number): [number, number] {
  const range = /^([^-+]+)([-+])(.+)$/.exec(text);
  let first: number;
  let count: number;
  if (!range) {
    first = gfnNumber(text, line);
    count = 1;
  } else if (range[2] === '-') {
    first = gfnNumber(range[1]!, line);
    count = gfnNumber(range[3]!, line) - first + 1;
    if (count < 1) throw new Error(`line ${line}: range ${text} ends before it starts`);
  } else {
    first = gfnNumber(range[1]!, line);
    count = gfnNumber(range[3]!, line);
    if (count < 1) throw new Error(`line ${line}: ${text} writes no pages (count must be at least 1)`);
  }
  if (first + count > pages)
    throw new Error(
      `line ${line}: GFN ${first + count - 1} is outside guest memory, allowed range [0, ${pages - 1}]`,
    );
  return [first, count];
}

/** Parse trace text; throws with the line number of the first bad record. */
export function parseTrace(text: string, pages: number): ReplayTrace {
  const times: number[] = [];
  const first: number[] = [];
  const count: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const body = lines[i]!.replace(/#.*/, '').trim();
    if (body === '') continue;
    const fields = body.split(/[\s,]+/);
    if (fields.length !== 2)
      throw new Error(`line ${i + 1}: expected "<time_ms> <gfn | first-last | first+count>"`);
    if (!TIME.test(fields[0]!))
      throw new Error(`line ${i + 1}: ${JSON.stringify(fields[0])} is not a time in ms (≥ 0)`);
    const time = Number(fields[0]);
    if (times.length > 0 && time < times[times.length - 1]!)
      throw new Error(
        `line ${i + 1}: time ${time} goes back (previous record at ${times[times.length - 1]})`,
      );
    const [f, c] = parseGfns(fields[1]!, i + 1, pages);
    times.push(time);
    first.push(f);
    count.push(c);
  }
  if (times.length === 0) throw new Error('the trace has no records');
  const writes = new Float64Array(times.length + 1);
  for (let i = 0; i < count.length; i++) writes[i + 1] = writes[i]! + count[i]!;
  return {
    times: Float64Array.from(times),
    first: Float64Array.from(first),
    count: Float64Array.from(count),
    writes,
    lastTime: times[times.length - 1]!,
  };
}

/**
 * Each workload's trace as its validation parsed it (keyed by the spec's workload object), so the
 * guest replays what was checked and a file is read once, not again when the guest is built.
 */
const loaded = new WeakMap<object, { pages: number; trace: ReplayTrace }>();

/** The trace named by a replay workload: a file (relative to the working directory) or inline text. */
export function loadTrace(source: { file?: string; trace?: string }, pages: number): ReplayTrace {
  const kept = loaded.get(source);
  if (kept?.pages === pages) return kept.trace;
  const trace = readTrace(source, pages);
  loaded.set(source, { pages, trace });
  return trace;
}

function readTrace(source: { file?: string; trace?: string }, pages: number): ReplayTrace {
  if (source.trace !== undefined) return parseTrace(source.trace, pages);
  let text: string;
  try {
    text = readFileSync(source.file!, 'utf8');
  } catch (e) {
    throw new Error(
      `cannot read trace file ${source.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    return parseTrace(text, pages);
  } catch (e) {
    throw new Error(`${source.file} ${(e as Error).message}`);
  }
}
