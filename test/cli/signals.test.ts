/**
 * Signals and orphans (issue 16 item 5, issue 17 item 1), on real processes: Ctrl-C in a
 * terminal (tmux) is QEMU's migrate_cancel (status cancelled, summary, --json/--csv written,
 * exit 1, the CANCEL reaches the destination); the destination `precopy run` starts never
 * outlives it, even killed with SIGKILL; `precopy dest --idle-limit` ends an idle destination.
 * Loopback only; every wait is bounded by a deadline.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MigrationControl } from '../../src/migration/control';
import { operatorControls } from '../../src/cli/signals';
import type { MigrationResult } from '../../src/migration/result';

const BIN = join(__dirname, '..', '..', 'bin', 'precopy.js');
const DEADLINE_MS = 30000;

/** A migration that never converges (40 MiB/s of writes over 32 MiB/s), paced at real time. */
const NEVER_CONVERGES = {
  guest: {
    memory: '32MiB',
    seed: 3,
    fill: { populated: '100%', content: 'random' },
    workload: { kind: 'uniform', rate: '40MiB/s' },
  },
  migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '50ms', timeout: '120s' },
  run: { clock: 'virtual', bandwidth: '1Gbit/s' },
};

let dir: string;
let scenario: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'precopy-signals-'));
  scenario = join(dir, 'never.json');
  writeFileSync(scenario, JSON.stringify(NEVER_CONVERGES));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Poll `check` until it returns a value (not undefined), or fail naming `what`. */
