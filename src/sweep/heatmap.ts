/**
 * A sweep map as an ECharts option (pure: summaries in, option out), so the CLI renders it to
 * SVG and the dashboard's `view` can show the same chart. One metric over two swept axes; each
 * cell shows the measured mean and the model's prediction with its error; the λ = 1 and
 * WWS = bandwidth × downtime-limit boundaries are drawn between the cells where they fall.
 */
import type { EChartsOption } from 'echarts';
import type { MetricName, PointSummary } from './aggregate';
import type { Prediction } from './prediction';

export interface HeatmapInput {
  summaries: PointSummary[];
  /** Coordinate paths of the horizontal and vertical axes (two swept fields). */
  x: string;
  y: string;
  metric: MetricName;
  /** Other swept fields held fixed (default: each at its first value). */
  slice?: Record<string, unknown>;
  /** The model's prediction per point id (summary.point); missing or null: no overlay there. */
  predictions?: Map<string, Prediction | null>;
  title?: string;
}

export interface Cell {
  x: number;
  y: number;
  summary: PointSummary;
  measured: number | null;
  predicted: number | null;
}

const METRIC_LABEL: Record<MetricName, string> = {
  converged: 'converged (fraction of seeds)',
  rounds: 'live rounds',
  downtime: 'downtime (ms)',
  totalBytes: 'total bytes (MiB)',
  totalTime: 'total time (ms)',
  pagesSent: 'pages sent',
  compression: 'compression (page bytes / wire bytes)',
  throttle: 'vCPU throttle at the end (%)',
  faults: 'MMU faults (fast + slow + spurious)',
  exits: 'VM exits: PML full + dirty ring full',
  bitmapWords: 'harvest: dirty-bitmap words copied',
  ringEntries: 'harvest: dirty-ring entries reaped',
  clearCalls: 'harvest: CLEAR_DIRTY_LOG calls',
  ringStalls: 'vCPUs found blocked on a full dirty ring',
  ringStallMs: 'vCPU time lost in ring-full exits (ms)',
  slowdown: 'guest slowdown (% of its run time)',
  blocktime: 'postcopy blocktime, mean over vCPUs (ms)',
  postcopyRequests: 'postcopy page requests',
};

/** Shown in cells in the metric's unit: MiB for bytes, otherwise as is. */
function display(metric: MetricName, value: number): number {
  return metric === 'totalBytes' ? value / 2 ** 20 : value;
}

function format(value: number): string {
  return Math.abs(value) >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toPrecision(3);
}

