/**
 * What the dashboard shows, checked where it is drawn (a real headless Chromium): every round of a
 * long run painted in the heatmap while the feed streams, a phone-width page with no box over
 * another (single run and compare), and the badge. Screenshots go to test-output/.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { CHART_IDS, HEAT_NONE } from '../../src/viz/charts';
import { OVERLAY_IDS } from '../../src/viz/overlay';
import { dashboardForResults, startDashboard } from '../../src/viz/dashboard-server';
import { buildResult, eventsFor } from '../viz/fixtures';
import { browserSuite, OUTPUT_DIR } from './chromium';

const MiB = 1024 * 1024;

/** 75 rounds of a hog slowed by auto-converge: late rounds dirty a few pages per region. */
const LONG_RUN = buildResult({
  dirtyRate: 1100 * MiB,
  regions: 128,
  downtimeLimitMs: 1,
  throttle: Array.from({ length: 80 }, (_, i) => Math.min(99, i * 0.43)),
  maxRounds: 80,
});

interface CellCheck {
  round: number;
  pages: number;
  /** What is drawn at the cell's centre: its tag and fill. */
  tag: string;
  fill: string | null;
}

/**
 * For every round, the element drawn at the centre of its busiest region's cell (its least busy
 * one for an all-zero round), as the browser hit-tests it: a painted cell is an SVG path with a
 * fill; a cell never painted shows the plot's background instead.
 */
function heatmapCells(page: Page, run: number): Promise<CellCheck[]> {
  return page.evaluate((run) => {
    const ec = (window as unknown as { echarts: typeof import('echarts') }).echarts;
    const box = document.querySelector<HTMLElement>(`.chart[data-chart="heatmap"][data-run="${run}"]`)!;
    box.scrollIntoView();
    const chart = ec.getInstanceByDom(box)!;
    const rounds = window.precopy.views[run]!.rounds;
    return rounds.map((r, x) => {
      const busiest = r.dirtyByRegion.indexOf(Math.max(...r.dirtyByRegion));
      const [px, py] = chart.convertToPixel({ xAxisIndex: 0, yAxisIndex: 0 }, [x, busiest]) as number[];
      const rect = box.getBoundingClientRect();
      const hit = document.elementFromPoint(rect.left + px!, rect.top + py!);
      return {
        round: r.round,
        pages: r.dirtyByRegion[busiest] ?? 0,
        tag: hit?.tagName.toLowerCase() ?? 'nothing',
        fill: hit?.getAttribute('fill') ?? null,
      };
    });
  }, run);
}

/** '#e9ecef' as the SVG renderer writes it: 'rgb(233,236,239)'. */
function rgb(hex: string): string {
  return `rgb(${[1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)).join(',')})`;
}

/** Cells not painted as they should be: a dirtied one in a heat colour, an empty one grey. */
function unpainted(cells: CellCheck[]): CellCheck[] {
  const none = rgb(HEAT_NONE);
  return cells.filter(
    (c) => c.tag !== 'path' || !c.fill || c.fill === 'none' || c.pages > 0 === (c.fill === none),
  );
}

