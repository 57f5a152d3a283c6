/**
 * Bad input (issue 16, item 6): each case exits 2 with one short message naming the field
 * (its user's spelling) and what is allowed, a huge value or key cut to an excerpt, and nothing
 * started. The command line runs in this process (as in run.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { precopy } from './in-process';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-bad-input-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function scenarioFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Big enough that echoing it would flood stderr (the issue saw 52 MB of it); any length over 40 is cut. */
const HUGE = 8_000_000;

describe('precopy run: a bad scenario is a usage error, quoted short', () => {
  it.each([
    [
      'an 8 MB value',
      () => JSON.stringify({ guest: { memory: 'x'.repeat(HUGE) } }),
      /guest\.memory: not a size: "x{20,}"… \(8000000 characters\)/,
    ],
    [
      'an 8 MB key',
      () => JSON.stringify({ guest: { ['k'.repeat(HUGE)]: 1 } }),
      /guest: unknown field\(s\) k{20,}… \(8000000 characters\)/,
    ],
  ])('%s: exit 2, the field named, the value cut (stderr under 1 KB)', async (_what, text, message) => {
    const r = await precopy('run', scenarioFile('huge.json', text()), '--transport', 'inproc');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err.length).toBeLessThan(1024);
    expect(r.out).toBe('');
  });

  it.each([
    ['a JSON array', '[1, 2]'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"guest"'],
  ])('a scenario that is %s: exit 2, "must be a JSON object"', async (_what, text) => {
    const r = await precopy('run', scenarioFile('not-object.json', text));
    expect(r).toMatchObject({ code: 2, out: '' });
    expect(r.err).toMatch(
      /precopy: bad scenario: \(scenario\): must be a JSON object \{guest, migration, run\}/,
    );
  });

  it('a scenario part that is not an object names the part', async () => {
    const r = await precopy('run', scenarioFile('part.json', '{"guest": [1]}'), '--memory', '4MiB');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/guest: must be an object/);
  });
});

describe('precopy run: postcopy where it cannot run is refused before anything starts', () => {
  it.each([
    [
      ['--clock', 'wall'],
      /--postcopy-ram: postcopy-ram runs in virtual time only; allowed: run\.clock virtual/,
    ],
    [['--mode', 'fast'], /--postcopy-ram: postcopy-ram needs pages with contents; allowed: run\.mode full/],
  ])(
    '%j: exit 2 naming postcopy-ram (it used to fail mid-run, and hang in wall time)',
    async (flags, message) => {
      const r = await precopy(
        'run',
        ...['--memory', '4MiB', '--workload', 'uniform', '--rate', '64MiB/s', '--transport', 'inproc'],
        ...['--postcopy-ram', '--postcopy-after-rounds', '1', ...flags],
      );
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.out).toBe('');
    },
  );
});

describe('precopy dest: bad flags exit 2 naming the flag and its range', () => {
  it.each([
    [
      ['--max-payload', '1KiB'],
      /--max-payload.*must be in \[64KiB, 4GiB\).*got 1\.0 KiB|--max-payload.*must be in \[64KiB, 4GiB\)/,
    ],
    [['--max-payload', '8GiB'], /--max-payload.*must be in \[64KiB, 4GiB\)/],
    [['--max-payload', 'lots'], /--max-payload.*not a size: "lots"/],
    [['--host', '256.1.1.1'], /--host 256\.1\.1\.1: not an address this machine can listen on/],
    [['--port', '65536'], /--port.*\[0, 65535\]/],
  ])('precopy dest %j', async (flags, message) => {
    const r = await withEnv({ PRECOPY_TOKEN: 'secret' }, () => precopy('dest', ...flags));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).not.toMatch(/listening/);
  });

  it.each([
    [undefined, /the source must present a token.*set PRECOPY_TOKEN in the environment/],
    ['', /PRECOPY_TOKEN: must not be empty/],
    ['t'.repeat(256), /PRECOPY_TOKEN: must be at most 255 bytes, got 256/],
  ])('PRECOPY_TOKEN=%j is checked before listening', async (token, message) => {
    const r = await withEnv({ PRECOPY_TOKEN: token }, () => precopy('dest', '--port', '0'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).not.toMatch(/listening/);
  });
});

describe('a secret on the command line is refused (ps shows argv to every user)', () => {
  it.each([
    [['dest', '--port', '0'], 'PRECOPY_TOKEN'],
    [['run', '--transport', 'inproc', '--memory', '1MiB'], 'PRECOPY_TOKEN'],
    [['view', 'no-such.json'], 'PRECOPY_DASHBOARD_TOKEN'],
  ])('precopy %j --token', async (argv, env) => {
    const r = await withEnv({ PRECOPY_TOKEN: 'secret' }, () => precopy(...argv, '--token', 'secret'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `--token: not accepted on the command line, where ps shows it to every user; set ${env}`,
    );
    expect(r.out).toBe('');
  });

  it('a bad PRECOPY_DASHBOARD_TOKEN stops run --dashboard before the migration starts', async () => {
    const r = await withEnv({ PRECOPY_DASHBOARD_TOKEN: 'short' }, () =>
      precopy('run', '--transport', 'inproc', '--memory', '1MiB', '--dashboard'),
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/PRECOPY_DASHBOARD_TOKEN: 16 to 128 characters/);
    expect(r.out + r.err).not.toMatch(/round|completed/);
  });
});

/** Run with these environment variables (undefined: unset), restored afterwards. */
async function withEnv<T>(vars: Record<string, string | undefined>, body: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  set(vars);
  try {
    return await body();
  } finally {
    set(saved);
  }
}
