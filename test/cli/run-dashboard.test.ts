/**
 * `precopy run --dashboard` as a user runs it: a real process prints the dashboard's URL (with
 * its token), serves the page while migrating and afterwards, refuses a missing token, and
 * exits with the migration's status on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');

function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
  });
}

it('serves the run on a token URL until Ctrl-C, then exits 0 for a verified migration', async () => {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin', 'precopy.js'),
      'run',
      join(ROOT, 'examples', 'incrementer', 'converge.json'),
      '--transport',
      'inproc',
      '--quiet',
      '--dashboard',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      const m = /dashboard at (http:\/\/127\.0\.0\.1:\d+\/\S*token=\S+)/.exec(err);
      if (m && /keeps serving/.test(err)) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(`exited early: ${err}`)));
  });
  try {
    expect(await status(url)).toBe(200);
    expect(await status(url.replace(/token=[^&]+/, 'token=wrong'))).toBe(403);
    expect(await status(url.replace(/\?.*$/, ''))).toBe(403);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
});
