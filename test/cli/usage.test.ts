/**
 * The command line's surface (issue 17 item 5): one exit-code rule (2 for every bad usage),
 * durations with units, suggestions for mistyped fields and workload kinds, errors in the
 * user's spelling, each command listing only its own flags, `--json -` on stdout.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { precopy } from './in-process';
import { didYouMean } from '../../src/util/suggest';
import { BOOLEAN_FLAGS, DEFAULTS, helpOf, SCENARIO_FLAG_NAMES } from '../../src/cli/scenario-options';
import { parseScenario } from '../../src/migration/scenario';

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-usage-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GUEST = ['--memory', '64MiB', '--workload', 'uniform', '--rate', '10MiB/s'];

it('a duration without a unit is an error naming the flag and suggesting units', async () => {
  const r = await precopy('predict', ...GUEST, '--timeout', '5');
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/--timeout: "5" needs a unit: 5s or 5ms\?/);
  expect((await precopy('predict', ...GUEST, '--timeout', '5s')).code).toBe(0);
});

it("errors name the user's spelling: the flag they typed, or the file's path", async () => {
  const flag = await precopy(
    'predict',
    '--memory',
    '64MiB',
    '--workload',
    'hotcold',
    '--rate',
    '1MiB/s',
    '--hot',
    '8MiB',
    '--hot-share',
    '2',
  );
  expect(flag.code).toBe(2);
  expect(flag.err).toMatch(/bad scenario: --hot-share: /);
  const file = join(dir, 'hot.json');
  writeFileSync(
    file,
    JSON.stringify({
      guest: { memory: '64MiB', workload: { kind: 'hotcold', rate: '1MiB/s', hot: '8MiB', hotShare: 2 } },
    }),
  );
  const fromFile = await precopy('predict', file);
  expect(fromFile.code).toBe(2);
  expect(fromFile.err).toMatch(/bad scenario: guest\.workload\.hotShare: /);
});

it('suggestions for a mistyped field, flag and workload kind; parameters with no kind say so', async () => {
  const file = join(dir, 'typo.json');
  writeFileSync(
    file,
    JSON.stringify({ guest: { memory: '64MiB' }, migration: { 'max-bandwith': '1GiB/s' } }),
  );
  const field = await precopy('predict', file);
  expect(field.code).toBe(2);
  expect(field.err).toMatch(/unknown field\(s\) max-bandwith \(did you mean max-bandwidth\?\)/);
  const option = await precopy('predict', ...GUEST, '--max-bandwith', '1GiB/s');
  expect(option.code).toBe(2);
  expect(option.err).toMatch(/unknown option '--max-bandwith'[\s\S]*Did you mean --max-bandwidth\?/);
  const kind = await precopy('predict', '--memory', '64MiB', '--workload', 'hotcld');
  expect(kind.code).toBe(2);
  expect(kind.err).toMatch(/unknown workload kind.*\(did you mean hotcold\?\)/);
  const noKind = await precopy('predict', '--memory', '64MiB', '--rate', '200MiB/s');
  expect(noKind.code).toBe(2);
  expect(noKind.err).toMatch(
    /guest\.workload\.kind: missing: the workload's parameters need a kind \(--workload idle \| uniform/,
  );
});

it('every command exits 2 on an unknown option', async () => {
  const commands = [['run'], ['predict'], ['report'], ['sweep'], ['view'], ['dest'], ['import-qmp']];
  // worker's required --queue is checked before unknown options.
  for (const command of [...commands, ['worker', '--queue', 'redis://127.0.0.1:1']]) {
    const r = await precopy(...command, '--no-such-flag');
    expect({ command, code: r.code }).toEqual({ command, code: 2 });
    expect(r.err).toMatch(/unknown option '--no-such-flag'/);
  }
});

it("each command lists only its flags, grouped; predict's --json - writes stdout", async () => {
  const predict = await precopy('predict', '--help');
  expect(predict.out).toMatch(/--bandwidth/);
  for (const runOnly of ['--transport', '--dest', '--clock', '--post-run', '--backing'])
    expect(predict.out).not.toContain(runOnly);
  const run = await precopy('run', '--help');
  for (const heading of ['Guest and workload:', 'Migration (QEMU', 'Run (clock, link, destination):'])
    expect(run.out).toContain(heading);
  expect(run.out).toMatch(/--pace <pace>/);
  const json = await precopy('predict', ...GUEST, '--json', '-');
  expect(json.code).toBe(0);
  expect(JSON.parse(json.out).status).toBe('completed');
  expect(json.err).toMatch(/converges in \d+ rounds/);
});

it('negative: a name far from every candidate gets no suggestion (no guessing)', () => {
  expect(didYouMean('max-bandwith', ['max-bandwidth', 'downtime-limit'])).toBe(
    ' (did you mean max-bandwidth?)',
  );
  expect(didYouMean('zzzzzz', ['max-bandwidth', 'downtime-limit'])).toBe('');
  expect(didYouMean('timeout', ['timeout'])).toBe('');
});

it("no command's help prints this checkout's paths (the runner default did)", async () => {
  const root = join(__dirname, '..', '..');
  for (const command of [
    'run',
    'predict',
    'sweep',
    'worker',
    'dest',
    'view',
    'report',
    'import-qmp',
    'record-qmp',
  ]) {
    const help = await precopy(command, '--help');
    expect({ command, code: help.code }).toEqual({ command, code: 0 });
    expect({ command, leaks: help.out.includes(root) }).toEqual({ command, leaks: false });
  }
});

it("every scenario flag's help says what it sets, and the default it shows is the schema's own", () => {
  expect(SCENARIO_FLAG_NAMES.filter((flag) => helpOf(flag).startsWith('scenario field'))).toEqual([]);
  const base = parseScenario({});
  for (const [flag, shown] of Object.entries(DEFAULTS)) {
    // --workload idle's defaults equal the base's; other flags are set alone on top of it.
    const parsed = parseScenario({}, { [flag]: BOOLEAN_FLAGS.has(flag) ? shown === 'on' : shown });
    expect({ flag, scenario: parsed }).toEqual({ flag, scenario: base });
  }
  // Negative: a default shown wrong is caught (128MiB/s is the real max-bandwidth default).
  expect(parseScenario({}, { 'max-bandwidth': '100MiB/s' })).not.toEqual(base);
});
