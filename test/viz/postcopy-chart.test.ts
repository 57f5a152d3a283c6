/**
 * The postcopy faults chart (src/viz/charts.ts postcopyOption) from a real postcopy run: request
 * bars add up to postcopy-requests, each vCPU's line ends at its postcopy-vcpu-blocktime (the
 * vCPU that never faults stays at 0), and the option renders to SVG as reports render it. The
 * destination's timeline keeps at most 128 evenly spaced samples however long the phase runs.
 */
import { PostcopyDestination, TIMELINE_SAMPLES } from '../../src/dest/postcopy';
import { Postcopy } from '../../src/migration/postcopy';
import { virtualClock } from '../../src/util/clock';
import { runScenario } from '../../src/migration/index';
import { buildCharts, postcopyOption } from '../../src/viz/charts';
import { reportSvg } from '../../src/viz/report';
import { runViewFromResult } from '../../src/viz/run-view';
import { renderChartSvg } from '../../src/viz/svg';
import { options } from '../migration/postcopy-fixture';

type Series = { id: string; name: string; data: [number, number][] };

describe('postcopy faults chart', () => {
  it('draws requests per interval and blocktime per vCPU from the run, and renders to SVG', async () => {
    const r = await new Postcopy(options()).run();
    expect(r.status).toBe('completed');
    const option = postcopyOption(r);
    const [requests, vcpu0, vcpu1] = option.series as Series[];
    expect(requests!.data.reduce((n, [, y]) => n + y, 0)).toBe(r['postcopy-requests']);
    expect(vcpu0!.name).toBe('vCPU 0 blocked');
    expect(vcpu0!.data.at(-1)![1]).toBeCloseTo(r['postcopy-vcpu-blocktime'][0]!, 0);
    expect(vcpu0!.data.at(-1)![1]).toBeGreaterThan(19);
    expect(vcpu1!.data.every(([, y]) => y === 0)).toBe(true);
    // Blocktime never goes down; the x axis is ms after the switch, ending at the phase's end.
    expect(vcpu0!.data.every(([, y], i, all) => i === 0 || y >= all[i - 1]![1])).toBe(true);
    expect(vcpu0!.data.at(-1)![0]).toBeCloseTo(r['total-time'], 0);
    const svg = renderChartSvg(option, { width: 520, height: 300 });
    expect(svg).toContain('Postcopy faults');
    expect(svg).toContain('vCPU 1 blocked');
    expect(svg).toMatch(/<path d="M[\d.]+ [\d.]+L/); // the lines are drawn
  });

  it('a run without postcopy gets a note, no series data', () => {
    const option = postcopyOption(undefined);
    expect((option.series as Series[]).every((s) => s.data.length === 0)).toBe(true);
    expect(renderChartSvg(option, { width: 520, height: 300 })).toContain('no postcopy in this run');
  });

  it('the timeline keeps at most 128 samples, evenly spaced, however many are offered', () => {
    const clock = virtualClock();
    const o = options();
    const dest = new PostcopyDestination({
      memory: o.destination,
      discard: o.discard,
      spec: o.guest,
      vcpuState: o.vcpuState,
      clock,
      tickMs: 0.1,
    });
    for (let i = 0; i < 1000; i++) {
      clock.advanceBy(1);
      dest.sample();
    }
    const t = dest.timeline.t;
    expect(t.length).toBeLessThan(TIMELINE_SAMPLES);
    expect(t.length).toBeGreaterThan(TIMELINE_SAMPLES / 4);
    const gaps = new Set(t.slice(1).map((x, i) => x - t[i]!));
    expect(gaps.size).toBe(1);
  });
});

describe('postcopy in the charts of a real run', () => {
  it('the postcopy chart and the statechart path active → postcopy-active → completed, from the result', async () => {
    const result = await runScenario({
      guest: {
        memory: '4MiB',
        seed: 7,
        fill: { populated: '100%', content: 'random' },
        workload: { kind: 'hotcold', rate: '24MiB/s', hot: '2MiB' },
      },
      migration: {
        'max-bandwidth': '16MiB/s',
        'downtime-limit': '20ms',
        'postcopy-ram': true,
        'postcopy-after-rounds': 2,
      },
      run: { latency: '1ms', 'post-run': '0ms', bandwidth: '16MiB/s' },
    });
    const view = runViewFromResult('postcopy', result);
    const chart = buildCharts(view).find((c) => c.id === 'postcopy')!;
    const series = chart.option.series as Series[];
    expect(series[0]!.data.reduce((n, [, y]) => n + y, 0)).toBe(
      result.precopy.postcopy!['postcopy-requests'],
    );
    expect(view.statesSeen).toEqual(expect.arrayContaining(['active', 'postcopy-active', 'completed']));
    const svg = reportSvg([{ title: 'postcopy', result }]);
    expect(svg).toContain('Postcopy faults');
    expect(svg).toContain(`${result.precopy.postcopy!['postcopy-requests']} requests`);
  });
});
