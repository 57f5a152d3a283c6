import fc from 'fast-check';
import type { MigrationStatus } from '../../src/migration/result';
import {
  ACTIVE_NODE_SIZE,
  alignScales,
  buildCharts,
  CHART_IDS,
  downtimeLimits,
  HEAT_COLORS,
  HEAT_NONE,
  heatColourValue,
  predictedDowntime,
  predictionNote,
  regionLabels,
  STATECHART_NODES,
  switchoverRound,
  type ChartId,
} from '../../src/viz/charts';
import { applyEvent, badgeOf, emptyRunView, runViewFromResult, type RunView } from '../../src/viz/run-view';
import { buildResult, eventsFor } from './fixtures';

const MiB = 1024 * 1024;

/** The option's series as plain objects (the options are data; tests read them as such). */
function seriesOf(view: RunView, id: ChartId): { id: string; type: string; data: unknown[] }[] {
  const chart = buildCharts(view).find((c) => c.id === id)!;
  return chart.option.series as { id: string; type: string; data: unknown[] }[];
}

function xLabels(view: RunView, id: ChartId): string[] {
  const chart = buildCharts(view).find((c) => c.id === id)!;
  return (chart.option.xAxis as { data: string[] }).data;
}

const PER_ROUND: ChartId[] = ['rates', 'remaining', 'lambda', 'downtime', 'throttle', 'bytes', 'prediction'];

function foldAll(events: ReturnType<typeof eventsFor>): RunView {
  return events.reduce((view, e, i) => applyEvent(view, e, i + 1), emptyRunView('test'));
}

