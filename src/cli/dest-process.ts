/**
 * The destination `precopy run` starts for itself: a child process running `precopy dest` on a
 * free loopback port with a fresh token, like QEMU's `-incoming`. Its first stdout line says
 * where it listens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NODE_ENV_VARS, NODE_FLAGS } from './node-flags';

export interface DestinationProcess {
  url: string;
  token: string;
  child: ChildProcess;
  /** The destination's own lines (its verdicts), for the summary. */
  lines: string[];
  stop(): Promise<void>;
}

const BIN = join(__dirname, '..', '..', 'bin', 'precopy.js');

/** Start `precopy dest` on a free loopback port, accepting guests up to `maxMemory` bytes. */
export function startDestinationProcess(maxMemory?: number): Promise<DestinationProcess> {
  const token = randomBytes(16).toString('hex');
  const limit = maxMemory !== undefined ? ['--max-memory', String(maxMemory)] : [];
  // Started as the shebang would start it (node flags and environment), by path to this node.
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, BIN, 'dest', '--port', '0', '--token', token, ...limit],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...NODE_ENV_VARS },
    },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const m = /^listening (ws:\/\/\S+)/.exec(line);
      if (m) resolve({ url: m[1]!, token, child, lines, stop });
      else lines.push(line);
    });
    child.once('exit', (code) =>
      reject(new Error(`destination process exited (${code}) before listening: ${stderr.trim()}`)),
    );
    child.once('error', reject);
  });
}
