import { runScenario } from '../../src/migration/index';
import type { MigrationEvent } from '../../src/migration/result';
import { statechartOption } from '../../src/viz/charts';
import { applyEvent, emptyRunView, runViewFromResult, type RunView } from '../../src/viz/run-view';

/** A 16 MiB hot set rewritten at 64 MiB/s over 16 MiB/s: never fits; only the round cap ends it. */
const capped = {
  guest: {
    memory: '32MiB',
    seed: 3,
    fill: { populated: '100%', content: 'random' },
    workload: { kind: 'hotcold', rate: '64MiB/s', hot: '16MiB', hotShare: 1 },
  },
  migration: { 'max-bandwidth': '16MiB/s', 'downtime-limit': '50ms', 'max-rounds': 3 },
  run: { bandwidth: '16MiB/s' },
};

interface Edge {
  source: string;
  target: string;
  label?: { formatter: string };
}
const edges = (view: RunView) =>
  (statechartOption(view).series as { links: Edge[] }[])[0]!.links.filter((l) => l.label);
const subtitle = (view: RunView) => (statechartOption(view).title as { subtext: string }).subtext;

describe('the dashboard statechart draws the stop guard that ran', () => {
  it("labels the edge the live phase left active by with the machine's guard, live and from the result", async () => {
    const events: MigrationEvent[] = [];
    const r = await runScenario(capped, { onEvent: (e) => events.push(e) });
    expect(r.precopy.stopReason).toBe('max-rounds');
    // Live: the state event that left active carries the reason before any result exists.
    const left = events.findIndex((e) => e.type === 'state' && e.stopReason !== undefined);
    expect(events[left]).toMatchObject({
      status: 'active',
      machineState: 'switchover',
      stopReason: 'max-rounds',
    });
    const beforeLeaving = events
      .slice(0, left)
      .reduce((v, e, i) => applyEvent(v, e, i + 1), emptyRunView('live'));
    expect(beforeLeaving.stopReason).toBeNull();
    expect(edges(beforeLeaving)).toEqual([]);
    const live = events.slice(0, -1).reduce((v, e, i) => applyEvent(v, e, i + 1), emptyRunView('live'));
    expect(live.result).toBeNull();
    expect(live.stopReason).toBe('max-rounds');
    expect(subtitle(live)).toMatch(/· stop: max-rounds$/);
    // Without pause-before-switchover the status stays active to completed: that edge carries it.
    const done = runViewFromResult('saved', r);
    expect(edges(done).map((e) => [e.source, e.target, e.label!.formatter])).toEqual([
      ['active', 'completed', 'max-rounds'],
    ]);
  });

  it('labels no edge for a migration no guard ended (a cancel)', async () => {
    const controller = new AbortController();
    const r = await runScenario(capped, {
      signal: controller.signal,
      onEvent: (e) => e.type === 'round' && controller.abort('user cancel'),
    });
    expect([r.status, r.precopy.stopReason]).toEqual(['cancelled', undefined]);
    const view = runViewFromResult('saved', r);
    expect(view.stopReason).toBeNull();
    expect(edges(view)).toEqual([]);
    expect(subtitle(view)).not.toMatch(/stop:/);
  });
});