describe('chart definitions', () => {
  const cases = {
    'golden case (converges in 3 rounds)': buildResult(),
    'memory hog with auto-converge': buildResult({
      dirtyRate: 900 * MiB,
      zeroFraction: 0.3,
      compression: 1.6,
      throttle: [0, 0, 20, 30, 40, 50, 60, 70, 80],
    }),
    'a hog that never converges (cancelled)': buildResult({ dirtyRate: 1200 * MiB, maxRounds: 12 }),
  };

  it.each(Object.entries(cases))('%s: every per-round series has one point per round', (_name, result) => {
    const view = runViewFromResult('r', result);
    const rounds = result.precopy.rounds.length;
    for (const id of PER_ROUND) {
      expect(xLabels(view, id)).toHaveLength(rounds);
      for (const s of seriesOf(view, id))
        expect({ id, series: s.id, points: s.data.length }).toEqual({ id, series: s.id, points: rounds });
    }
    const regions = result.precopy.rounds[0]!.dirtyByRegion.length;
    expect(seriesOf(view, 'heatmap')[0]!.data).toHaveLength(rounds * regions);
  });

  it('the rates chart draws max-bandwidth in force per round and marks where set-parameters moved it', () => {
    const result = buildResult({ dirtyRate: 400 * MiB, throttle: [0, 0, 20, 30, 40] });
    expect(result.precopy.rounds.length).toBeGreaterThan(3);
    const plain = runViewFromResult('plain', result);
    expect(seriesOf(plain, 'rates').map((s) => s.id)).not.toContain('cap');
    const rounds = result.precopy.rounds.map((r, i) => ({ ...r, maxBandwidth: (i < 2 ? 128 : 64) * MiB }));
    const changed = runViewFromResult('changed', { ...result, precopy: { ...result.precopy, rounds } });
    const cap = seriesOf(changed, 'rates').find((s) => s.id === 'cap') as unknown as {
      data: number[];
      markLine: { data: { xAxis: number }[] };
    };
    expect(cap.data).toEqual(rounds.map((_, i) => (i < 2 ? 128 : 64)));
    expect(cap.markLine.data.map((m) => m.xAxis)).toEqual([2]);
  });

  it("the senders chart: each channel's mean rate and CPU busy from precopy.sender; a note without it", () => {
    const result = buildResult({ dirtyRate: 40 * MiB });
    expect(seriesOf(runViewFromResult('one', result), 'senders')[0]!.data).toEqual([]);
    const seconds = result['total-time'] / 1000;
    const thread = (bytes: number, cpuTime: number) => ({
      bytes,
      pages: 0,
      zeroPages: 0,
      frames: 0,
      cpuTime,
    });
    const sender = {
      multifd: true,
      channels: 2,
      'zero-page-detection': 'multifd',
      encodeRate: 1024 * MiB,
      encodeRateSource: 'default' as const,
      migrationThread: thread(0, 0),
      perChannel: [thread(300 * MiB, seconds * 500), thread(100 * MiB, seconds * 250)],
    };
    const view = runViewFromResult('multifd', { ...result, precopy: { ...result.precopy, sender } });
    const chart = buildCharts(view).find((c) => c.id === 'senders')!;
    expect((chart.option.xAxis as { data: string[] }).data).toEqual(['channel 1', 'channel 2']);
    const [rate, cpu] = seriesOf(view, 'senders');
    expect(rate!.data).toEqual([300 / seconds, 100 / seconds].map((v) => Math.round(v * 1000) / 1000));
    expect(cpu!.data).toEqual([50, 25]);
  });

  it('draws the values of the rounds, in display units', () => {
    const result = cases['memory hog with auto-converge'];
    const view = runViewFromResult('r', result);
    const rounds = result.precopy.rounds;
    const [dirty, send] = seriesOf(view, 'rates');
    expect(dirty!.data).toEqual(rounds.map((r) => Math.round((r.dirtyRate / MiB) * 1000) / 1000));
    expect(send!.data).toEqual(rounds.map((r) => Math.round((r.sendRate / MiB) * 1000) / 1000));
    expect(seriesOf(view, 'throttle')[0]!.data).toEqual(rounds.map((r) => r.throttle));
    const lambda = seriesOf(view, 'lambda')[0]!.data as { value: number }[];
    expect(lambda.map((d) => d.value)).toEqual(rounds.map((r) => Math.round(r.lambda * 1000) / 1000));
    const heat = seriesOf(view, 'heatmap')[0]!.data as [number, number, number][];
    for (const [x, y, pages] of heat) expect(pages).toBe(rounds[x]!.dirtyByRegion[y]);
  });

  it('remaining is on a log axis: a round that leaves nothing draws no point, the switchover is marked', () => {
    const result = cases['golden case (converges in 3 rounds)'];
    const view = runViewFromResult('r', result);
    const chart = buildCharts(view).find((c) => c.id === 'remaining')!;
    expect((chart.option.yAxis as { type: string }).type).toBe('log');
    const remaining = seriesOf(view, 'remaining')[0] as unknown as {
      data: (number | null)[];
      markPoint: { data: { coord: [number, number] }[] };
    };
    const finalAt = result.precopy.rounds.findIndex((r) => r.final);
    expect(remaining.data[finalAt]).toBeNull();
    const switchover = switchoverRound(result.precopy.rounds)!;
    expect(switchover.round).toBe(finalAt - 1);
    expect(remaining.markPoint.data[0]!.coord[0]).toBe(finalAt - 1);
    expect(switchover.remaining).toBeLessThanOrEqual(switchover.threshold);
  });

  it('the golden case: round 0 sends 4 GiB, round 1 800 MiB, stop-and-copy ~156 MiB in ~153 ms', () => {
    const rounds = cases['golden case (converges in 3 rounds)'].precopy.rounds;
    expect(rounds.map((r) => Math.round(r.bytesWire / MiB))).toEqual([4096, 800, 156]);
    expect(rounds[2]!.duration).toBeCloseTo(152.3, 0);
  });

  it("predicted downtime is the in-run predictor's, none for a predicted cancel or no prediction", () => {
    const r = cases['golden case (converges in 3 rounds)'].precopy.rounds[0]!;
    const predicted = { ...r, predictedDowntime: 152.6, predictedOutcome: 'converged' as const };
    expect(predictedDowntime(predicted)).toBe(152.6);
    expect(predictedDowntime({ ...predicted, predictedOutcome: 'cancelled' })).toBeNull();
    expect(predictedDowntime({ ...r, predictedDowntime: undefined })).toBeNull();
    expect(predictedDowntime({ ...predicted, final: true })).toBeNull();
  });

  it('lambda bars at or above 1 are drawn in the warning colour, below it not', () => {
    const view = runViewFromResult('r', cases['a hog that never converges (cancelled)']);
    const bars = seriesOf(view, 'lambda')[0]!.data as { value: number; itemStyle: { color: string } }[];
    const over = new Set(bars.filter((b) => b.value >= 1).map((b) => b.itemStyle.color));
    const under = new Set(bars.filter((b) => b.value < 1).map((b) => b.itemStyle.color));
    expect(over.size).toBe(1);
    for (const c of under) expect(over.has(c)).toBe(false);
  });

  it('the statechart highlights exactly the current status, for every status', () => {
    const statuses = STATECHART_NODES.map((n) => n.name);
    fc.assert(
      fc.property(fc.constantFrom(...statuses), fc.subarray(statuses), (status: MigrationStatus, seen) => {
        const view: RunView = { ...emptyRunView('s'), status, statesSeen: [...seen, status] };
        const nodes = (
          seriesOf(view, 'states')[0] as unknown as { data: { name: string; symbolSize: number }[] }
        ).data;
        const highlighted = nodes.filter((n) => n.symbolSize === ACTIVE_NODE_SIZE).map((n) => n.name);
        expect(highlighted).toEqual([status]);
      }),
      { seed: 7, numRuns: 60 },
    );
  });

  it('while running, rates and remaining get a live column from the latest progress tick; gone when done', () => {
    const result = cases['memory hog with auto-converge'];
    const events = eventsFor(result);
    const midRound = events.findIndex(
      (e, i) => i > 0 && e.type === 'progress' && events[i - 1]!.type === 'round',
    );
    const live = foldAll(events.slice(0, midRound + 1));
    const progress = events[midRound] as Extract<(typeof events)[number], { type: 'progress' }>;
    expect(xLabels(live, 'rates')).toHaveLength(live.rounds.length + 1);
    const liveDirty = seriesOf(live, 'rates').find((s) => s.id === 'live:dirty')!;
    expect(liveDirty.data[live.rounds.length]).toBeCloseTo(progress.dirtyRate / MiB, 2);
    expect(xLabels(live, 'lambda')).toHaveLength(live.rounds.length);
    const done = foldAll(events);
    expect(seriesOf(done, 'rates').some((s) => s.id.startsWith('live:'))).toBe(false);
    expect(xLabels(done, 'rates')).toHaveLength(result.precopy.rounds.length);
  });

  it('an empty run (no rounds yet) still builds every chart', () => {
    const charts = buildCharts(emptyRunView('new'));
    expect(charts.map((c) => c.id)).toEqual([...CHART_IDS]);
  });

  it('side by side, each quantity gets one axis range covering both runs (stacks summed, log axes by decade)', () => {
    const a = runViewFromResult('a', cases['golden case (converges in 3 rounds)']);
    const b = runViewFromResult('b', cases['memory hog with auto-converge']);
    const [setA, setB] = alignScales([buildCharts(a), buildCharts(b)]);
    const axis = (set: typeof setA, id: ChartId, i = 0) => {
      const y = set!.find((c) => c.id === id)!.option.yAxis;
      return (Array.isArray(y) ? y[i] : y) as { min?: number; max?: number };
    };
    for (const id of ['rates', 'remaining', 'downtime', 'bytes', 'prediction', 'lambda'] as ChartId[]) {
      expect(axis(setA, id)).toEqual(axis(setB, id));
    }
    const both = [...a.rounds, ...b.rounds];
    expect(axis(setA, 'rates').max).toBeGreaterThanOrEqual(Math.max(...both.map((r) => r.sendRate / MiB)));
    // Raw bytes are drawn as non-zero + zero pages stacked: the axis holds the stack's top (4 GiB).
    expect(axis(setA, 'bytes').max).toBeGreaterThanOrEqual(4096);
    const log = axis(setA, 'remaining');
    expect(Math.log10(log.max!) % 1).toBe(0);
    expect(log.min! <= Math.min(...both.filter((r) => r.remaining > 0).map((r) => r.remaining / MiB))).toBe(
      true,
    );
    expect(axis(setA, 'throttle')).toEqual({ ...axis(setA, 'throttle'), min: 0, max: 100 });
    const heat = (set: typeof setA) =>
      (set!.find((c) => c.id === 'heatmap')!.option.visualMap as { text: string[] }).text;
    expect(heat(setA)).toEqual(heat(setB));
    // One run alone keeps its own automatic scale.
    expect(alignScales([buildCharts(a)])[0]![1]!.option.yAxis).toEqual(buildCharts(a)[1]!.option.yAxis);
  });
});

