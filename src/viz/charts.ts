/**
 * Every chart precopy draws, defined once: pure functions from a `RunView` to ECharts option
 * objects. The dashboard page runs this same module in the browser (served transpiled), and
 * reports render the same options to SVG on the server, so a chart looks the same everywhere.
 *
 * Browser-shared module: no runtime imports except the other browser-shared viz modules.
 * Every per-round series has exactly one data item per round (null where a value does not
 * exist), so the x axes of all charts line up round for round.
 */
import type { EChartsOption } from 'echarts';
import type { PostcopyResult } from '../migration/postcopy';
import type { MigrationStatus, RoundStats } from '../migration/result';
import { fmtBytes, fmtMs, MiB, toMiB } from './format';
import { isFinished, type RunView } from './run-view';

export const CHART_IDS = [
  'states',
  'rates',
  'remaining',
  'lambda',
  'downtime',
  'throttle',
  'bytes',
  'heatmap',
  'prediction',
  'senders',
  'postcopy',
] as const;
export type ChartId = (typeof CHART_IDS)[number];

export interface ChartSpec {
  id: ChartId;
  option: EChartsOption;
}

/** One colour per quantity, the same in every chart. */
export const COLORS = {
  dirty: '#e8590c',
  send: '#1971c2',
  remaining: '#c2255c',
  threshold: '#2f9e44',
  limit: '#2f9e44',
  lambda: '#1971c2',
  lambdaOver: '#e03131',
  expected: '#f08c00',
  predicted: '#7048e8',
  actual: '#c92a2a',
  destination: '#862e9c',
  throttle: '#495057',
  raw: '#adb5bd',
  wire: '#1971c2',
  zero: '#dee2e6',
  ratio: '#f08c00',
  eta: '#1971c2',
  actualLeft: '#2f9e44',
  etaError: '#e03131',
  text: '#343a40',
  muted: '#868e96',
  grid: '#e9ecef',
  requests: '#e8590c',
} as const;

/** One line colour per vCPU on the postcopy chart (cycled past eight). */
const VCPU_COLORS = ['#1971c2', '#2f9e44', '#862e9c', '#c2255c', '#f08c00', '#0c8599', '#5c940d', '#495057'];

/** Colours of the statechart's highlighted (current) state, by outcome. */
export const STATE_HIGHLIGHT: Record<'running' | 'completed' | 'failed', string> = {
  running: '#1971c2',
  completed: '#2f9e44',
  failed: '#e03131',
};
/** Symbol size of the current state's node (others are smaller): what the browser test checks. */
export const ACTIVE_NODE_SIZE = 34;

/** The width charts are drawn at when none is given (the reports' size). */
export const DEFAULT_CHART_WIDTH = 520;

/** `width`: of the chart's box in px; titles longer than it are cut with an ellipsis, never wrapped over the legend. */
export function buildCharts(view: RunView, options: { width?: number } = {}): ChartSpec[] {
  const charts: ChartSpec[] = [
    { id: 'states', option: statechartOption(view) },
    { id: 'rates', option: ratesOption(view) },
    { id: 'remaining', option: remainingOption(view) },
    { id: 'lambda', option: lambdaOption(view) },
    { id: 'downtime', option: downtimeOption(view) },
    { id: 'throttle', option: throttleOption(view) },
    { id: 'bytes', option: bytesOption(view) },
    { id: 'heatmap', option: heatmapOption(view) },
    { id: 'prediction', option: predictionOption(view) },
    { id: 'senders', option: sendersOption(view) },
    { id: 'postcopy', option: postcopyOption(view.result?.precopy.postcopy) },
  ];
  const width = options.width ?? DEFAULT_CHART_WIDTH;
  return charts.map((c) => ({ ...c, option: fitTitle(c.option, width) }));
}

function fitTitle(option: EChartsOption, width: number): EChartsOption {
  const title = option.title as { textStyle?: object; subtextStyle?: object } | undefined;
  if (!title) return option;
  const fit = { width: Math.max(60, width - 24), overflow: 'truncate' as const };
  return {
    ...option,
    title: {
      ...title,
      textStyle: { ...title.textStyle, ...fit },
      subtextStyle: { ...title.subtextStyle, ...fit },
    },
  };
}

////     shared pieces     ////

export function roundLabel(r: RoundStats): string {
  if (r.final) return 'S&C';
  return r.round === 0 ? 'bulk' : String(r.round);
}

function roundTitle(r: RoundStats): string {
  if (r.final) return `round ${r.round} (stop-and-copy)`;
  return r.round === 0 ? 'round 0 (bulk)' : `round ${r.round}`;
}

/** The in-flight round's live point is drawn only while running, on charts that show it. */
function liveProgress(view: RunView) {
  return isFinished(view) ? null : view.progress;
}

function categories(view: RunView, withLive: boolean): string[] {
  const labels = view.rounds.map(roundLabel);
  const live = liveProgress(view);
  if (withLive && live) labels.push(`now (${live.round})`);
  return labels;
}

