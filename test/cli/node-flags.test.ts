import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDestinationProcess } from '../../src/cli/dest-process';
import { NODE_ENV_VARS, NODE_FLAGS, shebang } from '../../src/cli/node-flags';
import { VERSION as WIRE_VERSION } from '../../src/wire/constants';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'precopy.js');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  scripts: { start: string };
};

/**
 * The environment a process was started with, from /proc (these tests run on Linux, as CI does).
 * glibc parses GLIBC_TUNABLES in place, writing a NUL over each ':' between tunables: undone here.
 */
function environOf(pid: number): Record<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8').replace(/\0(?=glibc\.)/g, ':');
  const entries = raw.split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

describe('every precopy process runs node with NODE_FLAGS and NODE_ENV_VARS', () => {
  it('bin/precopy.js starts node through its shebang with them, and the shebang works here', () => {
    expect(readFileSync(BIN, 'utf8').split('\n')[0]).toBe(shebang());
    expect(shebang()).toContain(`node ${NODE_FLAGS.join(' ')}`);
    for (const [name, value] of Object.entries(NODE_ENV_VARS))
      expect(shebang()).toContain(`${name}=${value} `);
    // Run through the shebang itself, as `npm start` and `npx precopy` do: env -S must split it.
    // --version also says which wire protocol this build speaks.
    expect(execFileSync(BIN, ['--version'], { encoding: 'utf8' })).toBe(
      `precopy ${pkg.version} (wire protocol v${WIRE_VERSION})\n`,
    );
  });

  it('npm start goes through the shebang', () => {
    expect(pkg.scripts.start).toMatch(/^\.\/bin\/precopy\.js run /);
  });

  it('the destination precopy run starts gets them', async () => {
    const dest = await startDestinationProcess();
    try {
      const args = dest.child.spawnargs;
      const bin = args.findIndex((a) => a.endsWith(join('bin', 'precopy.js')));
      expect(bin).toBeGreaterThan(0);
      expect(args.slice(1, bin)).toEqual([...NODE_FLAGS]);
      expect(environOf(dest.child.pid!)).toMatchObject(NODE_ENV_VARS);
    } finally {
      await dest.stop();
    }
  });
});
