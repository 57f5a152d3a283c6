/**
 * Sizes, rates and durations in the forms QEMU users write them: `4GiB`, `512MiB`, `4096`,
 * `200MiB/s`, `1Gbit/s`, `300ms`, `30s`. Results are bytes, bytes per second and milliseconds.
 * The configuration's fields (src/config/fields.ts) parse through these.
 */
import { quoted } from './excerpt';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

const BIT_UNITS: Record<string, number> = {
  bit: 1 / 8,
  kbit: 1000 / 8,
  mbit: 1000 ** 2 / 8,
  gbit: 1000 ** 3 / 8,
};

const TIME_UNITS: Record<string, number> = {
  '': 1,
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60000,
  min: 60000,
  h: 3600000,
};

const NUMBER = /^\s*(\d+(?:\.\d+)?|\.\d+)(?:e(\d+))?\s*([a-zA-Z]*)\s*$/;

function parseWithUnits(text: string, units: Record<string, number>): number | undefined {
  const m = NUMBER.exec(text);
  if (!m) return undefined;
  const unit = units[m[3]!.toLowerCase()];
  if (unit === undefined) return undefined;
  return Number(m[1]) * 10 ** Number(m[2] ?? 0) * unit;
}

/** Bytes from `4GiB`, `512MiB`, `64k`, `4096` or a number. Throws RangeError on bad input. */
export function parseSize(value: string | number): number {
  const bytes = typeof value === 'number' ? value : parseWithUnits(value, SIZE_UNITS);
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0)
    throw new RangeError(`not a size: ${quoted(value)} (examples: 4GiB, 512MiB, 4096)`);
  return Math.round(bytes);
}

/** Bytes per second from `200MiB/s`, `1Gbit/s`, `125MB/s` or a number (bytes/s). */
export function parseRate(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`not a rate: ${value}`);
    return value;
  }
  const m = /^(.*?)(?:\/s|ps)$/i.exec(value.trim());
  const body = m ? m[1]! : value;
  // Bits are a lowercase `b` or `bit` (Mb/s, Mbit/s, Mbps); an uppercase `B` is bytes.
  const bits = /^\s*([\d.]+(?:e\d+)?)\s*([kKmMgG]?)(?:bit|b)\s*$/.exec(body);
  const rate = bits
    ? Number(bits[1]) * BIT_UNITS[`${bits[2]!.toLowerCase()}bit`]!
    : m
      ? parseWithUnits(body, SIZE_UNITS)
      : undefined;
  if (rate === undefined || !Number.isFinite(rate) || rate < 0)
    throw new RangeError(`not a rate: ${quoted(value)} (examples: 200MiB/s, 1Gbit/s, 125MB/s)`);
  return rate;
}

/**
 * Milliseconds from `300ms`, `30s`, `2min` or a number (ms, as in a JSON file). Text needs its
 * unit (`5` could be 5 ms or 5 s); only `0` is the same in all of them.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) && Number(value) !== 0) {
    const n = value.trim();
    throw new RangeError(
      `${JSON.stringify(value)} needs a unit: ${n}s or ${n}ms? (examples: 300ms, 30s, 2min)`,
    );
  }
  const ms = typeof value === 'number' ? value : parseWithUnits(value, TIME_UNITS);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0)
    throw new RangeError(`not a duration: ${quoted(value)} (examples: 300ms, 30s, 2min)`);
  return ms;
}

const BINARY = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `4.00 GiB` style, for people. */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < BINARY.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(2)} ${BINARY[i]}`;
}

export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;