export function base(title: string, subtitle: string): EChartsOption {
  return {
    animation: false,
    textStyle: { fontFamily: 'Inter, Segoe UI, Helvetica, Arial, sans-serif', color: COLORS.text },
    title: {
      text: title,
      subtext: subtitle,
      left: 10,
      top: 6,
      textStyle: { fontSize: 13, fontWeight: 600, color: COLORS.text },
      subtextStyle: { fontSize: 11, color: COLORS.muted },
    },
    // One line however narrow: a wrapped legend would run into the plot.
    legend: {
      type: 'scroll',
      top: 42,
      left: 6,
      right: 6,
      itemGap: 16,
      itemWidth: 14,
      itemHeight: 8,
      textStyle: { fontSize: 11 },
    },
    grid: { left: 64, right: 56, top: 84, bottom: 42 },
    tooltip: { trigger: 'axis', confine: true },
  };
}

function roundAxis(view: RunView, withLive = false) {
  return {
    type: 'category' as const,
    data: categories(view, withLive),
    // Under the axis, centred: at its end it ran into the last round's label.
    name: 'round',
    nameLocation: 'middle' as const,
    nameGap: 20,
    nameTextStyle: { color: COLORS.muted, fontSize: 10 },
    axisLabel: { fontSize: 10, color: COLORS.muted },
    axisTick: { alignWithLabel: true },
  };
}

export function valueAxis(name: string, extra: Record<string, unknown> = {}) {
  return {
    type: 'value' as const,
    name,
    nameTextStyle: { color: COLORS.muted, fontSize: 10, align: 'left' as const },
    axisLabel: { fontSize: 10, color: COLORS.muted },
    splitLine: { lineStyle: { color: COLORS.grid } },
    ...extra,
  };
}

function lineSeries(id: string, name: string, color: string, data: (number | null)[], extra = {}) {
  return {
    id,
    name,
    type: 'line' as const,
    data,
    showSymbol: true,
    showAllSymbol: true,
    symbolSize: 6,
    connectNulls: false,
    itemStyle: { color },
    lineStyle: { color, width: 2 },
    ...extra,
  };
}

/** Pads a per-round column with one null for the live category, so it lines up with the axis. */
function padLive(view: RunView, withLive: boolean, data: (number | null)[]): (number | null)[] {
  return withLive && liveProgress(view) ? [...data, null] : data;
}

function emptyNote(view: RunView, text = 'waiting for the first round…') {
  return view.rounds.length === 0 && !liveProgress(view) ? centreNote(text) : {};
}

/** A muted line of text in the middle of a chart that has nothing (or nothing yet) to draw. */
function centreNote(text: string) {
  return {
    graphic: [
      {
        type: 'text' as const,
        left: 'center' as const,
        top: 'middle' as const,
        style: { text, fill: COLORS.muted, fontSize: 12 },
      },
    ],
  };
}

////     the charts     ////

/** Dirty rate (the guest's distinct pages written per second) against the send rate. */
export function ratesOption(view: RunView): EChartsOption {
  const live = liveProgress(view);
  const withLive = true;
  return {
    ...base('Dirty rate vs send rate', 'per round; converges only while dirty < send'),
    ...emptyNote(view),
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => `${Number(v).toFixed(1)} MiB/s` },
    xAxis: roundAxis(view, withLive),
    yAxis: valueAxis('MiB/s'),
    series: [
      lineSeries(
        'dirty',
        'dirty rate',
        COLORS.dirty,
        padLive(
          view,
          withLive,
          view.rounds.map((r) => toMiB(r.dirtyRate)),
        ),
        { areaStyle: { color: COLORS.dirty, opacity: 0.08 }, ...markLines(switchoverMark(view)) },
      ),
      lineSeries(
        'send',
        'send rate',
        COLORS.send,
        padLive(
          view,
          withLive,
          view.rounds.map((r) => toMiB(r.sendRate)),
        ),
      ),
      ...capSeries(view, withLive),
      ...(live
        ? [
            liveMarker('live:dirty', 'dirty (now)', COLORS.dirty, view, toMiB(live.dirtyRate)),
            liveMarker('live:send', 'send (now)', COLORS.send, view, toMiB(live.sendRate)),
          ]
        : []),
    ],
  };
}

/**
 * The max-bandwidth in force per round as a dashed step line, with a vertical mark where a live
 * set-parameters moved it (only set-parameters does: the cap has no ramp). None for results
 * that do not record it.
 */
function capSeries(view: RunView, withLive: boolean) {
  const caps = view.rounds.map((r) => (r.maxBandwidth === undefined ? null : toMiB(r.maxBandwidth)));
  if (caps.every((c) => c === null)) return [];
  const changes = caps.flatMap((c, i) =>
    i > 0 && c !== null && caps[i - 1] !== null && c !== caps[i - 1]
      ? [
          {
            name: 'set max-bandwidth',
            xAxis: i,
            lineStyle: { color: COLORS.limit, type: 'dotted' as const, width: 1 },
            label: { formatter: `max-bandwidth ${c} MiB/s`, position: 'insideEndTop' as const, fontSize: 10 },
          },
        ]
      : [],
  );
  return [
    lineSeries('cap', 'max-bandwidth', COLORS.limit, padLive(view, withLive, caps), {
      step: 'end',
      showSymbol: false,
      lineStyle: { color: COLORS.limit, width: 1, type: 'dashed' },
      ...markLines(changes),
    }),
  ];
}

/** A hollow point in the live column: the round in flight, updated per progress tick. */
function liveMarker(id: string, name: string, color: string, view: RunView, value: number | null) {
  const data: (number | null)[] = view.rounds.map(() => null);
  data.push(value);
  return {
    id,
    name,
    type: 'scatter' as const,
    data,
    symbol: 'emptyCircle',
    symbolSize: 11,
    itemStyle: { color, borderWidth: 2 },
  };
}

