import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoundStats } from '../../src/migration/result';
import { report } from '../../src/cli/report';
import { CHART_IDS } from '../../src/viz/charts';
import { fmtBytes } from '../../src/viz/format';
import { OVERLAY_IDS } from '../../src/viz/overlay';
import { CHART_SIZE, CSV_COLUMNS, reportHtml, reportSvg, roundsCsv, wrapHeader } from '../../src/viz/report';
import { ROUND_COLUMNS } from '../../src/viz/round-table';
import { InputError } from '../../src/viz/result-file';
import { buildResult } from './fixtures';

const MiB = 1024 * 1024;
const hog = buildResult({
  dirtyRate: 900 * MiB,
  zeroFraction: 0.3,
  compression: 1.6,
  throttle: [0, 0, 20, 30, 40, 50],
});
const rounds = hog.precopy.rounds;
const golden = buildResult();

/** The nested chart SVGs of a report, in document order. */
function chartSvgs(svg: string): string[] {
  return svg.split(/(?=<svg x=")/).slice(1);
}

/**
 * y of each line symbol (size 6: scale 3 of the unit circle) of one series; ECharts SSR marks each
 * drawn data point with ecmeta attributes (markers and legend items have other shapes or types).
 */
function symbolYs(chart: string, series: number): Map<number, number> {
  const ys = new Map<number, number>();
  const re = new RegExp(
    `transform="matrix\\(3,0,0,3,[^,]+,([-\\d.]+)\\)"[^>]*ecmeta_series_index="${series}" ecmeta_data_index="(\\d+)" ecmeta_ssr_type="chart"`,
    'g',
  );
  for (const m of chart.matchAll(re)) ys.set(Number(m[2]), Number(m[1]));
  return ys;
}

/** The drawn points lie on one line y = a − b·value with b > 0: the chart encodes these values. */
function expectLinear(ys: Map<number, number>, values: number[]): void {
  expect([...ys.keys()].sort((a, b) => a - b)).toEqual(values.map((_, i) => i));
  const lo = values.indexOf(Math.min(...values));
  const hi = values.indexOf(Math.max(...values));
  if (values[hi] === values[lo]) {
    for (const y of ys.values()) expect(y).toBeCloseTo(ys.get(0)!, 1);
    return;
  }
  const b = (ys.get(lo)! - ys.get(hi)!) / (values[hi]! - values[lo]!);
  expect(b).toBeGreaterThan(0);
  values.forEach((v, i) => expect(ys.get(i)!).toBeCloseTo(ys.get(lo)! - b * (v - values[lo]!), 0));
}

function parseCsv(text: string): Record<string, string>[] {
  const [header, ...rows] = text.trim().split('\n');
  const names = header!.split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [names[i]!, v])));
}

