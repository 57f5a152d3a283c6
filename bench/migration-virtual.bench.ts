/**
 * Virtual time: simulated seconds per wall second for the analytic golden case
 * (examples/golden/golden-round.json: 4 GiB, every page sent whole over the in-process link,
 * 200 MiB/s of sequential writes through the MMU; goal ≥ 5×). Baseline in the same run: the
 * wall time of only copying the same bytes page by page out of the same kind of memory (the
 * floor any engine that really moves the pages must pay), so the ratio shows how far the whole
 * pipeline (guest, MMU, dirty log, encode, frame, decode, apply, hash) is from a bare copy.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SparseMemory } from '../src/guest/sparse-memory';
import { runScenario } from '../src/migration/index';

const MiB = 2 ** 20;

function copyBaselineMs(bytes: number): number {
  const pages = Math.round(bytes / 4096);
  const source = new SparseMemory(1 << 18);
  for (let p = 0; p < source.pages; p += 5) source.writable(p)[0] = 1; // a fifth populated, like the run
  const target = new Uint8Array(4096);
  const start = performance.now();
  for (let i = 0; i < pages; i++) target.set(source.read(i % source.pages));
  return performance.now() - start;
}

async function main(): Promise<void> {
  const scenario = JSON.parse(
    readFileSync(join(__dirname, '..', 'examples', 'golden', 'golden-round.json'), 'utf8'),
  );
  const start = performance.now();
  const result = await runScenario(scenario);
  const wallMs = performance.now() - start;
  const simulatedMs = result['total-time'];
  const copyMs = copyBaselineMs(result.ram.transferred);
  process.stdout.write(
    JSON.stringify({
      figure: 'golden case: simulated seconds per wall second',
      simulatedPerWall: simulatedMs / wallMs,
      goal: '≥ 5',
      simulatedMs,
      wallMs,
      transferredMiB: result.ram.transferred / MiB,
      verified: result.precopy.verification?.passed === true,
      baseline: {
        name: 'copy the same bytes page by page (no guest, no link)',
        wallMs: copyMs,
        simulatedPerWall: simulatedMs / copyMs,
      },
      ratio: copyMs / wallMs,
    }) + '\n',
  );
}

void main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: e.message }) + '\n');
  process.exitCode = 1;
});