/** Log scale: zero has no place on it, so a round that ends with nothing left draws no point. */
function logValue(bytes: number): number | null {
  return bytes > 0 ? toMiB(bytes) : null;
}

/** Remaining (dirty at the end of each round) against the stop threshold, on a log scale. */
export function remainingOption(view: RunView): EChartsOption {
  const live = liveProgress(view);
  const switchover = switchoverRound(view.rounds);
  const switchoverIndex = switchover === null ? -1 : view.rounds.indexOf(switchover);
  return {
    ...base('Remaining vs threshold', 'bytes dirty after each round; switchover once below threshold'),
    ...emptyNote(view),
    tooltip: {
      trigger: 'axis',
      confine: true,
      valueFormatter: (v) => (v === null || v === undefined ? '0 (all sent)' : fmtBytes(Number(v) * MiB)),
    },
    xAxis: roundAxis(view, true),
    yAxis: valueAxis('MiB (log)', { type: 'log', logBase: 10, minorSplitLine: { show: false } }),
    series: [
      lineSeries(
        'remaining',
        'remaining',
        COLORS.remaining,
        padLive(
          view,
          true,
          view.rounds.map((r) => logValue(r.remaining)),
        ),
        {
          ...markLines(switchoverMark(view)),
          ...(switchover && switchoverIndex >= 0 && switchover.remaining > 0
            ? {
                markPoint: {
                  symbol: 'pin',
                  symbolSize: 38,
                  itemStyle: { color: COLORS.threshold },
                  label: { fontSize: 9, formatter: 'S/O' },
                  data: [
                    {
                      name: 'switchover',
                      coord: [switchoverIndex, toMiB(switchover.remaining)],
                      value: 'switchover',
                    },
                  ],
                },
              }
            : {}),
        },
      ),
      lineSeries(
        'threshold',
        'threshold',
        COLORS.threshold,
        // The threshold in force now carries the line into the live column.
        live
          ? [...view.rounds.map((r) => logValue(r.threshold)), logValue(live.threshold)]
          : view.rounds.map((r) => logValue(r.threshold)),
        {
          lineStyle: { color: COLORS.threshold, width: 1.5, type: 'dashed' },
          symbol: 'none',
          showSymbol: false,
        },
      ),
      ...(live
        ? [liveMarker('live:remaining', 'remaining (now)', COLORS.remaining, view, logValue(live.remaining))]
        : []),
    ],
  };
}

/** The last live round: what it left dirty is what stop-and-copy sent. */
export function switchoverRound(rounds: RoundStats[]): RoundStats | null {
  const finalAt = rounds.findIndex((r) => r.final);
  return finalAt > 0 ? rounds[finalAt - 1]! : null;
}

/**
 * A vertical line at stop-and-copy: where the source paused the guest. Per-round charts carry it
 * so the switchover reads the same on each; none before it happens.
 */
function switchoverMark(view: RunView) {
  const at = view.rounds.findIndex((r) => r.final);
  if (at < 0) return [];
  return [
    {
      name: 'switchover',
      xAxis: at,
      lineStyle: { color: COLORS.threshold, type: 'solid' as const, width: 1.5 },
      // Above the plot, where no data or other line label is.
      label: {
        formatter: 'switchover',
        position: 'end' as const,
        fontSize: 10,
        color: COLORS.threshold,
      },
    },
  ];
}

/** A series' markLine from its items (none at all when there are none). */
function markLines(items: object[], defaults: object = {}) {
  return items.length > 0 ? { markLine: { symbol: 'none', silent: true, ...defaults, data: items } } : {};
}

/** The downtime limit in force per round: the round's own (it ramps, and can be set live), else the scenario's. */
export function downtimeLimits(view: RunView): (number | null)[] {
  const fallback = scenarioDowntimeLimit(view);
  return view.rounds.map((r) => r.downtimeLimit ?? fallback);
}

function scenarioDowntimeLimit(view: RunView): number | null {
  const scenario = view.result?.precopy.scenario as
    { migration?: { 'downtime-limit'?: unknown }; 'downtime-limit'?: unknown } | null | undefined;
  const limit = scenario?.migration?.['downtime-limit'] ?? scenario?.['downtime-limit'];
  return typeof limit === 'number' ? limit : null;
}

/** λ = dirty / send per round with the line at 1: above it a round leaves more than it sent. */
export function lambdaOption(view: RunView): EChartsOption {
  return {
    ...base('λ = dirty rate / send rate', 'each live round shrinks the dirty set by λ; ≥ 1 never converges'),
    ...emptyNote(view),
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => Number(v).toFixed(3) },
    xAxis: roundAxis(view),
    yAxis: valueAxis('λ', {
      min: 0,
      max: (extent: { max: number }) => Math.max(1.2, Math.ceil(extent.max * 10) / 10),
    }),
    series: [
      {
        id: 'lambda',
        name: 'λ',
        type: 'bar',
        barMaxWidth: 28,
        data: view.rounds.map((r) => ({
          value: round3(r.lambda),
          itemStyle: { color: r.lambda >= 1 ? COLORS.lambdaOver : COLORS.lambda },
        })),
        ...markLines([{ yAxis: 1 }, ...switchoverMark(view)], {
          lineStyle: { color: COLORS.lambdaOver, type: 'dashed', width: 1.5 },
          label: { formatter: 'λ = 1', position: 'insideEndTop', fontSize: 10, color: COLORS.lambdaOver },
        }),
      },
    ],
  };
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * The downtime the in-run predictor (src/migration/predictor.ts, the scenario model re-fitted
 * after the round) expects; none for stop-and-copy, a round without a prediction, or a
 * migration it expects to be cancelled.
 */
