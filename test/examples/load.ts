import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** An example's scenario file, as a user would pass it to `precopy run`. */
export function example(path: string): unknown {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', path), 'utf8'));
}

export const MiB = 2 ** 20;

/** |actual − expected| ≤ tolerance × expected. */
export function within(actual: number, expected: number, tolerance: number): [number, boolean] {
  return [actual, Math.abs(actual - expected) <= tolerance * Math.abs(expected)];
}
