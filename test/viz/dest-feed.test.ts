/**
 * The destination dashboard's feed: a real migration into a Destination, its events folded as
 * the page folds them. What the view holds must be what the destination reported at the end.
 */
import { Destination, type DestinationEvent } from '../../src/dest/destination';
import { connectSource } from '../../src/link/index';
import { DestinationFeed } from '../../src/viz/dest-feed';
import {
  applyDestEvent,
  destStatus,
  emptyDestView,
  MAX_MIGRATIONS,
  type DestFeedEvent,
  type DestView,
} from '../../src/viz/dest-view';
import { makeGuest, migrate, TOKEN } from '../link/helpers';

/** A destination whose events go through the feed into a folded view; `events` counts them. */
function watched() {
  const published: DestFeedEvent[] = [];
  const raw: DestinationEvent[] = [];
  let steps = 0;
  const feed = new DestinationFeed((e) => published.push(e));
  const destination = new Destination({
    token: TOKEN,
    onEvent: (e) => {
      raw.push(e);
      feed.onEvent(e);
    },
    onProgress: (p) => {
      steps++;
      feed.onProgress(p);
    },
  });
  const view = (): DestView =>
    published.reduce((v, e, i) => applyDestEvent(v, e, i + 1), emptyDestView('destination'));
  return { destination, published, raw, view, steps: () => steps };
}

async function migrateInto(destination: Destination, liveRounds: number, hash?: string) {
  const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
  const memory = makeGuest(300, 7);
  const verdict = hash
    ? await (async () => {
        const real = memory.imageHash.bind(memory);
        memory.imageHash = () => (hash === 'wrong' ? '0'.repeat(64) : real());
        return migrate(session, memory, liveRounds);
      })()
    : await migrate(session, memory, liveRounds);
  await session.close();
  await destination.whenIdle();
  return verdict;
}

it("folds a migration's rounds, states and verdict exactly as the destination reported them", async () => {
  const { destination, published, raw, view, steps } = watched();
  const verdict = await migrateInto(destination, 3);
  expect(verdict.passed).toBe(true);
  const ended = raw.find((e) => e.type === 'ended')!;
  if (ended.type !== 'ended') throw new Error('no end');
  const [m] = view().migrations;
  expect(m!.rounds.map((r) => r.pages)).toEqual(ended.pagesPerRound);
  expect(m!.rounds.map((r) => r.round)).toEqual([0, 1, 2, 3, 4]);
  expect(m!.rounds.map((r) => r.final)).toEqual([false, false, false, false, true]);
  for (const r of m!.rounds) expect(r.end).toBeGreaterThanOrEqual(r.start);
  expect(m!.pagesReceived).toBe(verdict.pagesReceived);
  expect(m!.outcome).toEqual({
    kind: 'resumed',
    verified: true,
    reason: null,
    downtimeMs: verdict.destinationDowntimeMs,
    pagesReceived: verdict.pagesReceived,
    hash: verdict.destinationHash,
  });
  expect(destStatus(m!)).toEqual({ label: 'verified', tone: 'good' });
  expect(m!.state).toBe('verified');
  // A few events per round, not one per frame: the page is not flooded.
  expect(published.length).toBeLessThan(steps());
  expect(published.filter((e) => e.type === 'round')).toHaveLength(5);
});

it('NEGATIVE: a migration that fails verification shows as FAILED, with the reason', async () => {
  const { destination, view } = watched();
  const verdict = await migrateInto(destination, 1, 'wrong');
  expect(verdict.passed).toBe(false);
  const [m] = view().migrations;
  expect(m!.outcome!.verified).toBe(false);
  expect(m!.outcome!.reason).toBe(verdict.reason ?? null);
  expect(destStatus(m!)).toEqual({ label: 'FAILED verification', tone: 'bad' });
});

it('a destination without a progress listener runs no per-step callback (a log pays nothing per frame)', async () => {
  const events: DestinationEvent[] = [];
  const destination = new Destination({ token: TOKEN, onEvent: (e) => events.push(e) });
  expect((await migrateInto(destination, 1)).passed).toBe(true);
  expect(events.map((e) => e.type)).toEqual(['attached', 'ended']);
});

it('counts a second source refused while one migration runs', async () => {
  const { destination, view } = watched();
  const first = await connectSource({ transport: 'inproc', token: TOKEN, destination });
  await first.hello({ pages: 16, pageSize: 4096 });
  const second = await connectSource({ transport: 'inproc', token: TOKEN, destination });
  await expect(second.hello({ pages: 16, pageSize: 4096 })).rejects.toThrow(/busy|another migration/);
  await first.close();
  await destination.whenIdle();
  expect(view().busyRefused).toBe(1);
  expect(view().served).toBe(1);
  expect(destStatus(view().migrations[0]!)).toEqual({ label: 'discarded', tone: 'bad' });
});

it('counts every migration served; keeps the latest MAX_MIGRATIONS', async () => {
  const { destination, view } = watched();
  for (let i = 0; i < MAX_MIGRATIONS + 2; i++) await migrateInto(destination, 0);
  const v = view();
  expect(v.served).toBe(MAX_MIGRATIONS + 2);
  expect(v.migrations.map((m) => m.n)).toEqual(Array.from({ length: MAX_MIGRATIONS }, (_, i) => i + 3));
  expect(v.migrations.every((m) => m.outcome?.verified === true)).toBe(true);
});

it('a replayed event (a snapshot overlapping a batch) is folded once', () => {
  const events: DestFeedEvent[] = [
    { type: 'attached' },
    { type: 'round', time: 5, round: 0, final: false, pages: 10, start: 0, end: 5 },
  ];
  let v = emptyDestView('d');
  events.forEach((e, i) => (v = applyDestEvent(v, e, i + 1)));
  expect(applyDestEvent(v, events[1]!, 2)).toBe(v);
  expect(v.migrations[0]!.pagesReceived).toBe(10);
});
