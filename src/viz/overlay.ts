/**
 * Several runs on one chart: a QEMU trace and a simulation of the same scenario, or two
 * strategies, each quantity drawn once per run on shared axes, aligned by migration time (each
 * round at its end, seconds from the start) or by round number.
 *
 * Browser-shared module: no runtime imports except the other browser-shared viz modules.
 */
import type { EChartsOption } from 'echarts';
import type { RoundStats } from '../migration/result';
import { base, COLORS, round3, roundLabel, valueAxis } from './charts';
import { fmtBytes, fmtMs, MiB, toMiB } from './format';
import type { RunView } from './run-view';

export type OverlayAlign = 'time' | 'round';
export const OVERLAY_ALIGNS: readonly OverlayAlign[] = ['time', 'round'];

export const OVERLAY_IDS = [
  'overlay-rates',
  'overlay-remaining',
  'overlay-downtime',
  'overlay-wire',
] as const;
export type OverlayId = (typeof OVERLAY_IDS)[number];

export interface OverlaySpec {
  id: OverlayId;
  option: EChartsOption;
}

/** Runs are told apart by line style and symbol; a quantity keeps its colour on every chart. */
const RUN_STYLES = [
  { type: 'solid' as const, symbol: 'circle' },
  { type: 'dashed' as const, symbol: 'triangle' },
  { type: 'dotted' as const, symbol: 'rect' },
  { type: 'dashed' as const, symbol: 'diamond' },
];

interface Quantity {
  name: string;
  color: string;
  value: (r: RoundStats) => number | null;
}

/**
 * By round: the value at the round's index. By time: a plateau from the round's start to its end
 * (seconds since the migration started), so rounds of different lengths line up as they ran.
 */
function points(
  view: RunView,
  align: OverlayAlign,
  q: Quantity,
): (number | null)[] | [number, number | null][] {
  if (align === 'round') return view.rounds.map(q.value);
  return view.rounds.flatMap((r): [number, number | null][] => {
    const v = q.value(r);
    return [
      [round3(r.start / 1000), v],
      [round3((r.start + r.duration) / 1000), v],
    ];
  });
}

function overlayChart(
  views: RunView[],
  align: OverlayAlign,
  title: string,
  subtitle: string,
  quantities: Quantity[],
  yAxis: object,
  format: (v: number) => string,
): EChartsOption {
  const longest = views.reduce((a, v) => (v.rounds.length > a.rounds.length ? v : a), views[0]!);
  const xAxis =
    align === 'time'
      ? { ...valueAxis('s'), name: 'time (s)', nameLocation: 'middle' as const, nameGap: 20, min: 0 }
      : {
          type: 'category' as const,
          data: longest.rounds.map(roundLabel),
          name: 'round',
          nameLocation: 'middle' as const,
          nameGap: 20,
          nameTextStyle: { color: COLORS.muted, fontSize: 10 },
          axisLabel: { fontSize: 10, color: COLORS.muted },
        };
  return {
    ...base(
      title,
      `${subtitle}; aligned by ${align === 'time' ? 'time (each round from start to end)' : 'round'}`,
    ),
    tooltip: {
      trigger: 'axis',
      confine: true,
      valueFormatter: (v) => (v === null || v === undefined ? '–' : format(Number(v))),
    },
    grid: { left: 64, right: 24, top: 84, bottom: 42 },
    xAxis,
    yAxis,
    series: views.flatMap((view, i) =>
      quantities.map((q) => {
        const style = RUN_STYLES[i % RUN_STYLES.length]!;
        return {
          id: `${q.name}:${i}`,
          name: `${view.title} · ${q.name}`,
          type: 'line' as const,
          data: points(view, align, q),
          symbol: style.symbol,
          symbolSize: align === 'time' ? 4 : 6,
          showAllSymbol: true,
          connectNulls: false,
          itemStyle: { color: q.color },
          lineStyle: { color: q.color, width: 2, type: style.type },
        };
      }),
    ),
  };
}

/** Log scale: zero has no place on it. */
const logMiB = (bytes: number) => (bytes > 0 ? toMiB(bytes) : null);

export function overlayCharts(views: RunView[], align: OverlayAlign): OverlaySpec[] {
  return [
    {
      id: 'overlay-rates',
      option: overlayChart(
        views,
        align,
        'Dirty rate vs send rate',
        'per round',
        [
          { name: 'dirty', color: COLORS.dirty, value: (r) => (r.final ? null : toMiB(r.dirtyRate)) },
          { name: 'send', color: COLORS.send, value: (r) => toMiB(r.sendRate) },
        ],
        valueAxis('MiB/s'),
        (v) => `${v.toFixed(1)} MiB/s`,
      ),
    },
    {
      id: 'overlay-remaining',
      option: overlayChart(
        views,
        align,
        'Remaining vs threshold',
        'dirty after each round (log)',
        [
          { name: 'remaining', color: COLORS.remaining, value: (r) => logMiB(r.remaining) },
          { name: 'threshold', color: COLORS.threshold, value: (r) => logMiB(r.threshold) },
        ],
        valueAxis('MiB (log)', { type: 'log', logBase: 10, minorSplitLine: { show: false } }),
        (v) => fmtBytes(v * MiB),
      ),
    },
    {
      id: 'overlay-downtime',
      option: overlayChart(
        views,
        align,
        'Expected downtime',
        "QEMU's expected-downtime per round",
        [{ name: 'expected downtime', color: COLORS.expected, value: (r) => round3(r.expectedDowntime) }],
        valueAxis('ms'),
        (v) => fmtMs(v),
      ),
    },
    {
      id: 'overlay-wire',
      option: overlayChart(
        views,
        align,
        'Bytes on the wire per round',
        'frames included',
        [{ name: 'on the wire', color: COLORS.wire, value: (r) => toMiB(r.bytesWire) }],
        valueAxis('MiB'),
        (v) => fmtBytes(v * MiB),
      ),
    },
  ];
}
