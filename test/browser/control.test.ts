/**
 * The dashboard's control bar in a real headless Chromium, on virtual-time in-process runs that
 * yield to the event loop once per rate window (the CLI's `--pace max`): the page is live while
 * the run goes, Continue releases a run held before switchover, Cancel ends one `cancelled`, and
 * the set-parameters form reaches the engine (or shows the error naming the field).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { pacer } from '../../src/cli/pace';
import { MigrationControl, runScenario } from '../../src/migration/index';
import type { MigrationResult } from '../../src/migration/result';
import { startDashboard, type Dashboard } from '../../src/viz/dashboard-server';
import { launchChromium, OUTPUT_DIR } from './chromium';

/** 32 MiB at 24 MiB/s of writes over 32 MiB/s: many rounds in virtual time. */
function scenario(migration: Record<string, unknown>, rate = '24MiB/s') {
  return {
    guest: {
      memory: '32MiB',
      seed: 3,
      fill: { populated: '100%', content: 'random' },
      workload: { kind: 'uniform', rate },
    },
    migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '50ms', ...migration },
    run: { clock: 'virtual', transport: 'inproc', bandwidth: '1Gbit/s' },
  };
}

describe('dashboard control bar', () => {
  let browser: Browser;
  let context: BrowserContext;
  let dashboard: Dashboard | undefined;
  beforeAll(async () => {
    mkdirSync(OUTPUT_DIR, { recursive: true });
    browser = await launchChromium();
    context = await browser.newContext();
    await context.newPage(); // single-process build: one page stays open
  });
  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
  });
  afterAll(() => browser?.close());

  /** A live dashboard with a control, a page on it, and the run started (paced at `speed`x). */
  async function watch(
    input: unknown,
    speed = 10,
  ): Promise<{ page: Page; control: MigrationControl; run: Promise<MigrationResult>; errors: string[] }> {
    const control = new MigrationControl();
    dashboard = await startDashboard({ title: 'control', control });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // A 400 the form shows is the answer under test, not a page error.
    page.on(
      'console',
      (m) => m.type() === 'error' && !/status of 400/.test(m.text()) && errors.push(m.text()),
    );
    await page.goto(dashboard.url);
    await page.waitForSelector('#conn[data-conn="live"]');
    await page.waitForSelector('#control-cancel');
    const live = dashboard;
    const run = runScenario(input, { control, pace: pacer(speed), onEvent: (e) => live.publish(e) });
    return { page, control, run, errors };
  }

  const statusIs = (page: Page, status: string) =>
    page.waitForFunction(
      (s) => document.querySelector<HTMLElement>('section.run')?.dataset.status === s,
      status,
      {
        timeout: 30_000,
      },
    );

  it('is live during a virtual-time run; Continue releases pre-switchover and the run completes', async () => {
    const { page, run, errors } = await watch(scenario({ 'pause-before-switchover': true }, '1MiB/s'));
    let settled = false;
    void run.finally(() => (settled = true));
    // Live: the page shows the run active, with rounds, while it still runs.
    await page.waitForFunction(() => (window.precopy.views[0]?.rounds.length ?? 0) >= 1, undefined, {
      timeout: 30_000,
    });
    expect(settled).toBe(false);
    await statusIs(page, 'pre-switchover');
    expect(await page.isEnabled('#control-continue')).toBe(true);
    expect(settled).toBe(false);
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-pre-switchover.png') });
    await page.click('#control-continue');
    const result = await run;
    expect(result.status).toBe('completed');
    expect(result.precopy.verification?.passed).toBe(true);
    await statusIs(page, 'completed');
    expect(await page.isDisabled('#control-cancel')).toBe(true);
    expect(await page.isDisabled('#control-continue')).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('Cancel ends the run cancelled, with the guest on the source', async () => {
    const { page, run, errors } = await watch(scenario({ timeout: '120s' }, '40MiB/s'));
    await page.waitForFunction(() => (window.precopy.views[0]?.rounds.length ?? 0) >= 2, undefined, {
      timeout: 30_000,
    });
    expect(await page.isDisabled('#control-continue')).toBe(true);
    await page.click('#control-cancel');
    const result = await run;
    expect(result.status).toBe('cancelled');
    expect(result['error-desc']).toBe('cancelled from the dashboard');
    expect(result.precopy.guestRunsOn).toBe('source');
    await statusIs(page, 'cancelled');
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('the set-parameters form: an error names the field; a good value reaches the engine', async () => {
    const { page, control, run, errors } = await watch(scenario({ timeout: '600s' }, '400MiB/s'));
    await page.waitForFunction(() => (window.precopy.views[0]?.rounds.length ?? 0) >= 1, undefined, {
      timeout: 30_000,
    });
    await page.fill('input[name="max-bandwidth"]', 'fast');
    await page.click('#control-apply');
    await page.waitForFunction(() => document.getElementById('control-message')?.dataset.tone === 'bad');
    expect(await page.textContent('#control-message')).toMatch(/^max-bandwidth: not a rate: "fast"/);
    await page.fill('input[name="max-bandwidth"]', '8MiB/s');
    await page.click('#control-apply');
    await page.waitForFunction(() => document.getElementById('control-message')?.dataset.tone === 'ok');
    // The rounds from the next window on carry it.
    await page.waitForFunction(
      (bw) => window.precopy.views[0]!.rounds.some((r) => r.maxBandwidth === bw),
      8 * 2 ** 20,
      { timeout: 30_000 },
    );
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-set-parameters.png') });
    control.cancel();
    const result = await run;
    expect(result.precopy.parameterChanges?.[0]?.['max-bandwidth']).toBe(8 * 2 ** 20);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  it('Start postcopy switches a run that cannot converge: the status goes postcopy-active, verified, its chart drawn', async () => {
    // Paced at 1x: the page keeps up with the rounds, so the click lands while the run is live.
    const { page, run, errors } = await watch(
      scenario({ 'postcopy-ram': true, timeout: '120s' }, '40MiB/s'),
      1,
    );
    await page.waitForFunction(() => (window.precopy.views[0]?.rounds.length ?? 0) >= 2, undefined, {
      timeout: 30_000,
    });
    expect(await page.isEnabled('#control-postcopy')).toBe(true);
    await page.click('#control-postcopy');
    await page.waitForFunction(() => document.getElementById('control-message')?.dataset.tone !== undefined);
    expect(await page.textContent('#control-message')).toBe('postcopy at the next round decision');
    const result = await run;
    expect(result.precopy.rounds.filter((r) => !r.final).length).toBeLessThan(20);
    expect([result.status, result.precopy.stopReason, result.precopy.verification?.passed]).toEqual([
      'completed',
      'postcopy',
      true,
    ]);
    await statusIs(page, 'completed');
    expect(await page.evaluate(() => window.precopy.views[0]!.statesSeen)).toContain('postcopy-active');
    expect(await page.isDisabled('#control-postcopy')).toBe(true);
    // The postcopy chart as the page drew it (ECharts' own option): the requests and each vCPU's blocktime.
    const drawn = () =>
      page.evaluate(() => {
        const ec = (window as unknown as { echarts: typeof import('echarts') }).echarts;
        const el = document.querySelector<HTMLElement>('.chart[data-chart="postcopy"]');
        const option =
          el && (ec.getInstanceByDom(el)?.getOption() as { series: { id: string; data: unknown[] }[] });
        return option ? option.series.map((x) => [x.id, x.data.length > 0]) : [];
      });
    await page.waitForFunction(() => window.precopy.panels[0]?.drawnSeq === window.precopy.views[0]?.seq);
    expect(await drawn()).toEqual([
      ['requests', true],
      ['vcpu0', true],
    ]);
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-postcopy.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