function label(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The distinct values of a coordinate, in the order the sweep ran them. */
function axisValues(summaries: PointSummary[], path: string): unknown[] {
  const seen = new Map<string, unknown>();
  for (const s of summaries) {
    if (!(path in s.coords)) throw new RangeError(`heatmap: ${path} is not a swept field`);
    seen.set(JSON.stringify(s.coords[path]), s.coords[path]);
  }
  return [...seen.values()];
}

/** The summaries on the slice: every swept field other than x and y at its fixed value. */
export function sliceOf(input: HeatmapInput): {
  cells: Cell[];
  xs: unknown[];
  ys: unknown[];
  fixed: Record<string, unknown>;
} {
  const { summaries, x, y, metric } = input;
  if (x === y) throw new RangeError('heatmap: x and y must be different fields');
  const xs = axisValues(summaries, x);
  const ys = axisValues(summaries, y);
  const others = Object.keys(summaries[0]?.coords ?? {}).filter((p) => p !== x && p !== y);
  // Fix the other fields only when cells would collide: a list whose entries set two fields
  // together (encodings and the xbzrle capability) maps without slicing.
  const key = (s: PointSummary) => JSON.stringify([s.coords[x], s.coords[y]]);
  const collide = new Set(summaries.map(key)).size < summaries.length;
  const fixedPaths = collide || input.slice ? others : [];
  const fixed = Object.fromEntries(fixedPaths.map((p) => [p, input.slice?.[p] ?? summaries[0]!.coords[p]]));
  const onSlice = summaries.filter((s) =>
    fixedPaths.every((p) => JSON.stringify(s.coords[p]) === JSON.stringify(fixed[p])),
  );
  const cells = onSlice.map((summary) => {
    const prediction = input.predictions?.get(summary.point);
    return {
      x: xs.findIndex((v) => JSON.stringify(v) === JSON.stringify(summary.coords[x])),
      y: ys.findIndex((v) => JSON.stringify(v) === JSON.stringify(summary.coords[y])),
      summary,
      measured: summary.metrics ? summary.metrics[metric].mean : null,
      predicted: prediction?.metrics[metric] ?? null,
    };
  });
  return { cells, xs, ys, fixed };
}

/**
 * Where a predicate over the cells' predictions flips between neighbours: one unit segment per
 * pair of adjacent cells on opposite sides, in cell coordinates (cell centres at integers).
 */
export function boundarySegments(
  cells: Cell[],
  side: (p: Prediction) => boolean,
  predictions: Map<string, Prediction | null>,
): number[][][] {
  const at = new Map<string, boolean>();
  for (const c of cells) {
    const p = predictions.get(c.summary.point);
    if (p) at.set(`${c.x},${c.y}`, side(p));
  }
  const segments: number[][][] = [];
  for (const c of cells) {
    const here = at.get(`${c.x},${c.y}`);
    if (here === undefined) continue;
    const right = at.get(`${c.x + 1},${c.y}`);
    if (right !== undefined && right !== here)
      segments.push([
        [c.x + 0.5, c.y - 0.5],
        [c.x + 0.5, c.y + 0.5],
      ]);
    const up = at.get(`${c.x},${c.y + 1}`);
    if (up !== undefined && up !== here)
      segments.push([
        [c.x - 0.5, c.y + 0.5],
        [c.x + 0.5, c.y + 0.5],
      ]);
  }
  return segments;
}

export function sweepHeatmapOption(input: HeatmapInput): EChartsOption {
  const { x, y, metric } = input;
  const { cells, xs, ys, fixed } = sliceOf(input);
  const predictions = input.predictions ?? new Map<string, Prediction | null>();
  const values = cells.filter((c) => c.measured !== null).map((c) => display(metric, c.measured!));
  const fixedText = Object.entries(fixed)
    .map(([p, v]) => `${p}=${label(v)}`)
    .join(', ');
  const boundary = (name: string, color: string, side: (p: Prediction) => boolean) => ({
    type: 'lines' as const,
    name,
    coordinateSystem: 'cartesian2d',
    xAxisIndex: 1,
    yAxisIndex: 1,
    polyline: false,
    lineStyle: { color, width: 3, type: name.startsWith('λ') ? ('solid' as const) : ('dashed' as const) },
    data: boundarySegments(cells, side, predictions).map((coords) => ({ coords })),
  });
  const hidden = (n: number) => ({ type: 'value' as const, min: -0.5, max: n - 0.5, show: false });
  return {
    animation: false,
    title: {
      text: input.title ?? `${METRIC_LABEL[metric]} over ${x} × ${y}`,
      subtext: [fixedText, 'cell: measured mean / model (error = measured − model)']
        .filter(Boolean)
        .join('\n'),
      left: 'center',
      textStyle: { fontSize: 14 },
    },
    legend: { bottom: 0, data: ['λ = 1', 'WWS = bandwidth × downtime-limit'] },
    grid: { top: 90, bottom: 80, left: 110, right: 120 },
    xAxis: [
      {
        type: 'category',
        name: x,
        nameLocation: 'middle',
        nameGap: 28,
        data: xs.map(label),
        splitArea: { show: true },
      },
      hidden(xs.length),
    ],
    yAxis: [
      {
        type: 'category',
        name: y,
        nameLocation: 'middle',
        nameGap: 80,
        data: ys.map(label),
        splitArea: { show: true },
      },
      hidden(ys.length),
    ],
    visualMap: {
      min: metric === 'converged' ? 0 : Math.min(...values, 0),
      max: metric === 'converged' ? 1 : Math.max(...values, 1),
      calculable: false,
      text: [
        format(metric === 'converged' ? 1 : Math.max(...values, 1)),
        format(metric === 'converged' ? 0 : Math.min(...values, 0)),
      ],
      orient: 'vertical',
      right: 10,
      top: 'middle',
      seriesIndex: 0,
      inRange: { color: metric === 'converged' ? ['#d73027', '#1a9850'] : ['#f7fbff', '#6baed6', '#08306b'] },
    },
    series: [
      {
        type: 'heatmap',
        name: METRIC_LABEL[metric],
        data: cells
          .filter((c) => c.measured !== null)
          .map((c) => {
            const measured = display(metric, c.measured!);
            const lines = [format(measured)];
            if (c.predicted !== null) {
              const predicted = display(metric, c.predicted);
              lines.push(`model ${format(predicted)}`, `err ${format(measured - predicted)}`);
            }
            return { value: [c.x, c.y, measured], label: { formatter: lines.join('\n') } };
          }),
        label: { show: true, fontSize: 10 },
      },
      boundary('λ = 1', '#000000', (p) => p.lambda >= 1),
      boundary('WWS = bandwidth × downtime-limit', '#ff7f00', (p) => p.wwsOverThreshold >= 1),
    ],
  };
}