export function predictedDowntime(r: RoundStats): number | null {
  if (r.final || r.predictedDowntime === undefined || r.predictedOutcome === 'cancelled') return null;
  return r.predictedDowntime;
}

/** QEMU's expected-downtime per round, the model's prediction, and the measured downtime. */
export function downtimeOption(view: RunView): EChartsOption {
  const result = view.result;
  const actual = result && result.status === 'completed' ? result.downtime : null;
  const destination = result && result.status === 'completed' ? result.precopy.destinationDowntime : null;
  const marks = [
    ...(actual !== null
      ? [
          {
            name: 'source',
            yAxis: round3(actual),
            lineStyle: { color: COLORS.actual },
            label: { position: 'insideStartTop' as const, color: COLORS.actual },
          },
        ]
      : []),
    ...(destination
      ? [
          {
            name: 'destination',
            yAxis: round3(destination),
            lineStyle: { color: COLORS.destination },
            label: { position: 'insideEndBottom' as const, color: COLORS.destination },
          },
        ]
      : []),
  ];
  return {
    ...base(
      'Downtime: expected vs predicted vs actual',
      'QEMU expected-downtime vs the limit, model prediction, measured',
    ),
    ...emptyNote(view),
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => fmtMs(v === null ? null : Number(v)) },
    xAxis: roundAxis(view),
    yAxis: valueAxis('ms'),
    series: [
      lineSeries(
        'expected',
        'expected',
        COLORS.expected,
        view.rounds.map((r) => round3(r.expectedDowntime)),
        markLines([...marks, ...switchoverMark(view)], {
          silent: false,
          lineStyle: { type: 'solid', width: 1.5 },
          label: {
            fontSize: 10,
            formatter: (p: { name?: string; value?: unknown }) =>
              `actual (${p.name}) ${fmtMs(Number(p.value))}`,
          },
        }),
      ),
      lineSeries('limit', 'downtime limit', COLORS.limit, downtimeLimits(view), {
        step: 'end',
        symbol: 'none',
        showSymbol: false,
        lineStyle: { color: COLORS.limit, width: 1.5, type: 'dashed' },
      }),
      lineSeries(
        'predicted',
        'predicted (model)',
        COLORS.predicted,
        view.rounds.map((r) => {
          const p = predictedDowntime(r);
          return p === null ? null : round3(p);
        }),
        { lineStyle: { color: COLORS.predicted, width: 2, type: 'dashed' } },
      ),
    ],
  };
}

/** The vCPU throttle auto-converge applied in each round. */
export function throttleOption(view: RunView): EChartsOption {
  return {
    ...base('vCPU throttle', 'auto-converge, % of vCPU time taken away'),
    ...emptyNote(view),
    tooltip: { trigger: 'axis', confine: true, valueFormatter: (v) => `${Number(v)} %` },
    xAxis: roundAxis(view),
    yAxis: valueAxis('%', { min: 0, max: 100 }),
    series: [
      lineSeries(
        'throttle',
        'throttle',
        COLORS.throttle,
        view.rounds.map((r) => r.throttle),
        {
          step: 'end',
          areaStyle: { color: COLORS.throttle, opacity: 0.12 },
          ...markLines(switchoverMark(view)),
        },
      ),
    ],
  };
}

/**
 * The sender threads (multifd's channels, and the migration thread): what each sent over the
 * run as a mean rate, and how busy the CPU model kept it. The figures come with the result
 * (precopy.sender); a one-stream run without a CPU model says so.
 */
export function sendersOption(view: RunView): EChartsOption {
  const sender = view.result?.precopy.sender;
  const seconds = (view.result?.['total-time'] ?? 0) / 1000;
  const threads = sender
    ? [
        ...(sender.migrationThread.bytes > 0 || sender.channels === 0
          ? [{ name: 'migration thread', ...sender.migrationThread }]
          : []),
        ...sender.perChannel.map((t, i) => ({ name: `channel ${i + 1}`, ...t })),
      ]
    : [];
  const note = view.result
    ? 'one stream, sender CPU not modelled (set multifd or encode-rate)'
    : 'per-channel figures come with the result';
  return {
    ...base('Sender threads', 'mean send rate over the run and CPU busy (the encode-rate model)'),
    ...(threads.length === 0 || seconds <= 0 ? centreNote(note) : {}),
    tooltip: { trigger: 'axis', confine: true },
    xAxis: { type: 'category', data: threads.map((t) => t.name), axisLabel: { fontSize: 10 } },
    yAxis: [valueAxis('MiB/s'), valueAxis('CPU %', { splitLine: { show: false }, min: 0, max: 100 })],
    series: [
      {
        id: 'rate',
        name: 'send rate',
        type: 'bar',
        barMaxWidth: 22,
        itemStyle: { color: COLORS.send },
        data: threads.map((t) => (seconds > 0 ? toMiB(t.bytes / seconds) : null)),
      },
      {
        id: 'cpu',
        name: 'CPU busy',
        type: 'bar',
        yAxisIndex: 1,
        barMaxWidth: 22,
        itemStyle: { color: COLORS.dirty },
        data: threads.map((t) =>
          t.cpuTime === null || seconds <= 0 ? null : Math.round((t.cpuTime / (seconds * 1000)) * 1000) / 10,
        ),
      },
    ],
  };
}

