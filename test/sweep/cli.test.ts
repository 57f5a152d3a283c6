/** `precopy sweep` in local mode: Ctrl-C losing nothing (as a child process), outputs, bad input. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepCommand } from '../../src/cli/sweep';
import { FAKE_RUNNER, precopySweep } from './cli-child';

const SPEC = {
  base: { guest: { memory: '1GiB', workload: { kind: 'uniform' } }, run: { bandwidth: '1GiB/s' } },
  grid: {
    'guest.workload.rate': ['100MiB/s', '500MiB/s', '900MiB/s', '1300MiB/s'],
    'migration.downtime-limit': [50, 300],
  },
  seeds: 2,
};

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-cli-'))));
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exitCode = undefined;
});

/** `precopy sweep ARGS` in this process (a child takes seconds to load the CLI); returns its stderr. */
async function runInProcess(args: string[]): Promise<string> {
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    process.exitCode = 0;
    await sweepCommand().exitOverride().parseAsync(args, { from: 'user' });
    return write.mock.calls.map((c) => String(c[0])).join('');
  } finally {
    write.mockRestore();
  }
}

function ids(file: string): string[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { id: string }).id);
}

describe('precopy sweep (local mode)', () => {
  it('Ctrl-C keeps every finished run; the rerun does only the rest', async () => {
    const spec = join(dir, 'sweep.json');
    writeFileSync(spec, JSON.stringify(SPEC));
    const results = join(dir, 'sweep.results.jsonl');
    const first = precopySweep([spec, '--runner', FAKE_RUNNER, '--workers', '2', '--no-progress'], {
      FAKE_RUNNER_DELAY_MS: '150',
    });
    while (!existsSync(results) || ids(results).length < 4) await new Promise((r) => setTimeout(r, 50));
    first.process.kill('SIGINT');
    expect(await first.exit).toBe(130);
    expect(first.stderr.join('\n')).toMatch(/interrupted; rerun to resume/);
    const kept = ids(results);
    expect(kept.length).toBeGreaterThanOrEqual(4);
    expect(kept.length).toBeLessThan(16);

    const second = precopySweep([spec, '--runner', FAKE_RUNNER, '--workers', '2', '--no-progress']);
    expect(await second.exit).toBe(0);
    const all = ids(results);
    expect(all).toHaveLength(16);
    expect(new Set(all).size).toBe(16);
    expect(all.slice(0, kept.length)).toEqual(kept);
  });

  it('writes the CSV table and the four heatmaps', async () => {
    const spec = join(dir, 'sweep.json');
    writeFileSync(spec, JSON.stringify(SPEC));
    await runInProcess([
      spec,
      '--runner',
      FAKE_RUNNER,
      '--csv',
      join(dir, 't.csv'),
      '--svg',
      join(dir, 'maps'),
      '--no-progress',
    ]);
    expect(process.exitCode).toBe(0);
    expect(readFileSync(join(dir, 't.csv'), 'utf8').trim().split('\n')).toHaveLength(9);
    for (const metric of ['converged', 'rounds', 'downtime', 'totalBytes'])
      expect(readFileSync(join(dir, 'maps', `${metric}.svg`), 'utf8')).toMatch(/^<svg/);
  });

  it('a bad sweep file is a usage error naming the field', async () => {
    const spec = join(dir, 'bad.json');
    writeFileSync(spec, JSON.stringify({ ...SPEC, seeds: -1 }));
    const stderr = await runInProcess([spec, '--runner', FAKE_RUNNER, '--no-progress']);
    expect(process.exitCode).toBe(2);
    expect(stderr).toMatch(/bad sweep spec: seeds/);
  });
});
