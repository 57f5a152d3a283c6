/**
 * Several runs on one chart (precopy view --overlay, report --overlay), and the recorded real QEMU
 * trace of examples/qmp against the simulation of the same scenario, as its README states them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOverlay } from '../../src/cli/view';
import { runScenario } from '../../src/migration';
import { importQmp } from '../../src/viz/qmp-import';
import { OVERLAY_IDS, overlayCharts } from '../../src/viz/overlay';
import { runViewFromResult } from '../../src/viz/run-view';
import { InputError } from '../../src/viz/result-file';
import { buildResult } from './fixtures';

const MiB = 1024 * 1024;
const QMP = join(__dirname, '..', '..', 'examples', 'qmp');

type Series = { id: string; name: string; data: unknown[] };
const seriesOf = (charts: ReturnType<typeof overlayCharts>, id: string) =>
  charts.find((c) => c.id === id)!.option.series as Series[];

describe('runs on one chart', () => {
  const a = runViewFromResult('golden', buildResult());
  const b = runViewFromResult('hog', buildResult({ dirtyRate: 900 * MiB, throttle: [0, 0, 20, 30, 40, 50] }));

  it('by round: every quantity once per run, one point per round of that run', () => {
    const charts = overlayCharts([a, b], 'round');
    expect(charts.map((c) => c.id)).toEqual([...OVERLAY_IDS]);
    const rates = seriesOf(charts, 'overlay-rates');
    expect(rates.map((s) => s.name)).toEqual([
      'golden · dirty',
      'golden · send',
      'hog · dirty',
      'hog · send',
    ]);
    expect(rates[1]!.data).toEqual(a.rounds.map((r) => Math.round((r.sendRate / MiB) * 1000) / 1000));
    expect(rates[3]!.data).toHaveLength(b.rounds.length);
    const x = charts.find((c) => c.id === 'overlay-rates')!.option.xAxis as { data: string[] };
    expect(x.data).toHaveLength(Math.max(a.rounds.length, b.rounds.length));
  });

  it('by time: each round a plateau from its start to its end, in seconds since the start', () => {
    const wire = seriesOf(overlayCharts([a, b], 'time'), 'overlay-wire');
    for (const [i, view] of [a, b].entries()) {
      const points = wire[i]!.data as [number, number][];
      expect(points).toHaveLength(2 * view.rounds.length);
      view.rounds.forEach((r, k) => {
        expect(points[2 * k]![0]).toBeCloseTo(r.start / 1000, 3);
        expect(points[2 * k + 1]![0]).toBeCloseTo((r.start + r.duration) / 1000, 3);
        expect(points[2 * k]![1]).toBe(points[2 * k + 1]![1]);
      });
    }
  });

  it('--overlay takes time or round, anything else is an input error naming it', () => {
    expect(parseOverlay('time')).toBe('time');
    expect(parseOverlay(undefined)).toBeUndefined();
    expect(() => parseOverlay('rounds')).toThrow(InputError);
    expect(() => parseOverlay('rounds')).toThrow("--overlay: one of time, round, got 'rounds'");
  });
});

describe('examples/qmp: the recorded QEMU 7.2 migration and its simulation', () => {
  it('imports to the figures of its README', () => {
    const { result, warnings } = importQmp(readFileSync(join(QMP, 'qemu-7.2-tcg-128m.jsonl'), 'utf8'));
    expect(result.status).toBe('completed');
    expect([result['total-time'], result.downtime]).toEqual([4040, 54]);
    const [bulk, final] = [
      result.precopy.rounds[0]!,
      result.precopy.rounds[result.precopy.rounds.length - 1]!,
    ];
    expect([bulk.pagesSent, bulk.pagesZero, bulk.bytesWire, Math.round(bulk.duration)]).toEqual([
      30373, 110, 124211968, 3936,
    ]);
    expect([final.final, final.pagesSent, final.bytesWire]).toEqual([true, 1536, 6292504]);
    expect(warnings).toEqual([expect.stringMatching(/dirty-sync-count jumped 1 → 3/)]);
    expect(result.precopy.states).toEqual(['setup', 'active', 'completed']);
  });

  it('the same scenario in precopy: 3974 ms with 74 ms downtime (virtual time, so exactly)', async () => {
    const scenario = JSON.parse(readFileSync(join(QMP, 'qemu-7.2-tcg-128m.scenario.json'), 'utf8')) as object;
    const sim = await runScenario(scenario);
    expect(sim.status).toBe('completed');
    expect([Math.round(sim['total-time']), Math.round(sim.downtime)]).toEqual([3974, 74]);
  });
});
