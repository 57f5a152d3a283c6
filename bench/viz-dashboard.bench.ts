/**
 * Does watching slow the migration? A short virtual-time migration with the live dashboard (and a
 * page's feed connected, folding every event) against the same migration unwatched, interleaved in
 * one run; plus the cost of one `publish()` against an EventEmitter emit (the cheapest way to hand
 * an event on). Prints one JSON object.
 */
import { EventEmitter } from 'node:events';
import { WebSocket } from 'ws';
import { runScenario } from '../src/migration';
import type { MigrationEvent } from '../src/migration/result';
import { startDashboard } from '../src/viz/dashboard-server';

const SCENARIO = {
  guest: {
    memory: '128MiB',
    vcpus: 1,
    seed: 7,
    workload: { kind: 'hotcold', rate: '64MiB/s', hot: '32MiB' },
  },
  migration: { 'max-bandwidth': '128MiB/s', 'downtime-limit': '8ms' },
  run: { clock: 'virtual', transport: 'inproc', bandwidth: '128MiB/s' },
};
const REPS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function watchedRun(): Promise<{ ms: number; events: number; received: number }> {
  const dashboard = await startDashboard({ title: 'bench' });
  const u = new URL(dashboard.url);
  const feed = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`);
  let received = 0;
  feed.on('message', (data) => {
    const m = JSON.parse(String(data)) as { type: string; events?: unknown[] };
    received += m.events?.length ?? 0;
  });
  await new Promise((resolve) => feed.once('open', resolve));
  let events = 0;
  const t = performance.now();
  await runScenario(SCENARIO, {
    onEvent: (e) => {
      events++;
      dashboard.publish(e);
    },
  });
  const ms = performance.now() - t;
  await new Promise((r) => setTimeout(r, 120)); // let the last batch out
  feed.terminate();
  await dashboard.close();
  return { ms, events, received };
}

async function unwatchedRun(): Promise<number> {
  const t = performance.now();
  await runScenario(SCENARIO);
  return performance.now() - t;
}

async function publishCost(): Promise<{ publishNs: number; emitNs: number }> {
  const N = 200_000;
  const e: MigrationEvent = {
    type: 'progress',
    time: 0,
    round: 3,
    bytesSent: 1,
    remaining: 2,
    dirtiedSinceSync: 1,
    threshold: 3,
    convergence: 1,
    roundsLeft: 1,
    dirtyRate: 4,
    sendRate: 5,
    throttle: 0,
    eta: 6,
  };
  const dashboard = await startDashboard();
  let t = performance.now();
  for (let i = 0; i < N; i++) dashboard.publish({ ...e, time: i });
  const publishNs = ((performance.now() - t) / N) * 1e6;
  await dashboard.close();
  const emitter = new EventEmitter();
  let last: MigrationEvent | null = null;
  emitter.on('event', (x: MigrationEvent) => (last = x));
  t = performance.now();
  for (let i = 0; i < N; i++) emitter.emit('event', { ...e, time: i });
  const emitNs = ((performance.now() - t) / N) * 1e6;
  if (last === null) throw new Error('unreachable');
  return { publishNs, emitNs };
}

async function main(): Promise<void> {
  await unwatchedRun(); // warm up: JIT, module loading
  const watched: number[] = [];
  const unwatched: number[] = [];
  let delivered = { events: 0, received: 0 };
  for (let i = 0; i < REPS; i++) {
    const w = await watchedRun();
    watched.push(w.ms);
    delivered = { events: w.events, received: w.received };
    unwatched.push(await unwatchedRun());
  }
  const cost = await publishCost();
  const out = {
    scenario: 'hotcold 128 MiB, virtual time, inproc',
    watched_ms: Math.round(median(watched)),
    baseline_unwatched_ms: Math.round(median(unwatched)),
    ratio_watched_over_unwatched: Number((median(watched) / median(unwatched)).toFixed(3)),
    events_published: delivered.events,
    events_received_by_page_feed: delivered.received,
    publish_ns_per_event: Math.round(cost.publishNs),
    baseline_eventemitter_emit_ns: Math.round(cost.emitNs),
    ratio_publish_over_emit: Number((cost.publishNs / cost.emitNs).toFixed(2)),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

void main();
