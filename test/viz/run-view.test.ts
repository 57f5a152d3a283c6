import fc from 'fast-check';
import { applyEvent, emptyRunView, runViewFromResult, type RunView } from '../../src/viz/run-view';
import { buildResult, eventsFor } from './fixtures';

const MiB = 1024 * 1024;
const result = buildResult({ dirtyRate: 700 * MiB, throttle: [0, 0, 20, 30, 40, 50, 60] });
const events = eventsFor(result);

function fold(from: RunView, list: typeof events, firstSeq: number): RunView {
  return list.reduce((view, e, i) => applyEvent(view, e, firstSeq + i), from);
}

describe('run view (the fold the server and the page share)', () => {
  it('folding all events gives the saved result view', () => {
    const live = fold(emptyRunView('r'), events, 1);
    const saved = runViewFromResult('r', result);
    expect(live.rounds).toEqual(saved.rounds);
    expect(live.status).toBe('completed');
    expect(live.result).toBe(result);
    expect(live.statesSeen).toEqual(result.precopy.states);
  });

  it('a page joining mid-run (snapshot at k, then overlapping batches) ends with the same view', () => {
    const all = fold(emptyRunView('r'), events, 1);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: events.length }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 5 }),
        (k, batchSizes, overlap) => {
          let page = fold(emptyRunView('r'), events.slice(0, k), 1);
          // Batches start up to `overlap` events before what the page has: the server's pending
          // queue can hold events the snapshot already contains.
          let next = Math.max(0, k - overlap);
          for (const size of batchSizes) {
            if (next >= events.length) break;
            page = fold(page, events.slice(next, next + size), next + 1);
            next += size;
          }
          page = fold(page, events.slice(next), next + 1);
          expect(page).toEqual(all);
        },
      ),
      { seed: 11, numRuns: 80 },
    );
  });

  it('NEGATIVE: without sequence numbers, re-delivered events corrupt the page (what seq prevents)', () => {
    const all = fold(emptyRunView('r'), events, 1);
    // Deliver the events up to a progress tick in the last live round, then re-deliver an older
    // progress tick as if it were new (fresh seq): the view moves backwards.
    const lastProgress = events.map((e) => e.type).lastIndexOf('progress');
    const stale = events.findIndex((e) => e.type === 'progress');
    let page = fold(emptyRunView('r'), events.slice(0, lastProgress + 1), 1);
    page = applyEvent(page, events[stale]!, page.seq + 1);
    expect(page.progress).toEqual(events[stale]);
    expect(page.progress).not.toEqual(fold(emptyRunView('r'), events.slice(0, lastProgress + 1), 1).progress);
    // With the true seq the same re-delivery is ignored.
    const safe = applyEvent(
      fold(emptyRunView('r'), events.slice(0, lastProgress + 1), 1),
      events[stale]!,
      stale + 1,
    );
    expect(safe.progress).toEqual(events[lastProgress]);
    expect(all.progress).toBeNull();
  });

  it('a round reported twice replaces the first report instead of adding a round', () => {
    const round = result.precopy.rounds[0]!;
    let view = applyEvent(emptyRunView('r'), { type: 'round', time: 1, round }, 1);
    view = applyEvent(view, { type: 'round', time: 2, round: { ...round, duration: 99 } }, 2);
    expect(view.rounds).toHaveLength(1);
    expect(view.rounds[0]!.duration).toBe(99);
  });

  it('state events record the path once per status', () => {
    let view = emptyRunView('r');
    const path = ['setup', 'active', 'active', 'device', 'completed'] as const;
    path.forEach((status, i) => {
      view = applyEvent(view, { type: 'state', time: i, status, machineState: `${status}.${i}` }, i + 1);
    });
    expect(view.statesSeen).toEqual(['setup', 'active', 'device', 'completed']);
    expect(view.machineState).toBe('completed.4');
  });
});