interface Box {
  what: string;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** The page's blocks and, inside each, the pieces laid out side by side. */
function layoutBoxes(page: Page): Promise<{ scrollWidth: number; groups: Box[][] }> {
  return page.evaluate(() => {
    const box = (el: Element, what: string) => {
      const r = el.getBoundingClientRect();
      return { what, left: r.left, top: r.top + scrollY, right: r.right, bottom: r.bottom + scrollY };
    };
    const all = (selector: string, root: ParentNode = document) =>
      Array.from(root.querySelectorAll(selector)).map((el, i) => box(el, `${selector}#${i}`));
    const groups: ReturnType<typeof box>[][] = [
      // The blocks of the page, one under another.
      [
        ...all('header.bar'),
        ...['.run-head', '.progress', '.summary', '.chart', 'details.rounds'].flatMap((s) =>
          all(`section.run ${s}`),
        ),
        ...all('footer'),
      ],
      // Pieces next to each other inside a block.
      all('header.bar > *'),
      ...Array.from(document.querySelectorAll('.run-head')).map((h) => all(':scope > *', h)),
      ...Array.from(document.querySelectorAll('.summary')).map((s) => all(':scope > div', s)),
    ];
    return { scrollWidth: document.documentElement.scrollWidth, groups };
  });
}

function overlaps(a: Box, b: Box): boolean {
  const EPS = 0.5;
  return a.left < b.right - EPS && b.left < a.right - EPS && a.top < b.bottom - EPS && b.top < a.bottom - EPS;
}

function layoutProblems(layout: { scrollWidth: number; groups: Box[][] }, width: number): string[] {
  const problems: string[] = [];
  if (layout.scrollWidth > width) problems.push(`page is ${layout.scrollWidth} px wide`);
  for (const group of layout.groups) {
    for (const b of group)
      if (b.left < -0.5 || b.right > width + 0.5) problems.push(`${b.what} outside the width`);
    group.forEach((a, i) =>
      group.slice(i + 1).forEach((b) => {
        if (overlaps(a, b)) problems.push(`${a.what} overlaps ${b.what}`);
      }),
    );
  }
  return problems;
}

describe('dashboard layout and drawing in a browser', () => {
  const suite = browserSuite();

  async function open(url: string, width: number, height: number): Promise<{ page: Page; errors: string[] }> {
    const errors: string[] = [];
    const page = await suite.openPage(errors, { width, height });
    await page.goto(url);
    return { page, errors };
  }

  it('a 75-round run streamed live: every round is painted in the heatmap; the badge goes live → finished', async () => {
    expect(LONG_RUN.precopy.rounds).toHaveLength(75);
    const live = await startDashboard({ title: 'hog, 75 rounds' });
    suite.track(live);
    const { page, errors } = await open(live.url, 1400, 1100);
    await page.waitForSelector('#conn[data-conn="live"]');
    // In bursts a few frames apart, so the page redraws the heatmap many times mid-run.
    const events = eventsFor(LONG_RUN);
    for (let at = 0; at < events.length; at += 40) {
      events.slice(at, at + 40).forEach((e) => live.publish(e));
      await page.waitForTimeout(20);
    }
    await page.waitForFunction((n) => window.precopy.views[0]?.seq === n, events.length);
    await page.waitForSelector('#conn[data-conn="finished"]');
    await page.waitForFunction(() => window.precopy.panels[0]?.drawnSeq === window.precopy.views[0]?.seq);
    const cells = await heatmapCells(page, 0);
    expect(cells).toHaveLength(75);
    expect(cells.filter((c) => c.pages > 0).length).toBeGreaterThan(70);
    expect(unpainted(cells)).toEqual([]);
    await page
      .locator('.chart[data-chart="heatmap"][data-run="0"]')
      .screenshot({ path: join(OUTPUT_DIR, 'heatmap-75-rounds.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('NEGATIVE: the heatmap check fails where cells are not painted as SVG (the canvas renderer)', async () => {
    const view = await dashboardForResults([LONG_RUN]);
    suite.track(view);
    const { page } = await open(view.url, 1400, 1100);
    await page.waitForSelector('#conn[data-conn="saved"]');
    await page.waitForFunction(() => window.precopy.panels[0]?.drawnSeq === window.precopy.views[0]?.seq);
    expect(unpainted(await heatmapCells(page, 0))).toEqual([]);
    await page.evaluate(() => {
      const ec = (window as unknown as { echarts: typeof import('echarts') }).echarts;
      const box = document.querySelector<HTMLElement>('.chart[data-chart="heatmap"][data-run="0"]')!;
      const old = ec.getInstanceByDom(box)!;
      const option = old.getOption();
      old.dispose();
      ec.init(box, null, { renderer: 'canvas' }).setOption(option);
    });
    expect(unpainted(await heatmapCells(page, 0))).toHaveLength(LONG_RUN.precopy.rounds.length);
    await page.close();
  });

  const results = [
    buildResult({ dirtyRate: 1100 * MiB, zeroFraction: 0.3, maxRounds: 8 }),
    buildResult({ dirtyRate: 1100 * MiB, zeroFraction: 0.3, throttle: [0, 0, 20, 40, 60, 70, 80, 90] }),
  ];
  it.each([
    ['one saved result', [results[1]!]],
    ['two results compared', results],
  ])(
    '390 px wide, %s: one column, nothing wider than the screen, no box over another',
    async (name, runs) => {
      const view = await dashboardForResults(runs, {
        titles: runs.length > 1 ? ['without auto-converge', 'with auto-converge'] : ['with auto-converge'],
      });
      suite.track(view);
      const { page, errors } = await open(view.url, 390, 844);
      await page.waitForSelector('#conn[data-conn="saved"]');
      await page.waitForFunction(
        (n) =>
          window.precopy.panels.length === n &&
          window.precopy.panels.every((p, i) => p.drawnSeq === window.precopy.views[i]!.seq),
        runs.length,
      );
      const layout = await layoutBoxes(page);
      expect(layoutProblems(layout, 390)).toEqual([]);
      // One column: every chart starts at the same x; a second run comes below the first.
      const charts = layout.groups[0]!.filter((b) => b.what.includes('.chart'));
      expect(new Set(charts.map((c) => Math.round(c.left))).size).toBe(1);
      expect(charts.length).toBe(CHART_IDS.length * runs.length);
      await page.screenshot({ path: join(OUTPUT_DIR, `dashboard-390-${runs.length}.png`), fullPage: true });
      expect(errors).toEqual([]);
      await page.close();
    },
  );

  it('view --overlay time: one section draws both runs on each shared chart', async () => {
    const view = await dashboardForResults(results, { titles: ['plain', 'auto-converge'], overlay: 'time' });
    suite.track(view);
    const { page, errors } = await open(view.url, 1400, 1000);
    await page.waitForSelector('#conn[data-conn="saved"]');
    await page.waitForFunction(() =>
      window.precopy.panels.every((p, i) => p.drawnSeq === window.precopy.views[i]!.seq),
    );
    const names = await page.evaluate(() => {
      const ec = (window as unknown as { echarts: typeof import('echarts') }).echarts;
      return Array.from(document.querySelectorAll<HTMLElement>('section.overlay .chart')).map((el) => {
        const option = ec.getInstanceByDom(el)!.getOption() as {
          series: { name: string; data: unknown[] }[];
        };
        return [el.dataset.chart, option.series.map((s) => `${s.name}:${s.data.length}`)];
      });
    });
    expect(names.map(([id]) => id)).toEqual([...OVERLAY_IDS]);
    const wire = Object.fromEntries(names)['overlay-wire'] as string[];
    expect(wire).toEqual([
      `plain · on the wire:${2 * results[0]!.precopy.rounds.length}`,
      `auto-converge · on the wire:${2 * results[1]!.precopy.rounds.length}`,
    ]);
    await page.locator('section.overlay').screenshot({ path: join(OUTPUT_DIR, 'dashboard-overlay.png') });
    expect(errors).toEqual([]);
    await page.close();
  });

  it('NEGATIVE: the layout check catches a fixed-width chart grid (the old 460 px minimum)', async () => {
    const view = await dashboardForResults(results);
    suite.track(view);
    const { page } = await open(view.url, 390, 844);
    await page.waitForSelector('#conn[data-conn="saved"]');
    await page.addStyleTag({
      content:
        '.charts{grid-template-columns:repeat(auto-fill,minmax(460px,1fr))!important} main{grid-template-columns:repeat(2,minmax(0,1fr))!important}',
    });
    const problems = layoutProblems(await layoutBoxes(page), 390);
    expect(problems.some((p) => p.startsWith('page is'))).toBe(true);
    expect(problems.some((p) => p.includes('overlaps'))).toBe(true);
    await page.close();
  });

  /** The PNG's size from its IHDR chunk, after checking the signature. */
  function pngSize(bytes: Buffer): { width: number; height: number } {
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }

  /**
   * Click the run's PNG button; return the saved file, its name, and the share of non-white
   * pixels inside each chart's box of the image (decoded back in the page).
   */
  async function savePng(page: Page) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.run .save-png')]);
    const bytes = readFileSync((await download.path())!);
    const ink = await page.evaluate(async (base64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(image, 0, 0);
      const boxes = [...document.querySelectorAll<HTMLElement>('.run .chart')].map((box) => ({
        id: box.dataset.chart!,
        rect: box.getBoundingClientRect(),
      }));
      const left = Math.min(...boxes.map((b) => b.rect.left));
      const top = Math.min(...boxes.map((b) => b.rect.top));
      const scale = image.width / (Math.max(...boxes.map((b) => b.rect.right)) - left);
      const share: Record<string, number> = {};
      for (const { id, rect } of boxes) {
        const x = Math.round((rect.left - left) * scale);
        const y = Math.round((rect.top - top + 28) * scale);
        const data = ctx.getImageData(
          x,
          y,
          Math.round(rect.width * scale),
          Math.round(rect.height * scale),
        ).data;
        let inked = 0;
        for (let i = 0; i < data.length; i += 4)
          if (data[i]! < 240 || data[i + 1]! < 240 || data[i + 2]! < 240) inked++;
        share[id] = inked / (data.length / 4);
      }
      return share;
    }, bytes.toString('base64'));
    return { bytes, name: download.suggestedFilename(), ink };
  }

  it("the PNG button saves the run's charts as one image, laid out as on the page, heatmap included", async () => {
    const view = await dashboardForResults([LONG_RUN], { titles: ['long run / auto-converge'] });
    suite.track(view);
    const { page, errors } = await open(view.url, 1200, 900);
    await page.waitForSelector('#conn[data-conn="saved"]');
    await page.waitForFunction(() => window.precopy.panels[0]?.drawnSeq === window.precopy.views[0]?.seq);
    const grid = await page.locator('.run .charts').boundingBox();
    const { bytes, name, ink } = await savePng(page);
    expect(name).toBe('long-run-auto-converge.png');
    const size = pngSize(bytes);
    // Twice the page's pixels (PNG_PIXEL_RATIO), the title band on top.
    expect(size.width).toBeCloseTo(grid!.width * 2, -1);
    expect(size.height).toBeCloseTo((grid!.height + 28) * 2, -1);
    for (const id of CHART_IDS) expect({ id, drawn: ink[id]! > 0.01 }).toEqual({ id, drawn: true });
    writeFileSync(join(OUTPUT_DIR, 'dashboard-save.png'), bytes);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('NEGATIVE: the PNG check sees a chart that is missing from the image', async () => {
    const view = await dashboardForResults([LONG_RUN]);
    suite.track(view);
    const { page } = await open(view.url, 1200, 900);
    await page.waitForSelector('#conn[data-conn="saved"]');
    await page.waitForFunction(() => window.precopy.panels[0]?.drawnSeq === window.precopy.views[0]?.seq);
    // What ECharts' own connected export would do with the SVG-rendered heatmap: leave it out.
    await page.evaluate(() => window.precopy.panels[0]!.charts.heatmap.clear());
    const { ink } = await savePng(page);
    expect(ink.heatmap).toBeLessThan(0.01);
    expect(ink.rates).toBeGreaterThan(0.01);
    await page.close();
  });
});
