import fc from 'fast-check';
import { summarise, type PointSummary } from '../../src/sweep/aggregate';
import { toCsv } from '../../src/sweep/csv';
import { boundarySegments, sweepHeatmapOption, sliceOf, type Cell } from '../../src/sweep/heatmap';
import { expandSweep } from '../../src/sweep/points';
import { predictScenario, type Prediction } from '../../src/sweep/prediction';
import { predictionsFor, variedAxes } from '../../src/sweep/report';
import { parseSweepSpec } from '../../src/sweep/spec';
import { renderChartSvg } from '../../src/viz/svg';
import { fakeResult } from './fixtures/fake-runner';

const MiB = 2 ** 20;

function summariesOf(json: unknown): PointSummary[] {
  return summarise(
    expandSweep(parseSweepSpec(json)).map((r) => ({ ...r, result: fakeResult(r.scenario, r.seed) })),
  );
}

const SPEC = {
  base: {
    guest: { memory: '1GiB', workload: { kind: 'uniform' } },
    migration: { 'max-bandwidth': '1GiB/s' },
    run: { bandwidth: '1GiB/s' },
  },
  grid: {
    'guest.workload.rate': ['100MiB/s', '600MiB/s', '1100MiB/s', '1500MiB/s'],
    'migration.downtime-limit': [30, 300],
    'migration.auto-converge': [false, true],
  },
  seeds: 2,
};

describe('model prediction per point', () => {
  it('reproduces the §5.2 golden case: 4 GiB at 1 GiB/s, 200 MiB/s, 300 ms → 2 rounds, ≈ 5052 MiB', () => {
    // As examples/golden/golden-round.json: every page sent whole, tested at round ends.
    const p = predictScenario({
      guest: { memory: '4GiB', workload: { kind: 'sequential', rate: '200MiB/s' } },
      migration: {
        'max-bandwidth': '1GiB/s',
        'downtime-limit': '300ms',
        'stop-rule': 'round',
        encodings: 'raw',
      },
      run: { bandwidth: '1GiB/s' },
    })!;
    expect(p.metrics.rounds).toBe(2);
    expect(p.metrics.converged).toBe(1);
    expect(p.lambda).toBeCloseTo(0.195, 3);
    expect(Math.abs(p.metrics.totalBytes! / MiB / 5052 - 1)).toBeLessThan(0.01);
  });

  it('measures the writable working set over one 100 ms window of the workload', () => {
    const hot = predictScenario({
      guest: { memory: '4GiB', workload: { kind: 'hotcold', rate: '2GiB/s', hot: '64MiB' } },
      migration: { 'max-bandwidth': '1GiB/s', 'downtime-limit': '300ms' },
      run: { bandwidth: '1GiB/s' },
    })!;
    expect(hot.lambda).toBeCloseTo(2, 2);
    // 52 429 writes in 100 ms: 90 % on 16 384 hot pages (all but e^-2.9 of them), 10 % anywhere.
    const hotPages = 16384 * (1 - Math.exp(-(52429 * 0.9) / 16384));
    const wws = (hotPages + 52429 * 0.1) * 4096;
    expect(hot.wwsOverThreshold).toBeCloseTo(wws / (307.2 * MiB), 2);
    expect(hot.metrics.converged).toBe(1);
  });

  it('is null for a scenario that does not validate', () => {
    expect(predictScenario({ guest: { memory: 'lots' } })).toBeNull();
  });
});