/** What the postcopy chart draws: the phase's figures and the destination's fault timeline. */
export type PostcopyFaults = Pick<
  PostcopyResult,
  'timeline' | 'postcopy-requests' | 'postcopy-blocktime' | 'postcopy-vcpu-blocktime'
>;

/**
 * Postcopy's faults over the phase (ms after the switch): page requests per sampling interval
 * as bars, and each vCPU's blocktime so far as a line (flat while it runs, rising while it waits
 * for a page), from the destination's timeline. A run without postcopy says so.
 */
export function postcopyOption(postcopy: PostcopyFaults | undefined): EChartsOption {
  const tl = postcopy?.timeline;
  const t = tl?.t ?? [];
  const requests = (tl?.requests ?? []).map((n, i, all) => n - (i > 0 ? all[i - 1]! : 0));
  const subtitle = postcopy
    ? `${postcopy['postcopy-requests']} requests, all vCPUs blocked ${fmtMs(postcopy['postcopy-blocktime'])}`
    : 'requests and blocktime per vCPU after migrate-start-postcopy';
  return {
    ...base('Postcopy faults', subtitle),
    ...(t.length === 0
      ? centreNote(postcopy ? 'no samples' : 'no postcopy in this run (postcopy-ram off)')
      : {}),
    tooltip: { trigger: 'axis', confine: true },
    legend: { bottom: 0, type: 'scroll', textStyle: { fontSize: 10 } },
    xAxis: { type: 'value', name: 'ms after the switch', nameLocation: 'middle', nameGap: 22, min: 0 },
    yAxis: [valueAxis('requests'), valueAxis('blocked ms', { splitLine: { show: false }, min: 0 })],
    series: [
      {
        id: 'requests',
        name: 'page requests',
        type: 'bar',
        barMaxWidth: 8,
        itemStyle: { color: COLORS.requests },
        data: t.map((x, i) => [x, requests[i]!]),
      },
      ...(tl?.vcpuBlocktime ?? []).map((series, v) => ({
        id: `vcpu${v}`,
        name: `vCPU ${v} blocked`,
        type: 'line' as const,
        yAxisIndex: 1,
        showSymbol: false,
        lineStyle: { width: 1.5 },
        itemStyle: { color: VCPU_COLORS[v % VCPU_COLORS.length] },
        data: t.map((x, i) => [x, series[i]!]),
      })),
    ],
  };
}

/** Raw page bytes against bytes on the wire, zero pages apart, and the compression ratio. */
export function bytesOption(view: RunView): EChartsOption {
  const pageSize = view.result?.ram['page-size'] || 4096;
  return {
    ...base('Bytes on the wire vs raw', 'zero pages and lz4 make the wire smaller than the pages'),
    ...emptyNote(view),
    tooltip: {
      trigger: 'axis',
      confine: true,
      valueFormatter: (v) => (Number(v) > 50 ? fmtBytes(Number(v) * MiB) : `${Number(v).toFixed(2)}×`),
    },
    xAxis: roundAxis(view),
    yAxis: [valueAxis('MiB'), valueAxis('ratio', { splitLine: { show: false }, min: 0 })],
    series: [
      {
        id: 'raw',
        name: 'raw pages',
        type: 'bar',
        barGap: '10%',
        barMaxWidth: 22,
        itemStyle: { color: COLORS.raw },
        data: view.rounds.map((r) => toMiB(r.bytesRaw - r.pagesZero * pageSize)),
        stack: 'raw',
      },
      {
        id: 'zero',
        name: 'zero pages',
        type: 'bar',
        barMaxWidth: 22,
        itemStyle: { color: COLORS.zero },
        data: view.rounds.map((r) => toMiB(r.pagesZero * pageSize)),
        stack: 'raw',
      },
      {
        id: 'wire',
        name: 'on the wire',
        type: 'bar',
        barMaxWidth: 22,
        itemStyle: { color: COLORS.wire },
        data: view.rounds.map((r) => toMiB(r.bytesWire)),
      },
      lineSeries(
        'ratio',
        'raw / wire',
        COLORS.ratio,
        view.rounds.map((r) => round3(r.compressionRatio)),
        { yAxisIndex: 1, symbolSize: 5, lineStyle: { color: COLORS.ratio, width: 1.5 } },
      ),
    ],
  };
}

/** The colour scale from 1 page (lightest) to the most pages (darkest); none is grey. */
export const HEAT_COLORS = ['#fdd49e', '#fc8d59', '#e34a33', '#b30000', '#5c0000'];
export const HEAT_NONE = '#e9ecef';

/**
 * The heatmap's colour value: 0 for no pages (grey); from 1 page to `max` pages, 1 to
 * HEAT_COLORS.length on a log scale, so a late round that dirtied a handful of pages is as
 * visible as the bulk round's thousands (a linear scale faded them into the background).
 */
export function heatColourValue(pages: number, max: number): number {
  if (pages <= 0) return 0;
  if (max <= 1) return HEAT_COLORS.length;
  return 1 + ((HEAT_COLORS.length - 1) * Math.log(pages)) / Math.log(max);
}

