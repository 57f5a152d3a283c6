import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { precopy } from './in-process';
import type { MigrationResult } from '../../src/migration/result';

const EXAMPLES = join(__dirname, '..', '..', 'examples');

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-cli-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('precopy predict', () => {
  it("prints the verdict first, the rounds, then downtime, data and time; --json in run's shape", async () => {
    const r = await precopy(
      'predict',
      join(EXAMPLES, 'golden', 'golden-round.json'),
      '--json',
      join(dir, 'p.json'),
    );
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('converges in 3 rounds');
    expect(r.out).toMatch(/downtime\s+153 ms/);
    expect(r.out).toMatch(/total time\s+4\.9\d s/);
    const json = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')) as MigrationResult;
    expect(json.status).toBe('completed');
    expect(json.precopy.rounds.map((x) => x.final)).toEqual([false, false, true]);
    expect(Math.abs(json.ram.transferred / 2 ** 20 / 5052 - 1)).toBeLessThan(0.01);
    expect(json.precopy.stopReason).toBe('threshold');
  });

  it('says a migration that cannot converge is cancelled at its timeout, and what it would need', async () => {
    const r = await precopy(
      'predict',
      ...['--memory', '256MiB', '--populated', '130MiB', '--content', 'random', '--encodings', 'zero'],
      ...['--workload', 'uniform', '--offset', '0', '--size', '64MiB', '--rate', '31000pages/s'],
      ...['--max-bandwidth', '16MiB/s', '--timeout', '60s'],
    );
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^cancelled at 60\.\d s \(timeout\)$/);
    expect(lines[1]).toMatch(/^does not converge: λ = 1\.\d\d ≥ 1, needs ≥ \d+\.\d MiB\/s or auto-converge$/);
    // The table is capped: the first and last rounds, the ones between summed up in one line.
    expect(lines.filter((l) => /^\s+\d+\s/.test(l)).length).toBeLessThanOrEqual(11);
    expect(r.out).toMatch(/… \d+ more rounds/);
  });

  it('names a bad flag and exits 2', async () => {
    const r = await precopy('predict', '--memory', 'lots');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--memory: /);
  });
});

describe('precopy run', () => {
  it('runs a scenario in-process, prints a row per round and a summary, writes --json and --csv; exit 0', async () => {
    const json = join(dir, 'r.json');
    const csv = join(dir, 'r.csv');
    const r = await precopy(
      'run',
      join(EXAMPLES, 'incrementer', 'converge.json'),
      '--transport',
      'inproc',
      '--json',
      json,
      '--csv',
      csv,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8')) as MigrationResult;
    expect(result.status).toBe('completed');
    expect(Object.keys(result).slice(0, 6)).toEqual([
      'status',
      'total-time',
      'setup-time',
      'downtime',
      'expected-downtime',
      'ram',
    ]);
    // Not a TTY: plain rows, one per round (bulk first, stop-and-copy last), then the summary.
    const roundRows = r.out.split('\n').filter((l) => /\] round +\d+ /.test(l));
    expect(roundRows.length).toBe(result.precopy.rounds.length);
    expect(roundRows[0]).toMatch(/round +0 bulk/);
    expect(roundRows[roundRows.length - 1]).toMatch(/S&C/);
    expect(r.out).not.toContain(String.fromCharCode(27)); // no control characters off a TTY
    expect(r.out).toMatch(/status\s+completed/);
    expect(r.out).toMatch(/verified\s+yes/);
    expect(r.out).toMatch(/edge check\s+passed/);
    expect(r.out).toMatch(/downtime breakdown\s+final harvest/);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toMatch(/^round,start,duration,pagesHarvested/);
    expect(rows.length).toBe(result.precopy.rounds.length + 1);
  });

  it('exits 1 with the reason for a migration that does not complete', async () => {
    const r = await precopy(
      'run',
      join(EXAMPLES, 'incrementer', 'no-converge.json'),
      '--transport',
      'inproc',
      '--quiet',
    );
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/migration cancelled: timeout after 10000 ms/);
  });

  it('fast mode: a completed run exits 0 (metadata only, nothing to verify); a cancelled one still exits 1', async () => {
    const guest = [
      '--memory',
      '256MiB',
      '--workload',
      'uniform',
      '--rate',
      '64MiB/s',
      '--mode',
      'fast',
      '--quiet',
    ];
    const ok = await precopy('run', ...guest);
    expect({ code: ok.code, err: ok.err }).toEqual({ code: 0, err: '' });
    const cancelled = await precopy(
      'run',
      ...guest,
      '--rate',
      '1GiB/s',
      '--max-bandwidth',
      '16MiB/s',
      '--timeout',
      '2s',
    );
    expect(cancelled.code).toBe(1);
    expect(cancelled.err).toMatch(/migration cancelled: timeout/);
  });

  it('lets flags override the file', async () => {
    const json = join(dir, 'o.json');
    const r = await precopy(
      'run',
      join(EXAMPLES, 'incrementer', 'no-converge.json'),
      '--transport',
      'inproc',
      '--quiet',
      '--max-bandwidth',
      '1Gbit/s',
      '--downtime-limit',
      '30s',
      '--json',
      json,
    );
    expect(r.code).toBe(0);
    expect((JSON.parse(readFileSync(json, 'utf8')) as MigrationResult).precopy.scenario).toMatchObject({
      migration: { 'max-bandwidth': 125e6, 'downtime-limit': 30000 },
    });
  });

  it.each([
    [['--downtime-limit', 'soon'], /--downtime-limit: not a duration/],
    [
      ['--max-cpu-throttle', '100'],
      /--max-cpu-throttle: 100 is outside the allowed range: an integer in \[1, 99\]/,
    ],
    [['--memory', '-4GiB'], /--memory: /],
    [['--vcpus', 'two'], /--vcpus: /],
    [['--workload', 'bitcoin'], /--workload: unknown workload kind/],
    [['--encodings', 'raw,lz4'], /--encodings: `raw` stands alone/],
    [['--clock', 'sundial'], /--clock: must be virtual or wall/],
    [['--no-such-flag'], /unknown option '--no-such-flag'/],
  ])('bad usage %j → one clear error naming the flag as typed, exit 2', async (flags, message) => {
    const r = await precopy('run', '--transport', 'inproc', '--quiet', ...flags);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(
      r.err
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('precopy:') || l.startsWith('error:')).length,
    ).toBe(1);
  });

  it('rejects a scenario file that is not JSON or does not exist, exit 2', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "guest": ');
    expect((await precopy('run', bad)).err).toMatch(/is not JSON/);
    expect((await precopy('run', bad)).code).toBe(2);
    const missing = await precopy('run', join(dir, 'missing.json'));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read scenario/);
  });
});
