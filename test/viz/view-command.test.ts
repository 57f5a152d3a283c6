import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { view } from '../../src/cli/view';
import { buildResult } from './fixtures';

function status(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

describe('precopy view', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'precopy-view-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(buildResult()));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(buildResult({ dirtyRate: 400 * 1024 * 1024 })));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the URL with its token, serves the page until told to stop, then closes', async () => {
    const printed: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      printed.push(String(chunk));
      return true;
    });
    let stop!: () => void;
    const until = new Promise<void>((resolve) => (stop = resolve));
    try {
      const serving = view(
        [join(dir, 'a.json'), join(dir, 'b.json')],
        { host: '127.0.0.1', port: '0' },
        until,
      );
      while (printed.length === 0) await new Promise((r) => setImmediate(r));
      const url = /precopy view: (\S+)/.exec(printed[0]!)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=/);
      expect(await status(url)).toBe(200);
      expect(await status(url.replace(/token=.*/, 'token=wrong'))).toBe(403);
      stop();
      await serving;
      await expect(status(url)).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      write.mockRestore();
    }
  });

  it('bad flags and files are input errors naming what is wrong', async () => {
    const never = new Promise<void>(() => undefined);
    await expect(view([join(dir, 'a.json')], { host: '127.0.0.1', port: '99999' }, never)).rejects.toThrow(
      /--port: expected an integer 0\.\.65535/,
    );
    process.env.PRECOPY_DASHBOARD_TOKEN = 'x';
    try {
      await expect(view([join(dir, 'a.json')], { host: '127.0.0.1', port: '0' }, never)).rejects.toThrow(
        /PRECOPY_DASHBOARD_TOKEN: 16 to 128 characters/,
      );
    } finally {
      delete process.env.PRECOPY_DASHBOARD_TOKEN;
    }
    writeFileSync(join(dir, 'bad.json'), '{"status": "completed"}');
    await expect(view([join(dir, 'bad.json')], { host: '127.0.0.1', port: '0' }, never)).rejects.toThrow(
      /bad\.json: total-time: /,
    );
  });
});
