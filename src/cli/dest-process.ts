/**
 * The destination `precopy run` starts for itself: a child process running `precopy dest` on a
 * free loopback port with a fresh token, like QEMU's `-incoming`. Its first stdout line says
 * where it listens. The token goes in its environment (argv is visible in `ps`). It is its own
 * process group, so the terminal's Ctrl-C reaches only `precopy run` (which cancels, and the
 * CANCEL reaches the destination over the link); it watches its stdin, our pipe, and exits when
 * that closes: it dies with us however we die.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Subscription } from 'rxjs';
import { wallClock } from '../util/clock';
import { NODE_ENV_VARS, NODE_FLAGS } from './node-flags';
import { TOKEN_ENV } from './secrets';

export interface DestinationProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** The destination's own lines (its verdicts), for the summary. */
  lines: string[];
  stop(): Promise<void>;
  /**
   * Resolves once it has said how its migration ended (a `resumed` or `discarded` line), or after
   * `withinMs`: a CANCEL is still on its way when the source's run returns.
   */
  ended(withinMs: number): Promise<void>;
  /** Kill it now (the second Ctrl-C: no waiting). */
  kill(): void;
}

const BIN = join(__dirname, '..', '..', 'bin', 'precopy.js');

/** Start `precopy dest` on a free loopback port, accepting guests up to `maxMemory` bytes. */
export function startDestinationProcess(maxMemory?: number): Promise<DestinationProcess> {
  const token = randomBytes(16).toString('hex');
  const limit = maxMemory !== undefined ? ['--max-memory', String(maxMemory)] : [];
  // Started as the shebang would start it (node flags and environment), by path to this node.
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, BIN, 'dest', '--port', '0', '--parent-pipe', ...limit],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...NODE_ENV_VARS, [TOKEN_ENV]: token },
      detached: true,
    },
  );
  // The pipe is only a lifeline: it must not keep this process alive, nor its end be written.
  child.stdin!.on('error', () => undefined);
  (child.stdin as Socket).unref();
  const lines: string[] = [];
  let onOutcome: () => void = () => undefined;
  const outcome = new Promise<void>((resolve) => (onOutcome = resolve));
  const ended = async (withinMs: number) => {
    let timer: Subscription | undefined;
    const deadline = new Promise<void>((resolve) => (timer = wallClock().schedule(resolve, withinMs)));
    await Promise.race([outcome, exited, deadline]);
    timer?.unsubscribe();
  };
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // 'close', not 'exit': its last lines (a discard's reason) are read by then.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (running()) child.kill('SIGTERM');
    await exited;
  };
  const kill = () => {
    if (running()) child.kill('SIGKILL');
  };
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /^listening (ws:\/\/\S+)/.exec(line);
      if (m) resolve({ url: m[1]!, token, child, lines, stop, ended, kill });
      else {
        lines.push(line);
        if (/^(resumed|discarded)/.test(line)) onOutcome();
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`destination process exited (${code}) before listening: ${stderr.trim()}`)),
    );
    child.once('error', reject);
  });
}