describe('dashboard readings', () => {
  const hog = buildResult({
    dirtyRate: 1100 * MiB,
    regions: 64,
    throttle: Array.from({ length: 60 }, (_, i) => Math.min(99, i * 2)),
    maxRounds: 60,
  });
  type Cell = [number, number, number, number];
  const heatOf = (view: RunView) => buildCharts(view).find((c) => c.id === 'heatmap')!.option;

  it('heatmap: every dirtied cell is on the colour scale (log), however few its pages; none is grey', () => {
    const option = heatOf(runViewFromResult('hog', hog));
    const cells = (option.series as { data: Cell[] }[])[0]!.data;
    const scale = option.visualMap as {
      min: number;
      max: number;
      text: string[];
      inRange: { color: string[] };
    };
    const max = Math.max(...cells.map((c) => c[2]));
    // The scale's top is the largest count, written on it; its bottom stop is grey, for none.
    expect(scale.text[0]).toBe(`${max} pages`);
    expect(scale.inRange.color).toEqual([HEAT_NONE, ...HEAT_COLORS]);
    expect([scale.min, scale.max]).toEqual([0, HEAT_COLORS.length]);
    for (const [, , pages, colour] of cells) {
      // Stops are evenly spaced: value 1 is HEAT_COLORS[0], nothing lies between none and it.
      if (pages > 0) expect(colour).toBeGreaterThanOrEqual(1);
      else expect(colour).toBe(0);
    }
    expect(heatColourValue(max, max)).toBe(HEAT_COLORS.length);
    // The faintest dirtied cell: on a linear scale it sat in the bottom 5 %, the near-white end;
    // here it gets at least the scale's first colour, which is visibly not white.
    const faintest = cells.filter((c) => c[2] > 0).sort((a, b) => a[2] - b[2])[0]!;
    expect(faintest[2] / max).toBeLessThan(0.05);
    expect(faintest[3]).toBeGreaterThanOrEqual(1);
    const [r, g, b] = [1, 3, 5].map((at) => parseInt(HEAT_COLORS[0]!.slice(at, at + 2), 16));
    expect(Math.min(r!, g!, b!)).toBeLessThan(0xe0);
  });

  it('heatmap rows keep their labels from the first round to the saved result', () => {
    const events = eventsFor(hog);
    const firstRound = events.findIndex((e) => e.type === 'round');
    const labelsOf = (view: RunView) => (heatOf(view).yAxis as { data: string[] }).data;
    const early = labelsOf(foldAll(events.slice(0, firstRound + 1)));
    expect(early[1]).toMatch(/^[\d.]+ (KiB|MiB|GiB)$/);
    expect(labelsOf(foldAll(events))).toEqual(early);
    expect(labelsOf(runViewFromResult('saved', hog))).toEqual(early);
    // NEGATIVE: a feed without the region size falls back to indices, never bytes-later.
    const bare = events.map((e) => (e.type === 'round' ? { ...e, regionBytes: undefined } : e));
    const live = labelsOf(foldAll(bare.slice(0, firstRound + 1)));
    expect(live[1]).toBe('region 1');
    expect(regionLabels(3, null)).toEqual(['region 0', 'region 1', 'region 2']);
  });

  it('downtime chart: the limit per round as a line; a switchover line on the per-round charts once it happened', () => {
    const result = buildResult();
    const rounds = result.precopy.rounds.map((r, i) => ({ ...r, downtimeLimit: 300 + i * 100 }));
    const view = runViewFromResult('r', { ...result, precopy: { ...result.precopy, rounds } });
    const limit = seriesOf(view, 'downtime').find((s) => s.id === 'limit')!;
    expect(limit.data).toEqual([300, 400, 500]);
    const finalAt = rounds.findIndex((r) => r.final);
    for (const id of ['rates', 'remaining', 'lambda', 'downtime', 'throttle'] as ChartId[]) {
      const marks = seriesOf(view, id).flatMap(
        (s) => (s as { markLine?: { data: { name?: string; xAxis?: number }[] } }).markLine?.data ?? [],
      );
      expect({ id, at: marks.filter((m) => m.name === 'switchover').map((m) => m.xAxis) }).toEqual({
        id,
        at: [finalAt],
      });
    }
    // Before stop-and-copy there is no switchover to draw; a result without per-round limits uses the scenario's.
    const running = runViewFromResult('r', {
      ...result,
      precopy: {
        ...result.precopy,
        rounds: result.precopy.rounds.slice(0, 2),
        scenario: { migration: { 'downtime-limit': 250 } },
      },
    });
    const marks = seriesOf(running, 'lambda').flatMap(
      (s) => (s as { markLine?: { data: { name?: string }[] } }).markLine?.data ?? [],
    );
    expect(marks.some((m) => m.name === 'switchover')).toBe(false);
    expect(downtimeLimits(running)).toEqual([250, 250]);
  });

  it('the prediction chart says why it is empty while λ ≥ 1, and nothing when it has a forecast', () => {
    const never = buildResult({ dirtyRate: 1200 * MiB, maxRounds: 6 });
    const view = runViewFromResult('never', never);
    expect(view.rounds.every((r) => r.predictedRoundsLeft === null)).toBe(true);
    const note = predictionNote(view)!;
    expect(note).toMatch(/^no prediction: λ = 1\.\d\d ≥ 1 \(round 5\), it cannot converge$/);
    const graphic = buildCharts(view).find((c) => c.id === 'prediction')!.option.graphic as {
      style: { text: string };
    }[];
    expect(graphic[0]!.style.text).toBe(note);
    expect(predictionNote(runViewFromResult('golden', buildResult()))).toBeNull();
    const cancelled = never.precopy.rounds.map((r) => ({
      ...r,
      predictedRoundsLeft: 2,
      predictedEta: 900,
      predictedOutcome: 'cancelled' as const,
    }));
    expect(
      predictionNote(runViewFromResult('c', { ...never, precopy: { ...never.precopy, rounds: cancelled } })),
    ).toMatch(/^predicts a cancel, λ = .* ≥ 1 \(round 5\): ETA to the timeout$/);
  });

  it('the badge: live while running, finished once every run ended, saved for files, disconnected only mid-run', () => {
    const done = runViewFromResult('d', buildResult());
    const running = { ...emptyRunView('r'), status: 'active' as const };
    expect(badgeOf('live', [running], true)).toBe('live');
    expect(badgeOf('live', [running], false)).toBe('disconnected');
    expect(badgeOf('live', [done], true)).toBe('finished');
    expect(badgeOf('live', [done], false)).toBe('finished');
    expect(badgeOf('live', [done, running], true)).toBe('live');
    expect(badgeOf('saved', [done], true)).toBe('saved');
    expect(badgeOf('saved', [done], false)).toBe('saved');
    expect(badgeOf(null, [], true)).toBe('connecting');
  });
});