/** Bytes per heatmap region: from the run's round events while live, the result once saved. */
export function regionBytesOf(view: RunView): number | null {
  if (view.regionBytes) return view.regionBytes;
  const pages = view.result?.precopy.regionPages ?? 0;
  return pages > 0 ? pages * (view.result?.ram['page-size'] || 4096) : null;
}

/** Row labels: the region's offset; the same while live and once finished (never switching). */
export function regionLabels(regions: number, regionBytes: number | null): string[] {
  return Array.from({ length: regions }, (_, i) => (regionBytes ? fmtBytes(i * regionBytes) : `region ${i}`));
}

/** Where the writable working set lives: dirtied pages per guest-memory region per round. */
export function heatmapOption(view: RunView): EChartsOption {
  const regions = view.rounds.reduce((n, r) => Math.max(n, r.dirtyByRegion.length), 0);
  const regionBytes = regionBytesOf(view);
  const labels = regionLabels(regions, regionBytes);
  // [round index, region, pages, colour value]: the colour is the 4th dimension, pages stay readable.
  const cells: [number, number, number][] = [];
  view.rounds.forEach((r, x) => {
    for (let y = 0; y < regions; y++) cells.push([x, y, r.dirtyByRegion[y] ?? 0]);
  });
  const max = cells.reduce((m, c) => Math.max(m, c[2]), 1);
  const note = regions === 0 && view.rounds.length > 0 ? 'no per-region data in this result' : undefined;
  return {
    ...base(
      'Dirtied pages per region',
      regionBytes
        ? `${fmtBytes(regionBytes)} regions (rows) per round; log colour, grey = none`
        : 'per round; log colour, grey = none',
    ),
    ...emptyNote(view),
    ...(note ? centreNote(note) : {}),
    grid: { left: 72, right: 84, top: 56, bottom: 42 },
    legend: { show: false },
    tooltip: {
      trigger: 'item',
      confine: true,
      formatter: (p: unknown) => {
        const { value } = p as { value: [number, number, number] };
        const r = view.rounds[value[0]];
        return `${r ? roundTitle(r) : ''}<br/>${labels[value[1]]}: ${value[2]} pages`;
      },
    },
    xAxis: { ...roundAxis(view), splitArea: { show: false } },
    yAxis: {
      type: 'category',
      data: labels,
      inverse: true,
      // At most ~16 offset labels, however many regions.
      axisLabel: { fontSize: 9, color: COLORS.muted, interval: Math.max(0, Math.ceil(regions / 16) - 1) },
      name: 'offset',
      nameLocation: 'start',
      nameTextStyle: { color: COLORS.muted, fontSize: 10 },
    },
    ...heatScale(cells, max),
  };
}

/** The most pages any cell of a heatmap option holds. */
function heatMaxPages(option: EChartsOption): number {
  const series = (option.series as { data: [number, number, number, number][] }[])[0]!;
  return series.data.reduce((m, d) => Math.max(m, d[2]), 1);
}

/**
 * The cells ([round index, region, pages, colour value]: the colour is the 4th dimension, so
 * pages stay readable) and their colour scale, its maximum written at its top.
 */
export function heatScale(cells: [number, number, number, ...unknown[]][], max: number) {
  return {
    visualMap: {
      type: 'continuous' as const,
      dimension: 3,
      min: 0,
      max: HEAT_COLORS.length,
      calculable: false,
      orient: 'vertical' as const,
      right: 8,
      top: 56,
      itemHeight: 120,
      itemWidth: 10,
      text: [`${max} pages`, '0'],
      textGap: 6,
      textStyle: { fontSize: 10, color: COLORS.muted },
      inRange: { color: [HEAT_NONE, ...HEAT_COLORS] },
    },
    series: [
      {
        id: 'heatmap',
        name: 'dirtied pages',
        type: 'heatmap' as const,
        data: cells.map(([x, y, pages]) => [x, y, pages, heatColourValue(pages, max)]),
        progressive: 0,
      },
    ],
  };
}

/**
 * Why the prediction chart shows no forecast for the latest round (or what the forecast is of),
 * so an empty chart is never silent: with λ ≥ 1 the dirty set never shrinks and there is
 * nothing to converge to.
 */
export function predictionNote(view: RunView): string | null {
  const live = view.rounds.filter((r) => !r.final && !r.partial);
  const last = live[live.length - 1];
  if (!last) return null;
  const lambda = last.lambda >= 1 ? `λ = ${last.lambda.toFixed(2)} ≥ 1 (round ${last.round})` : null;
  if (last.predictedRoundsLeft === null && last.predictedEta === null) {
    if (lambda) return `no prediction: ${lambda}, it cannot converge`;
    const error = view.result?.precopy.predictorError;
    return error ? `no prediction: ${error}` : `no prediction after round ${last.round}`;
  }
  if (last.predictedOutcome === 'cancelled')
    return `predicts a cancel${lambda ? `, ${lambda}` : ''}: ETA to the timeout`;
  return null;
}

