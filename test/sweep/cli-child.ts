/** Child processes (`precopy`, queue workers) with their stderr collected, for the end-to-end sweep tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const SWEEP_CLI = join(__dirname, 'fixtures', 'sweep-cli.ts');
export const FAKE_RUNNER = join(__dirname, 'fixtures', 'fake-runner.ts');

export interface Child {
  process: ChildProcess;
  stderr: string[];
  /** Resolves with the exit code (or the signal name). */
  exit: Promise<number | string>;
  /** Resolves once a stderr line matches. */
  waitFor(pattern: RegExp): Promise<string>;
}

/** `precopy sweep ARGS` as a child process (the sweep command alone, see fixtures/sweep-cli.ts). */
export function precopySweep(args: string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', SWEEP_CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return watch(child);
}

/** Collect a child's stderr lines and its exit. */
export function watch(child: ChildProcess): Child {
  const stderr: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      stderr.push(line);
      for (const w of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  const exit = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal!)),
  );
  return {
    process: child,
    stderr,
    exit,
    waitFor(pattern) {
      const seen = stderr.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}