describe('reports', () => {
  it('CSV: one row per round, every column the round field of that name', () => {
    const rows = parseCsv(roundsCsv(hog));
    expect(rows).toHaveLength(rounds.length);
    rows.forEach((row, i) => {
      const r = rounds[i]!;
      for (const column of CSV_COLUMNS) {
        const value = r[column as keyof RoundStats];
        const cell = row[column]!;
        if (Array.isArray(value)) expect(cell.split(';').map(Number)).toEqual(value);
        else if (value === null) expect(cell).toBe('');
        else if (typeof value === 'boolean') expect(cell).toBe(String(value));
        else expect(Number(cell)).toBe(value);
      }
    });
  });

  it('SVG: every chart, each per-round line with one symbol per round at heights that encode the rounds', () => {
    const svg = reportSvg([{ title: 'hog', result: hog }]);
    const charts = chartSvgs(svg);
    expect(charts).toHaveLength(CHART_IDS.length);
    const rates = charts[CHART_IDS.indexOf('rates')]!;
    expectLinear(
      symbolYs(rates, 0),
      rounds.map((r) => r.dirtyRate),
    );
    expectLinear(
      symbolYs(rates, 1),
      rounds.map((r) => r.sendRate),
    );
    const throttle = charts[CHART_IDS.indexOf('throttle')]!;
    expectLinear(
      symbolYs(throttle, 0),
      rounds.map((r) => r.throttle),
    );
    // Remaining is drawn on a log axis: heights are linear in log(value), and stop-and-copy's 0 is not drawn.
    const remaining = charts[CHART_IDS.indexOf('remaining')]!;
    const live = rounds.filter((r) => r.remaining > 0);
    const ys = symbolYs(remaining, 0);
    expect(ys.size).toBe(live.length);
    expectLinear(
      ys,
      live.map((r) => Math.log(r.remaining)),
    );
  });

  it('NEGATIVE: the SVG check catches a chart that draws other numbers than the rounds', () => {
    const tampered = structuredClone(hog);
    const first = tampered.precopy.rounds[1]!;
    first.dirtyRate = tampered.precopy.rounds[0]!.dirtyRate * 0.25; // one point drawn at the wrong height
    const rates = chartSvgs(reportSvg([{ title: 'x', result: tampered }]))[CHART_IDS.indexOf('rates')]!;
    expect(() =>
      expectLinear(
        symbolYs(rates, 0),
        rounds.map((r) => r.dirtyRate),
      ),
    ).toThrow();
  });

  it('SVG: two results side by side, one column of charts each', () => {
    const other = buildResult();
    const svg = reportSvg([
      { title: 'hog', result: hog },
      { title: 'golden', result: other },
    ]);
    const charts = chartSvgs(svg);
    expect(charts).toHaveLength(2 * CHART_IDS.length);
    const xs = new Set(charts.map((c) => /^<svg x="(\d+)"/.exec(c)![1]));
    expect(xs.size).toBe(2);
    expect(svg).toContain('>golden<');
  });

  it('HTML: self-contained (no script), every chart inline, the round table and the summary', () => {
    const html = reportHtml([{ title: 'hog <1>', result: hog }]);
    expect(html).not.toMatch(/<script/i);
    for (const id of CHART_IDS) expect(html).toContain(`data-chart="${id}"><svg`);
    const rows = [...html.matchAll(/<tr data-round="(\d+)"[^>]*>(.*?)<\/tr>/g)];
    expect(rows.map((m) => Number(m[1]))).toEqual(rounds.map((r) => r.round));
    // People's units, the dashboard's columns: no raw byte counts or 6-digit floats.
    const headers = [...html.matchAll(/<th title="[^"]*">(.*?)<\/th>/g)].map((m) => m[1]);
    expect(headers).toEqual(ROUND_COLUMNS.map((c) => c.header));
    const cells = [...rows[1]![2]!.matchAll(/<td>(.*?)<\/td>/g)].map((m) => m[1]!);
    expect(cells[headers.indexOf('on the wire')]).toBe(fmtBytes(rounds[1]!.bytesWire));
    expect(cells[headers.indexOf('dirty rate')]).toMatch(/^[\d.]+ (KiB|MiB|GiB)\/s$/);
    for (const row of rows) expect(row[2]).not.toMatch(/>\d{7,}<|e\+\d/);
    expect(html).toContain('hog &#60;1&#62;');
    expect(html).toMatch(/<dt>converged<\/dt><dd class="good">yes<\/dd>/);
  });

  it('the scenario is on the page: HTML summary and SVG header', () => {
    const scenario = {
      guest: { memory: 64 * MiB, vcpus: 1, workload: { kind: 'uniform', rate: 96 * MiB } },
      migration: { 'max-bandwidth': 32 * MiB, 'downtime-limit': 300, 'auto-converge': true },
      run: { clock: 'virtual', transport: 'inproc', bandwidth: 125_000_000 },
    };
    const result = { ...hog, precopy: { ...hog.precopy, scenario } };
    const line =
      '64.0 MiB guest, 1 vCPU · workload uniform at 96.0 MiB/s · max-bandwidth 32.0 MiB/s · ' +
      'downtime-limit 300 ms · auto-converge · link 119 MiB/s, virtual time, inproc';
    expect(reportHtml([{ title: 'hog', result }])).toContain(`<dt>scenario</dt><dd>${line}</dd>`);
    expect(reportSvg([{ title: 'hog', result }]).replace(/<\/text><text[^>]*>/g, ' ')).toContain(line);
  });

  it('SVG: two runs’ header lines stay inside their own columns (wrapped, never over the neighbour)', () => {
    const long = {
      ...hog,
      precopy: { ...hog.precopy, warnings: ['a forced switchover after max-rounds 30'] },
    };
    const svg = reportSvg([
      { title: 'without auto-converge', result: long },
      { title: 'with auto-converge', result: golden },
    ]);
    const lines = [...svg.matchAll(/<text x="(\d+)" y="(\d+)" font-size="11"[^>]*>(.*?)<\/text>/g)].map(
      (m) => ({
        x: Number(m[1]),
        y: Number(m[2]),
        text: m[3]!.replace(/&#\d+;/g, 'x'),
      }),
    );
    const columns = [...new Set(lines.map((l) => l.x))].sort((a, b) => a - b);
    expect(columns).toHaveLength(2);
    for (const l of lines) expect(l.x + l.text.length * 6.4).toBeLessThanOrEqual(l.x + CHART_SIZE.width);
    expect(columns[1]! - columns[0]!).toBeGreaterThanOrEqual(CHART_SIZE.width);
    // The charts start below the last header line.
    const firstChart = Math.min(...[...svg.matchAll(/<svg x="\d+" y="(\d+)"/g)].map((m) => Number(m[1])));
    expect(firstChart).toBeGreaterThan(Math.max(...lines.map((l) => l.y)));
    // NEGATIVE: a line of the old kind (every figure joined) would run into the next column.
    const unwrapped = wrapHeader(['x'.repeat(200)], 10_000)[0]!;
    expect(unwrapped.length * 6.4).toBeGreaterThan(CHART_SIZE.width);
    expect(
      wrapHeader(['a b c '.repeat(40)], CHART_SIZE.width).every((l) => l.length * 6.4 <= CHART_SIZE.width),
    ).toBe(true);
  });

  it('--overlay: the shared charts come first, with every run on each', () => {
    const svg = reportSvg(
      [
        { title: 'hog', result: hog },
        { title: 'golden', result: golden },
      ],
      { overlay: 'round' },
    );
    expect(chartSvgs(svg)).toHaveLength(2 * CHART_IDS.length + OVERLAY_IDS.length);
    const html = reportHtml(
      [
        { title: 'hog', result: hog },
        { title: 'golden', result: golden },
      ],
      { overlay: 'time' },
    );
    expect(html).toContain('All runs on one chart, aligned by time');
    for (const id of OVERLAY_IDS) expect(html).toContain(`data-chart="${id}"><svg`);
  });

  describe('precopy report (files)', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'precopy-report-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('writes the SVG, HTML and CSV it is asked for', async () => {
      const input = join(dir, 'hog.json');
      writeFileSync(input, JSON.stringify(hog));
      const out = { svg: join(dir, 'a.svg'), html: join(dir, 'a.html'), csv: join(dir, 'a.csv') };
      await expect(report([input], out)).resolves.toEqual([out.svg, out.html, out.csv]);
      expect(parseCsv(readFileSync(out.csv, 'utf8'))).toHaveLength(rounds.length);
      expect(readFileSync(out.svg, 'utf8')).toMatch(/^<svg xmlns/);
    });

    it('--png: the SVG report rendered by headless Chromium, at its size', async () => {
      const input = join(dir, 'hog.json');
      writeFileSync(input, JSON.stringify(hog));
      const png = join(dir, 'a.png');
      await expect(report([input], { png })).resolves.toEqual([png]);
      const bytes = readFileSync(png);
      expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      // IHDR: width and height, big-endian, at bytes 16..23.
      const [w, h] = /<svg[^>]*width="(\d+)" height="(\d+)"/
        .exec(reportSvg([{ title: 'hog', result: hog }]))!
        .slice(1);
      expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([Number(w), Number(h)]);
    });

    it('a result file with a wrong field is refused with the field named', async () => {
      const broken = structuredClone(hog) as unknown as { precopy: { rounds: { dirtyRate: unknown }[] } };
      broken.precopy.rounds[2]!.dirtyRate = 'fast';
      const input = join(dir, 'broken.json');
      writeFileSync(input, JSON.stringify(broken));
      await expect(report([input], { csv: join(dir, 'x.csv') })).rejects.toThrow(InputError);
      await expect(report([input], { csv: join(dir, 'x.csv') })).rejects.toThrow(
        /precopy\.rounds\[2\]\.dirtyRate/,
      );
      await expect(report([input], {})).rejects.toThrow(/--svg, --html, --png, --csv/);
      await expect(report([input], { svg: 'x', overlay: 'sideways' })).rejects.toThrow(
        /--overlay: one of time, round/,
      );
      await expect(report([join(dir, 'missing.json')], { svg: 'x' })).rejects.toThrow(
        /cannot read \(ENOENT\)/,
      );
    });
  });
});
