/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process (so one benchmark's heap and JIT
 * state do not colour the next) and prints one JSON document with all their figures.
 * Each benchmark prints a single JSON object on its last line of stdout. Pass names to filter.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const filters = process.argv.slice(2);
const files = readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();
const results: Record<string, unknown> = {};
for (const file of files) {
  process.stderr.write(`bench: ${file}\n`);
  try {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', join(__dirname, file)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
    );
    const lines = out.trim().split('\n');
    results[file.replace(/\.bench\.ts$/, '')] = JSON.parse(lines[lines.length - 1]!);
  } catch (e) {
    results[file.replace(/\.bench\.ts$/, '')] = { error: (e as Error).message.split('\n')[0] };
  }
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
