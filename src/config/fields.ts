/**
 * The field parsers of every configuration layer (the scenario's migration and run parts, the
 * guest spec, live set-parameters): one behaviour for a string wherever it is typed.
 *
 * - A field is a number or its text. Sizes (`4GiB`), rates (`200MiB/s`, `1Gbit/s`,
 *   `5000 pages/s`) and durations (`300ms`) take units (util/units.ts); a bare number is bytes,
 *   bytes/s or ms, as in QMP, and bare text is the same for sizes and rates; a duration's text
 *   needs its unit (`5` could be 5 ms or 5 s), except `0`.
 * - Integers and plain numbers accept their text (a flag's value), as a file's number.
 * - Text that is not a value of the kind says so with the allowed range (`not a size: "x";
 *   allowed range [1.00 MiB, 1.00 TiB]`, `must be an integer in [1, 99]`); a value outside the
 *   range is quoted as the user wrote it (`2TiB is outside the allowed range [...]`,
 *   `120 is outside the allowed range: an integer in [1, 99]`). The path comes from the layer
 *   (ConfigError: `guest.memory`, `migration.max-cpu-throttle`, or the flag as typed).
 */
import { z } from 'zod';
import { excerpt } from '../util/excerpt';
import { formatBytes, PAGE_SIZE, parseDuration, parseRate, parseSize } from '../util/units';

/** A field's allowed values: [min, max] (min excluded when `above`), and how to say them. */
export interface FieldRange {
  min: number;
  max: number;
  /** min itself is not allowed: (min, max]. */
  above?: boolean;
  /** The range as the message says it, e.g. `[0, 2000s]`; default from min and max. */
  text?: string;
}

const numberOrText = z.union([z.string(), z.number()]);

/** The value as the user wrote it: their text (trimmed, cut to an excerpt), or the number formatted. */
function shown(value: string | number, format: (n: number) => string): string {
  return typeof value === 'string' ? excerpt(value.trim()) : format(value);
}

function inRange(n: number, r: FieldRange): boolean {
  return (r.above ? n > r.min : n >= r.min) && n <= r.max;
}

function rangeText(r: FieldRange, format: (n: number) => string): string {
  return (
    r.text ?? `${r.above ? '(' : '['}${format(r.min)}, ${r.max === Infinity ? '∞)' : `${format(r.max)}]`}`
  );
}

/**
 * A field of values with units: `parse` turns the text into a number or throws saying what it
 * is not; the value must be in range and a multiple of `multiple`.
 */
function unitField(
  parse: (value: string | number) => number,
  r: FieldRange,
  format: (n: number) => string,
  multiple = 1,
) {
  const range = `allowed range ${rangeText(r, format)}`;
  return numberOrText.transform((value, ctx) => {
    let n: number;
    try {
      n = parse(value);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `${(e as Error).message}; ${range}` });
      return z.NEVER;
    }
    if (!inRange(n, r)) {
      ctx.addIssue({ code: 'custom', message: `${shown(value, format)} is outside the ${range}` });
      return z.NEVER;
    }
    if (n % multiple !== 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${shown(value, format)} is not a multiple of ${multiple} bytes`,
      });
      return z.NEVER;
    }
    return n;
  });
}

/** Bytes: `4GiB`, `512MiB`, `4096`; optionally a multiple of `multiple` bytes. */
export function sizeField(r: FieldRange, multiple = 1) {
  return unitField(parseSize, r, formatBytes, multiple);
}

const PAGES_PER_SECOND = /^\s*(\d+(?:\.\d+)?)\s*pages?\s*\/\s*s\s*$/i;
const BARE_NUMBER = /^\s*\d+(?:\.\d+)?\s*$/;

/** Bytes per second from `200MiB/s`, `1Gbit/s`, `5000 pages/s` (4 KiB pages), or a bare number. */
export function parseRateField(value: string | number): number {
  if (typeof value === 'string') {
    const pages = PAGES_PER_SECOND.exec(value);
    if (pages) return Number(pages[1]) * PAGE_SIZE;
    if (BARE_NUMBER.test(value)) return Number(value);
  }
  return parseRate(value);
}

const formatRate = (r: number): string => `${formatBytes(r)}/s`;

/** Bytes per second (see parseRateField). */
export function rateField(r: FieldRange) {
  return unitField(parseRateField, r, formatRate);
}

const formatMs = (ms: number): string => `${ms}ms`;

/** Milliseconds: `300ms`, `30s`, `2min`, or a number (ms). */
export function durationField(r: FieldRange) {
  return unitField(parseDuration, r, formatMs);
}

/** Text of a number (a flag's value) as that number; anything else as it is. */
const numberFromText = (v: unknown): unknown => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v);

function plainField(what: string, r: FieldRange, ok: (n: number) => boolean) {
  const range = `${what} in ${rangeText(r, String)}`;
  return z.preprocess(
    numberFromText,
    z.number({ error: `must be ${range}` }).superRefine((n, ctx) => {
      if (!ok(n) || !inRange(n, r))
        ctx.addIssue({ code: 'custom', message: `${n} is outside the allowed range: ${range}` });
    }),
  );
}

/** An integer in [min, max]. */
export function intField(min: number, max: number) {
  return plainField('an integer', { min, max }, Number.isInteger);
}

/** A number in [min, max]. */
export function numberField(min: number, max: number) {
  return plainField('a number', { min, max }, Number.isFinite);
}

/** A boolean, or the words people type on a command line (true/false, on/off, yes/no, 1/0). */
export const booleanField = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const word = v.trim().toLowerCase();
    if (['true', 'on', 'yes', '1'].includes(word)) return true;
    if (['false', 'off', 'no', '0'].includes(word)) return false;
    return v;
  },
  z.boolean({ error: 'must be true or false (on/off)' }),
);