/** The predictor after each round: rounds left and ETA, and how wrong it turned out to be. */
export function predictionOption(view: RunView): EChartsOption {
  const note = predictionNote(view);
  const result = view.result;
  const total = result ? result['total-time'] : null;
  const errors = new Map((result?.precopy.predictionError ?? []).map((e) => [e.round, e]));
  const seconds = (ms: number | null | undefined) =>
    ms === null || ms === undefined ? null : round3(ms / 1000);
  return {
    ...base('Prediction: rounds left and ETA', 'after each round; error = predicted − actual'),
    ...emptyNote(view),
    ...(note
      ? {
          graphic: [
            {
              type: 'text' as const,
              left: 'center' as const,
              top: 92,
              style: {
                text: note,
                fill: COLORS.etaError,
                fontSize: 11,
                backgroundColor: 'rgba(255,255,255,0.85)',
                padding: [2, 6],
              },
            },
          ],
        }
      : {}),
    tooltip: { trigger: 'axis', confine: true },
    xAxis: roundAxis(view),
    yAxis: [valueAxis('rounds', { minInterval: 1 }), valueAxis('s', { splitLine: { show: false } })],
    series: [
      {
        id: 'roundsLeft',
        name: 'rounds left',
        type: 'bar',
        barMaxWidth: 22,
        itemStyle: { color: COLORS.predicted, opacity: 0.75 },
        data: view.rounds.map((r) => r.predictedRoundsLeft),
      },
      lineSeries(
        'eta',
        'ETA',
        COLORS.eta,
        view.rounds.map((r) => seconds(r.predictedEta)),
        { yAxisIndex: 1 },
      ),
      lineSeries(
        'actualLeft',
        'actual time left',
        COLORS.actualLeft,
        view.rounds.map((r) =>
          total === null ? null : seconds(Math.max(0, total - (r.start + r.duration))),
        ),
        { yAxisIndex: 1, lineStyle: { color: COLORS.actualLeft, width: 1.5, type: 'dashed' } },
      ),
      lineSeries(
        'etaError',
        'ETA error',
        COLORS.etaError,
        view.rounds.map((r) => seconds(errors.get(r.round)?.eta)),
        { yAxisIndex: 1, symbol: 'diamond', lineStyle: { color: COLORS.etaError, width: 1, type: 'dotted' } },
      ),
    ],
  };
}

////     the statechart     ////

interface StateNode {
  name: MigrationStatus;
  x: number;
  y: number;
}

/** QEMU's MigrationStatus flow for a pre-copy source (research §2.1), laid out left to right. */
export const STATECHART_NODES: StateNode[] = [
  { name: 'none', x: 0, y: 0 },
  { name: 'setup', x: 1, y: 0 },
  { name: 'active', x: 2, y: 0 },
  { name: 'pre-switchover', x: 3, y: -0.8 },
  { name: 'postcopy-active', x: 3.9, y: -1 },
  { name: 'postcopy-paused', x: 4.6, y: -1.05 },
  { name: 'postcopy-recover', x: 5.05, y: -0.55 },
  { name: 'device', x: 4, y: 0 },
  { name: 'completed', x: 5, y: 0 },
  { name: 'cancelling', x: 2.5, y: 1 },
  { name: 'cancelled', x: 3.7, y: 1 },
  { name: 'failed', x: 5, y: 1 },
];

export const STATECHART_EDGES: [MigrationStatus, MigrationStatus][] = [
  ['none', 'setup'],
  ['setup', 'active'],
  ['active', 'device'],
  ['active', 'pre-switchover'],
  ['active', 'postcopy-active'],
  ['postcopy-active', 'postcopy-paused'],
  ['postcopy-paused', 'postcopy-recover'],
  ['postcopy-recover', 'postcopy-active'],
  ['postcopy-active', 'completed'],
  ['postcopy-active', 'failed'],
  ['pre-switchover', 'device'],
  ['device', 'completed'],
  ['active', 'completed'],
  ['setup', 'cancelling'],
  ['active', 'cancelling'],
  ['pre-switchover', 'cancelling'],
  ['device', 'cancelling'],
  ['cancelling', 'cancelled'],
  ['setup', 'failed'],
  ['active', 'failed'],
  ['device', 'failed'],
];

function highlightColor(status: MigrationStatus): string {
  if (status === 'completed') return STATE_HIGHLIGHT.completed;
  if (status === 'failed' || status === 'cancelled') return STATE_HIGHLIGHT.failed;
  return STATE_HIGHLIGHT.running;
}

/**
 * The source machine's states: where it is now (filled), where it has been (tinted). The edge
 * the live phase left `active` by carries the name of the machine's stop guard that fired.
 */