describe('heatmap option', () => {
  const summaries = summariesOf(SPEC);
  const predictions = predictionsFor(summaries);

  it('finds the varied axes and slices the others at their first value', () => {
    expect(variedAxes(summaries)).toEqual([
      'guest.workload.rate',
      'migration.downtime-limit',
      'migration.auto-converge',
    ]);
    const { cells, xs, ys, fixed } = sliceOf({
      summaries,
      x: 'guest.workload.rate',
      y: 'migration.downtime-limit',
      metric: 'rounds',
    });
    expect(xs).toHaveLength(4);
    expect(ys).toEqual([30, 300]);
    expect(fixed).toEqual({ 'migration.auto-converge': false });
    expect(cells).toHaveLength(8);
  });

  it('does not slice when list entries set two fields together and cells stay distinct', () => {
    const listed = summariesOf({
      ...SPEC,
      grid: { 'guest.workload.rate': ['100MiB/s', '600MiB/s'] },
      list: [
        { 'migration.encodings': ['zero'] },
        { 'migration.encodings': ['zero', 'xbzrle'], 'migration.xbzrle': true },
      ],
    });
    const { cells, fixed } = sliceOf({
      summaries: listed,
      x: 'migration.encodings',
      y: 'guest.workload.rate',
      metric: 'rounds',
    });
    expect(fixed).toEqual({});
    expect(cells).toHaveLength(4);
  });

  it('puts the measured mean in each cell with the model and its error in the label', () => {
    const option = sweepHeatmapOption({
      summaries,
      x: 'guest.workload.rate',
      y: 'migration.downtime-limit',
      metric: 'downtime',
      predictions,
    });
    const series = option.series as {
      type: string;
      data: { value: number[]; label: { formatter: string } }[];
    }[];
    const heat = series[0]!;
    expect(heat.data).toHaveLength(8);
    const first = summaries.find(
      (s) => s.coords['guest.workload.rate'] === '100MiB/s' && s.coords['migration.downtime-limit'] === 30,
    )!;
    const cell = heat.data.find((d) => d.value[0] === 0 && d.value[1] === 0)!;
    expect(cell.value[2]).toBe(first.metrics!.downtime.mean);
    const model = predictions.get(first.point)!.metrics.downtime!;
    expect(cell.label.formatter).toContain(`model ${model.toPrecision(3)}`);
    expect(cell.label.formatter).toMatch(/\nerr /);
  });

  it('draws λ = 1 between 600 and 1100 MiB/s on a 1 GiB/s link', () => {
    const option = sweepHeatmapOption({
      summaries,
      x: 'guest.workload.rate',
      y: 'migration.downtime-limit',
      metric: 'converged',
      predictions,
    });
    const lambda = (option.series as { name: string; data: { coords: number[][] }[] }[]).find(
      (s) => s.name === 'λ = 1',
    )!;
    expect(lambda.data.map((d) => d.coords)).toEqual([
      [
        [1.5, -0.5],
        [1.5, 0.5],
      ],
      [
        [1.5, 0.5],
        [1.5, 1.5],
      ],
    ]);
  });

  it('refuses an axis that was not swept, or the same axis twice', () => {
    expect(() =>
      sweepHeatmapOption({ summaries, x: 'run.latency', y: 'migration.downtime-limit', metric: 'rounds' }),
    ).toThrow(/run.latency is not a swept field/);
    expect(() =>
      sweepHeatmapOption({
        summaries,
        x: 'migration.downtime-limit',
        y: 'migration.downtime-limit',
        metric: 'rounds',
      }),
    ).toThrow(/must be different/);
  });

  it('boundary segments separate exactly the neighbours on opposite sides (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        (grid) => {
          const cells: Cell[] = [];
          const preds = new Map<string, Prediction>();
          grid.forEach((row, y) =>
            row.forEach((above, x) => {
              const point = `${x},${y}`;
              cells.push({ x, y, summary: { point } as PointSummary, measured: 0, predicted: 0 });
              preds.set(point, { lambda: above ? 2 : 0.5 } as Prediction);
            }),
          );
          const segments = boundarySegments(cells, (p) => p.lambda >= 1, preds);
          let flips = 0;
          grid.forEach((row, y) =>
            row.forEach((v, x) => {
              if (x + 1 < row.length && row[x + 1] !== v) flips++;
              if (y + 1 < grid.length && grid[y + 1]![x] !== v) flips++;
            }),
          );
          expect(segments).toHaveLength(flips);
          for (const [[x1, y1], [x2, y2]] of segments as [number[], number[]][]) {
            const vertical = x1 === x2;
            const a = vertical ? [x1! - 0.5, y1! + 0.5] : [x1! + 0.5, y1! - 0.5];
            const b = vertical ? [x1! + 0.5, y1! + 0.5] : [x1! + 0.5, y1! + 0.5];
            expect(grid[a[1]!]![a[0]!]).not.toBe(grid[b[1]!]![b[0]!]);
            expect(Math.abs(x2! - x1!) + Math.abs(y2! - y1!)).toBe(1);
          }
        },
      ),
      { seed: 12, numRuns: 100 },
    );
  });

  it('renders to an SVG document on the server', () => {
    const svg = renderChartSvg(
      sweepHeatmapOption({
        summaries,
        x: 'guest.workload.rate',
        y: 'migration.downtime-limit',
        metric: 'rounds',
        predictions,
      }),
      { width: 900, height: 640 },
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('live rounds over guest.workload.rate');
    expect(svg).toContain('λ = 1');
  });
});

describe('CSV table', () => {
  it('one row per point: swept values, mean/sd/min/max per metric, the model', () => {
    const summaries = summariesOf(SPEC);
    const csv = toCsv(summaries, predictionsFor(summaries)).trim().split('\n');
    expect(csv).toHaveLength(1 + 16);
    const header = csv[0]!.split(',');
    expect(header.slice(0, 4)).toEqual([
      'guest.workload.rate',
      'migration.downtime-limit',
      'migration.auto-converge',
      'seeds',
    ]);
    expect(header).toContain('rounds_sd');
    expect(header).toContain('model_downtime');
    const row = csv[1]!.split(',');
    expect(row.slice(0, 4)).toEqual(['100MiB/s', '30', 'false', '2']);
    expect(Number(row[header.indexOf('rounds_mean')])).toBe(summaries[0]!.metrics!.rounds.mean);
  });

  it('quotes fields with commas and quotes', () => {
    const csv = toCsv([
      {
        point: 'p',
        coords: { 'migration.encodings': 'zero,"lz4"' },
        seeds: [],
        errors: [],
        metrics: null,
        sample: null,
      },
    ]);
    const [header, row] = csv.split('\n');
    expect(row).toMatch(/^"zero,""lz4""",0,,/);
    // The quoted comma is the only extra split.
    expect(row!.split(',')).toHaveLength(header!.split(',').length + 1);
  });
});
