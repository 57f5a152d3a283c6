/** `precopy dest` as a real child process, as `precopy run` and users start it. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { destCommand } from '../../src/cli/dest';
import { connectSource } from '../../src/link/index';
import { TOKEN, makeGuest, migrate } from '../link/helpers';

const BIN = join(__dirname, '..', '..', 'bin', 'precopy.js');

test('prints its URL first, survives a bad client, verifies a migration, exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [BIN, 'dest', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PRECOPY_TOKEN: TOKEN },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const first = (await lines.next()).value as string;
    expect(first).toMatch(/^listening ws:\/\/127\.0\.0\.1:\d+$/);
    const url = first.slice('listening '.length);

    const bad = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((resolve) => bad.once('open', resolve));
    bad.send(Buffer.from('garbage'));
    expect(await new Promise((resolve) => bad.once('close', resolve))).toBe(1002);
    expect((await lines.next()).value).toMatch(
      /^discarded: frame of 7 bytes is shorter than the 16-byte header/,
    );

    const session = await connectSource({ transport: 'ws', url, token: TOKEN });
    const verdict = await migrate(session, makeGuest(100, 5), 2);
    await session.close();
    expect(verdict.passed).toBe(true);
    expect((await lines.next()).value).toMatch(/^resumed, verified: 4 rounds, \d+ pages/);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});

test('flags are checked and named', async () => {
  const errors: string[] = [];
  const run = (args: string[]) =>
    destCommand()
      .configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => undefined })
      .parseAsync(args, { from: 'user' });
  await expect(run(['--port', '70000'])).rejects.toThrow(/--port <port>.*must be an integer in \[0, 65535\]/);
  const saved = process.env.PRECOPY_TOKEN;
  delete process.env.PRECOPY_TOKEN;
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await expect(run(['--port', '1'])).rejects.toThrow(
      /must present a token.*set PRECOPY_TOKEN in the environment/,
    );
  } finally {
    err.mockRestore();
    if (saved !== undefined) process.env.PRECOPY_TOKEN = saved;
  }
  await expect(run(['--max-payload', 'lots'])).rejects.toThrow(/--max-payload.*not a size/);
  await expect(run(['--max-payload', '1KiB'])).rejects.toThrow(/--max-payload.*must be in \[64KiB, 4GiB\)/);
  expect(errors.length).toBeGreaterThan(0);
});

test('--max-memory: a guest larger than the limit is refused at HELLO, naming the limit', async () => {
  const child = spawn(process.execPath, [BIN, 'dest', '--port', '0', '--max-memory', '256KiB'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PRECOPY_TOKEN: TOKEN },
  });
  try {
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const url = ((await lines.next()).value as string).slice('listening '.length);
    const session = await connectSource({ transport: 'ws', url, token: TOKEN });
    await expect(session.hello({ pages: 100, pageSize: 4096 })).rejects.toThrow(
      /HELLO.pages 100 exceeds this destination's limit of 64 pages/,
    );
  } finally {
    child.kill('SIGTERM');
  }
});
