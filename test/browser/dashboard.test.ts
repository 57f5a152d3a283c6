/**
 * The dashboard in a real headless Chromium: a short virtual-time migration watched live, the view
 * page for two saved results side by side, the token, and the static reports opened as documents.
 * Screenshots go to test-output/ (gitignored).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { runScenario } from '../../src/migration';
import type { MigrationEvent, MigrationResult } from '../../src/migration/result';
import { ACTIVE_NODE_SIZE, CHART_IDS } from '../../src/viz/charts';
import { dashboardForResults, startDashboard, type Dashboard } from '../../src/viz/dashboard-server';
import { reportHtml, reportSvg } from '../../src/viz/report';
import { checkResult } from '../../src/viz/result-file';
import { buildResult, eventsFor } from '../viz/fixtures';
import { browserSuite, OUTPUT_DIR } from './chromium';

/** A migration of a few rounds that takes a second or two of wall time in virtual time. */
const SCENARIO = {
  guest: {
    memory: '128MiB',
    vcpus: 1,
    seed: 7,
    workload: { kind: 'hotcold', rate: '64MiB/s', hot: '32MiB' },
  },
  migration: { 'max-bandwidth': '128MiB/s', 'downtime-limit': '8ms' },
  run: { clock: 'virtual', transport: 'inproc', bandwidth: '128MiB/s' },
};

const MiB = 1024 * 1024;
const PER_ROUND = ['rates', 'remaining', 'lambda', 'downtime', 'throttle', 'bytes', 'prediction'];

interface ChartDump {
  x: number | null;
  series: { id: string; type: string; n: number; data: unknown[] }[];
}

/** Every chart of one run as the page drew it: ECharts' own merged option, read back from the instance. */
function readCharts(page: Page, run: number): Promise<Record<string, ChartDump>> {
  return page.evaluate((run) => {
    const ec = (window as unknown as { echarts: typeof import('echarts') }).echarts;
    const out: Record<string, unknown> = {};
    for (const el of Array.from(document.querySelectorAll<HTMLElement>(`.chart[data-run="${run}"]`))) {
      const option = ec.getInstanceByDom(el)!.getOption() as {
        xAxis?: { data?: unknown[] }[];
        series: { id: string; type: string; data: unknown[] }[];
      };
      out[el.dataset.chart!] = {
        x: option.xAxis?.[0]?.data?.length ?? null,
        series: option.series.map((s) => ({ id: s.id, type: s.type, n: s.data.length, data: s.data })),
      };
    }
    return out as Record<string, ChartDump>;
  }, run);
}

function expectOnePointPerRound(charts: Record<string, ChartDump>, rounds: number, regions: number): void {
  expect(Object.keys(charts).sort()).toEqual([...CHART_IDS].sort());
  for (const id of PER_ROUND) {
    expect({ id, x: charts[id]!.x }).toEqual({ id, x: rounds });
    for (const s of charts[id]!.series)
      expect({ id, series: s.id, n: s.n }).toEqual({ id, series: s.id, n: rounds });
  }
  expect(charts.heatmap!.x).toBe(rounds);
  expect(charts.heatmap!.series[0]!.n).toBe(rounds * regions);
}

function highlightedStates(charts: Record<string, ChartDump>): string[] {
  const nodes = charts.states!.series[0]!.data as { name: string; symbolSize: number }[];
  return nodes.filter((n) => n.symbolSize === ACTIVE_NODE_SIZE).map((n) => n.name);
}

function waitForStatus(page: Page, run: number, status: string): Promise<unknown> {
  return page.waitForFunction(
    ([run, status]) =>
      document.querySelector<HTMLElement>(`section.run[data-run="${run}"]`)?.dataset.status === status,
    [run, status] as const,
    { timeout: 20_000 },
  );
}