export function statechartOption(view: RunView): EChartsOption {
  const seen = new Set(view.statesSeen);
  const traversed = new Set(view.statesSeen.slice(1).map((s, i) => `${view.statesSeen[i]}>${s}`));
  const leftActive = view.statesSeen[view.statesSeen.indexOf('active') + 1];
  const current = view.status;
  const color = highlightColor(current);
  const stop = view.stopReason ? ` · stop: ${view.stopReason}` : '';
  return {
    ...base('Migration state', `source: ${current} · machine: ${view.machineState}${stop}`),
    legend: { show: false },
    tooltip: { show: false },
    // Nodes sit on hidden value axes (not the graph's own view), so symbols keep their size.
    grid: { left: 50, right: 50, top: 64, bottom: 30 },
    xAxis: { type: 'value', show: false, min: -0.2, max: 5.2 },
    yAxis: { type: 'value', show: false, min: -1.15, max: 1.35, inverse: true },
    series: [
      {
        id: 'states',
        type: 'graph',
        coordinateSystem: 'cartesian2d',
        edgeSymbol: ['none', 'arrow'],
        edgeSymbolSize: 7,
        data: STATECHART_NODES.map((n) => {
          const active = n.name === current;
          return {
            name: n.name,
            value: [n.x, n.y],
            symbol: 'roundRect',
            symbolSize: active ? ACTIVE_NODE_SIZE : 18,
            itemStyle: active
              ? { color, borderColor: color, borderWidth: 3 }
              : seen.has(n.name)
                ? { color: '#d0ebff', borderColor: COLORS.send, borderWidth: 1.5 }
                : { color: '#ffffff', borderColor: '#ced4da', borderWidth: 1 },
            label: {
              show: true,
              position: n.y <= 0 ? 'top' : 'bottom',
              distance: 6,
              fontSize: active ? 12 : 10,
              fontWeight: active ? 'bold' : 'normal',
              color: active ? color : seen.has(n.name) ? COLORS.text : COLORS.muted,
            },
          };
        }),
        links: STATECHART_EDGES.map(([from, to]) => {
          const taken = traversed.has(`${from}>${to}`);
          const abort = to === 'cancelling' || to === 'failed';
          const guard = taken && from === 'active' && to === leftActive ? view.stopReason : null;
          return {
            source: from,
            target: to,
            ...(guard ? { label: { show: true, formatter: guard, fontSize: 10, color: COLORS.text } } : {}),
            lineStyle: {
              color: taken ? (abort ? STATE_HIGHLIGHT.failed : COLORS.send) : abort ? '#e9ecef' : '#ced4da',
              width: taken ? 2.5 : 1,
              type: abort && !taken ? ('dashed' as const) : ('solid' as const),
              curveness: from === 'active' && to === 'completed' ? 0.25 : 0,
              opacity: 1,
            },
          };
        }),
      },
    ],
  };
}

////     side by side     ////

interface AxisLike {
  type?: string;
  min?: unknown;
  max?: unknown;
  [key: string]: unknown;
}
interface SeriesLike {
  id?: string;
  type?: string;
  stack?: string;
  yAxisIndex?: number;
  data?: unknown[];
  markLine?: { data?: { yAxis?: number }[] };
}

function numeric(d: unknown): number | null {
  if (typeof d === 'number') return Number.isFinite(d) ? d : null;
  if (d && typeof d === 'object' && 'value' in d) return numeric((d as { value: unknown }).value);
  return null;
}

/** Every value one y axis of a chart has to show: data (stacks summed) and mark lines. */
function axisValues(option: EChartsOption, axis: number): number[] {
  const values: number[] = [];
  const stacks = new Map<string, number[]>();
  for (const s of (option.series ?? []) as SeriesLike[]) {
    if ((s.yAxisIndex ?? 0) !== axis) continue;
    for (const m of s.markLine?.data ?? []) if (typeof m.yAxis === 'number') values.push(m.yAxis);
    const data = (s.data ?? []).map(numeric);
    if (!s.stack) {
      for (const v of data) if (v !== null) values.push(v);
      continue;
    }
    const sum = stacks.get(s.stack) ?? [];
    data.forEach((v, i) => (sum[i] = (sum[i] ?? 0) + (v ?? 0)));
    stacks.set(s.stack, sum);
  }
  for (const sum of stacks.values()) values.push(...sum);
  return values;
}

/** The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10ⁿ at or above x. */
function niceCeil(x: number): number {
  if (x <= 0) return 0;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x * (1 - 1e-9)) return m * p;
  return 10 * p;
}

function rangedAxis(axis: AxisLike, values: number[]): AxisLike {
  if (values.length === 0 || typeof axis.max === 'number') return axis;
  if (axis.type === 'log') {
    const positive = values.filter((v) => v > 0);
    if (positive.length === 0) return axis;
    return {
      ...axis,
      min: Math.pow(10, Math.floor(Math.log10(Math.min(...positive)))),
      max: Math.pow(10, Math.ceil(Math.log10(Math.max(...positive)))),
    };
  }
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values, typeof axis.max === 'function' ? 1.2 : 0);
  return { ...axis, min: lo < 0 ? -niceCeil(-lo) : (axis.min ?? 0), max: niceCeil(hi) };
}

/**
 * Side by side, a quantity gets the same axis range in every run, so equal heights mean equal
 * values (each chart alone scales to its own data). `sets[i]` are run i's charts.
 */
export function alignScales(sets: ChartSpec[][]): ChartSpec[][] {
  if (sets.length < 2) return sets;
  const byId = (id: ChartId) => sets.map((set) => set.find((c) => c.id === id)!.option);
  return sets.map((set) =>
    set.map((chart) => {
      const options = byId(chart.id);
      if (chart.id === 'states') return chart;
      if (chart.id === 'heatmap') {
        const max = Math.max(1, ...options.map(heatMaxPages));
        const cells = (chart.option.series as { data: [number, number, number][] }[])[0]!.data;
        return { ...chart, option: { ...chart.option, ...heatScale(cells, max) } };
      }
      const axes = (
        Array.isArray(chart.option.yAxis) ? chart.option.yAxis : [chart.option.yAxis]
      ) as AxisLike[];
      const aligned = axes.map((axis, i) =>
        rangedAxis(
          axis,
          options.flatMap((o) => axisValues(o, i)),
        ),
      );
      const yAxis = (Array.isArray(chart.option.yAxis) ? aligned : aligned[0]) as EChartsOption['yAxis'];
      return { ...chart, option: { ...chart.option, yAxis } };
    }),
  );
}
