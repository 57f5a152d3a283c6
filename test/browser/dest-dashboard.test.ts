/**
 * `precopy dest --dashboard` as users start it (a child process), watched in the real headless
 * Chromium while a migration runs into it: the page shows that migration's rounds and verdict.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { connectSource } from '../../src/link/index';
import { makeGuest, migrate, TOKEN } from '../link/helpers';
import { browserSuite, OUTPUT_DIR } from './chromium';

const BIN = join(__dirname, '..', '..', 'bin', 'precopy.js');

describe('precopy dest --dashboard in a browser', () => {
  const suite = browserSuite();

  it("shows each migration's rounds, state and verdict as the destination saw them", async () => {
    const child = spawn(process.execPath, [BIN, 'dest', '--port', '0', '--dashboard'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PRECOPY_TOKEN: TOKEN },
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const stdout = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      const stderr = createInterface({ input: child.stderr! })[Symbol.asyncIterator]();
      const url = ((await stdout.next()).value as string).slice('listening '.length);
      const dashboard = /^precopy dest: dashboard (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/.exec(
        (await stderr.next()).value as string,
      );
      expect(dashboard).not.toBeNull();

      const errors: string[] = [];
      const page = await suite.openPage(errors, { width: 1200, height: 900 });
      await page.goto(dashboard![1]!);
      await page.waitForFunction(() => window.precopyDest?.view !== null && window.precopyDest.drawnSeq >= 0);
      expect(await page.textContent('#current-title')).toBe('waiting for a migration');

      const session = await connectSource({ transport: 'ws', url, token: TOKEN });
      const verdict = await migrate(session, makeGuest(400, 3), 3);
      await session.close();
      expect(verdict.passed).toBe(true);

      await page.waitForFunction(() => window.precopyDest.view?.migrations[0]?.outcome?.verified === true);
      await page.waitForFunction(() => window.precopyDest.drawnSeq === window.precopyDest.view?.seq);
      expect(await page.textContent('#current-title')).toBe('migration #1');
      expect(await page.textContent('#current-pill')).toBe('verified');
      const cells = await page.$$eval('#migrations tbody tr[data-migration="1"] td', (tds) =>
        tds.map((td) => td.textContent),
      );
      expect(cells.slice(0, 4)).toEqual(['1', 'verified', 'verified', '5']);
      expect(cells[4]).toMatch(new RegExp(`^${verdict.pagesReceived} \\(\\d`));
      expect(cells[7]).toBe(`${verdict.destinationHash.slice(0, 16)}…`);
      const bars = await page.evaluate(() => {
        const option = window.precopyDest.chart!.getOption() as { series: { data: unknown[] }[] };
        return option.series[0]!.data;
      });
      const roundPages = await page.evaluate(() =>
        window.precopyDest.view!.migrations[0]!.rounds.map((r) => r.pages),
      );
      expect(bars).toEqual(roundPages);
      expect((bars as number[]).reduce((a, b) => a + b, 0)).toBe(verdict.pagesReceived);
      await page.screenshot({ path: join(OUTPUT_DIR, 'dest-dashboard.png'), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