describe('dashboard in a browser', () => {
  const suite = browserSuite();
  const context = () => suite.context();
  const dashboard = async (d: Promise<Dashboard>) => suite.track(await d);

  it('watches a short virtual-time migration live to completed; the dashboard changes nothing in the result', async () => {
    const live = await dashboard(startDashboard({ title: 'hotcold 128 MiB, virtual time' }));
    const errors: string[] = [];
    const page = await suite.openPage(errors);
    await page.goto(live.url);
    await page.waitForSelector('#conn[data-conn="live"]');
    const events: MigrationEvent[] = [];
    const watched = await runScenario(SCENARIO, {
      onEvent: (e) => {
        events.push(e);
        live.publish(e);
      },
    });
    expect(watched.status).toBe('completed');
    await waitForStatus(page, 0, 'completed');
    const rounds = watched.precopy.rounds.length;
    expect(rounds).toBeGreaterThanOrEqual(3);
    const charts = await readCharts(page, 0);
    expectOnePointPerRound(charts, rounds, watched.precopy.rounds[0]!.dirtyByRegion.length);
    // The page drew the result's own numbers.
    expect(charts.rates!.series.find((s) => s.id === 'dirty')!.data).toEqual(
      watched.precopy.rounds.map((r) => Math.round((r.dirtyRate / MiB) * 1000) / 1000),
    );
    expect(highlightedStates(charts)).toEqual(['completed']);
    expect(await page.locator('section.run[data-run="0"] tbody tr').count()).toBe(rounds);
    // Every event reached the page, none twice.
    expect(await page.evaluate(() => window.precopy.views[0]!.seq)).toBe(events.length);
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-live.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    // In virtual time the same scenario without a dashboard gives the identical result.
    const alone = await runScenario(SCENARIO);
    expect(alone).toEqual(watched);
    // And what the engine saves is what view and report accept.
    expect(() => checkResult(JSON.parse(JSON.stringify(watched)), 'run --json')).not.toThrow();
  });

  it('updates within a round: the round in flight shows as a live point per progress tick', async () => {
    const result = buildResult({
      dirtyRate: 900 * MiB,
      zeroFraction: 0.3,
      compression: 1.6,
      throttle: [0, 0, 20, 30, 40],
    });
    const events = eventsFor(result);
    const live = await dashboard(startDashboard({ title: 'scripted: memory hog, auto-converge' }));
    const errors: string[] = [];
    const page = await suite.openPage(errors);
    await page.goto(live.url);
    await page.waitForSelector('#conn[data-conn="live"]');
    // Up to a progress tick in round 2, then check the page before sending more.
    const stop = events.findIndex((e) => e.type === 'progress' && e.round === 2) + 3;
    events.slice(0, stop).forEach((e) => live.publish(e));
    await page.waitForFunction((seq) => window.precopy.views[0]?.seq === seq, stop);
    await page.waitForFunction(() => window.precopy.panels[0]?.drawnSeq === window.precopy.views[0]?.seq);
    const tick = events[stop - 1] as Extract<MigrationEvent, { type: 'progress' }>;
    const charts = await readCharts(page, 0);
    expect(charts.rates!.x).toBe(3); // rounds 0 and 1, and "now (2)"
    const liveDirty = charts.rates!.series.find((s) => s.id === 'live:dirty')!.data as (number | null)[];
    expect(liveDirty[2]).toBeCloseTo(tick.dirtyRate / MiB, 2);
    expect(await page.locator('section.run[data-run="0"] .progress .label').textContent()).toMatch(
      /^round 2 · remaining .* dirtied vs threshold /,
    );
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-mid-round.png') });
    events.slice(stop).forEach((e) => live.publish(e));
    await waitForStatus(page, 0, 'completed');
    expectOnePointPerRound(await readCharts(page, 0), result.precopy.rounds.length, 16);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the view page shows two saved results side by side, each with its own rounds', async () => {
    const results: MigrationResult[] = [
      buildResult({ dirtyRate: 1100 * MiB, zeroFraction: 0.3, maxRounds: 8 }),
      buildResult({ dirtyRate: 1100 * MiB, zeroFraction: 0.3, throttle: [0, 0, 20, 40, 60, 70, 80, 90] }),
    ];
    const view = await dashboard(
      dashboardForResults(results, { titles: ['without auto-converge', 'with auto-converge'] }),
    );
    const errors: string[] = [];
    const page = await suite.openPage(errors, { width: 1700, height: 1400 });
    await page.goto(view.url);
    await waitForStatus(page, 0, results[0]!.status);
    await waitForStatus(page, 1, 'completed');
    for (const [i, r] of results.entries()) {
      const charts = await readCharts(page, i);
      expectOnePointPerRound(charts, r.precopy.rounds.length, 16);
      expect(highlightedStates(charts)).toEqual([r.status]);
    }
    expect(results[0]!.status).toBe('cancelled');
    await page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-compare.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a missing or wrong token gets 403', async () => {
    const view = await dashboard(dashboardForResults([buildResult()]));
    const page = await context().newPage();
    const url = new URL(view.url);
    url.search = '';
    expect((await page.goto(url.toString()))!.status()).toBe(403);
    url.search = '?token=not-the-token-at-all';
    expect((await page.goto(url.toString()))!.status()).toBe(403);
    expect((await page.goto(view.url))!.status()).toBe(200);
    await page.close();
  });

  it('the SVG and HTML reports open as valid documents', async () => {
    const runs = [
      { title: 'hog', result: buildResult({ dirtyRate: 900 * MiB, throttle: [0, 0, 20, 30, 40] }) },
    ];
    const svgFile = join(OUTPUT_DIR, 'report.svg');
    const htmlFile = join(OUTPUT_DIR, 'report.html');
    writeFileSync(svgFile, reportSvg(runs));
    writeFileSync(htmlFile, reportHtml(runs));
    const page = await context().newPage();
    await page.setViewportSize({ width: 1650, height: 1000 });
    await page.goto(`file://${svgFile}`);
    // An XML error would make Chromium render a parsererror document instead of the SVG.
    expect(await page.evaluate(() => document.documentElement.nodeName)).toBe('svg');
    expect(await page.locator('parsererror').count()).toBe(0);
    expect(await page.evaluate(() => document.querySelectorAll('svg > svg').length)).toBe(CHART_IDS.length);
    await page.screenshot({ path: join(OUTPUT_DIR, 'report-svg.png') });
    await page.goto(`file://${htmlFile}`);
    expect(await page.locator('.chart svg').count()).toBe(CHART_IDS.length);
    await page.close();
  });
});