async function until<T>(what: string, check: () => T | undefined, deadline = DEADLINE_MS): Promise<T> {
  const end = Date.now() + deadline;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** `precopy run` on the never-converging scenario at 1x; resolves once its destination child runs. */
async function startRun(
  args: string[] = [],
): Promise<{ run: ChildProcess; dest: number; exit: Promise<number | null>; err: () => string }> {
  const run = spawn(process.execPath, [BIN, 'run', scenario, '--pace', '1x', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  run.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  run.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
  const dest = await until('the destination child', () => children(run.pid!)[0]);
  await until('round 0 on stdout', () => (/round\s+0 /.test(out) ? true : undefined));
  return { run, dest, exit, err: () => err };
}

const tmux = spawnSync('tmux', ['-V']).status === 0;
if (!tmux) process.stdout.write('signals.test: tmux is not installed; the terminal Ctrl-C test is skipped\n');

(tmux ? it : it.skip)(
  'Ctrl-C in a terminal: status cancelled, summary printed, --json and --csv written, exit 1, the destination discards',
  async () => {
    const session = `precopy-ctrlc-${process.pid}`;
    const json = join(dir, 'cancelled.json');
    const csv = join(dir, 'cancelled.csv');
    const exitFile = join(dir, 'exit');
    const command = `${process.execPath} ${BIN} run ${scenario} --pace 1x --json ${json} --csv ${csv}; echo $? > ${exitFile}; sleep 60`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '200', '-y', '60', command]);
    const pane = () =>
      execFileSync('tmux', ['capture-pane', '-p', '-S', '-200', '-t', session], { encoding: 'utf8' });
    try {
      await until('round 1 on the terminal', () => (/round\s+1 /.test(pane()) ? true : undefined));
      execFileSync('tmux', ['send-keys', '-t', session, 'C-c']);
      const code = await until('the run to exit', () =>
        existsSync(exitFile) && readFileSync(exitFile, 'utf8').trim() !== ''
          ? readFileSync(exitFile, 'utf8').trim()
          : undefined,
      );
      expect(code).toBe('1');
      const result = JSON.parse(readFileSync(json, 'utf8')) as MigrationResult;
      expect(result.status).toBe('cancelled');
      expect(result['error-desc']).toBe('cancelled by SIGINT');
      expect(result.precopy.guestRunsOn).toBe('source');
      expect(result.precopy.rounds.length).toBeGreaterThanOrEqual(2);
      expect(readFileSync(csv, 'utf8').trim().split('\n')).toHaveLength(result.precopy.rounds.length + 1);
      const text = pane();
      expect(text).toMatch(/status\s+cancelled/);
      expect(text).toMatch(/precopy: destination: discarded: cancelled by the source: cancelled by SIGINT/);
      expect(text).toMatch(/precopy: migration cancelled: cancelled by SIGINT/);
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  },
  60000,
);

it('SIGTERM cancels the same way; the destination child gets its token by environment and is stopped before the run exits', async () => {
  const json = join(dir, 'sigterm.json');
  const { run, dest, exit, err } = await startRun(['--json', json]);
  // Its token travels in its environment: argv is what `ps` shows everyone.
  const argv = readFileSync(`/proc/${dest}/cmdline`, 'utf8').split('\0');
  expect(argv).toContain('--parent-pipe');
  expect(argv).not.toContain('--token');
  run.kill('SIGTERM');
  expect(await exit).toBe(1);
  expect(alive(dest)).toBe(false);
  const result = JSON.parse(readFileSync(json, 'utf8')) as MigrationResult;
  expect(result.status).toBe('cancelled');
  expect(err()).toMatch(/migration cancelled: cancelled by SIGTERM/);
  // The result is shared: the destination's token is not in it.
  expect((result.precopy.scenario as { run: Record<string, unknown> }).run).not.toHaveProperty('token');
  expect(readFileSync(json, 'utf8')).not.toMatch(/"token"/);
}, 60000);

it('the destination child never outlives its parent, even one killed with SIGKILL', async () => {
  const { run, dest, exit } = await startRun();
  expect(alive(dest)).toBe(true);
  run.kill('SIGKILL');
  await exit;
  await until('the orphaned destination to exit', () => (alive(dest) ? undefined : true));
}, 60000);

/** A `precopy dest` with its stdin a pipe we hold; resolves when it listens. */
async function startDest(
  args: string[],
): Promise<{ child: ChildProcess; exit: Promise<number | null>; err: () => string }> {
  const child = spawn(process.execPath, [BIN, 'dest', '--port', '0', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PRECOPY_TOKEN: 'signals-test-token' },
  });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  expect((await lines.next()).value).toMatch(/^listening ws:/);
  return { child, exit, err: () => err };
}

it('negative: without --parent-pipe a destination outlives its closed stdin; with it, it exits', async () => {
  const watching = await startDest(['--parent-pipe']);
  const plain = await startDest([]);
  try {
    watching.child.stdin!.end();
    plain.child.stdin!.end();
    expect(await watching.exit).toBe(0);
    expect(watching.err()).toMatch(/stopping: its parent is gone \(stdin closed\)/);
    // The plain one had as long, and runs on.
    expect(alive(plain.child.pid!)).toBe(true);
  } finally {
    plain.child.kill('SIGTERM');
    await plain.exit;
  }
}, 60000);

it('--idle-limit ends a destination nobody migrates to; a bad one is exit 2 naming it', async () => {
  const idle = await startDest(['--idle-limit', '500ms']);
  expect(await idle.exit).toBe(0);
  expect(idle.err()).toMatch(/stopping: idle for 500 ms \(--idle-limit\)/);
  const bad = spawnSync(process.execPath, [BIN, 'dest', '--idle-limit', 'soon'], {
    env: { ...process.env, PRECOPY_TOKEN: 'signals-test-token' },
    encoding: 'utf8',
  });
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--idle-limit.*not a duration/);
}, 60000);

describe('operatorControls', () => {
  function install() {
    const control = new MigrationControl();
    const exits: string[] = [];
    const written: string[] = [];
    const detach = operatorControls(control, {
      err: { write: (s: string) => written.push(s) } as never,
      exitNow: (signal) => exits.push(signal),
    });
    return { control, exits, written, detach };
  }

  it('the first SIGINT cancels, the second exits at once; SIGUSR1 continues', async () => {
    const { control, exits, detach } = install();
    try {
      process.emit('SIGINT', 'SIGINT');
      expect(control.cancelled).toBe(true);
      expect(control.signal.reason).toBe('cancelled by SIGINT');
      expect(exits).toEqual([]);
      process.emit('SIGINT', 'SIGINT');
      expect(exits).toEqual(['SIGINT']);
    } finally {
      detach();
    }
    const second = install();
    try {
      const held = second.control.waitForContinue();
      process.emit('SIGUSR1', 'SIGUSR1');
      await held;
      expect(second.written.join('')).toMatch(/paused before switchover: send SIGUSR1/);
    } finally {
      second.detach();
    }
  });

  it('detached, the handlers are gone', () => {
    const { control, detach } = install();
    detach();
    const keep = () => undefined;
    process.on('SIGINT', keep); // so the emit below does not end the test process
    try {
      process.emit('SIGINT', 'SIGINT');
    } finally {
      process.off('SIGINT', keep);
    }
    expect(control.cancelled).toBe(false);
  });
});
