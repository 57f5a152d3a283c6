/**
 * Scale-out on a real redis-server: a sweep enqueued on BullMQ, two worker processes, one
 * SIGKILLed mid-point. Every run arrives once, equal to local mode.
 */
import { Queue, QueueEvents } from 'bullmq';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSweepLocal } from '../../src/sweep/local';
import { expandSweep } from '../../src/sweep/points';
import { enqueueRuns, redisConnection, runSweepQueued, type JobData } from '../../src/sweep/queue';
import { parseSweepSpec } from '../../src/sweep/spec';
import { ResultsStore, type RunRecord } from '../../src/sweep/store';
import { spawn } from 'node:child_process';
import { FAKE_RUNNER, watch, type Child } from './cli-child';
import { startRedis, type RedisHandle } from './redis-server';

const SPEC = {
  name: 'queue-test',
  base: { guest: { memory: '1GiB', workload: { kind: 'uniform' } }, run: { bandwidth: '1GiB/s' } },
  grid: {
    'guest.workload.rate': ['100MiB/s', '500MiB/s', '900MiB/s'],
    'migration.downtime-limit': [50, 300],
  },
  seeds: 2,
};

let redis: RedisHandle;
let dir: string;
beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'precopy-queue-'));
});
afterAll(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const WORKER = join(__dirname, 'fixtures', 'queue-worker.ts');

/** A worker process running startQueueWorker (what `precopy worker` runs) with the fake runner. */
function worker(name: string, maxStalled?: number): Child {
  const options = {
    url: redis.url,
    name,
    concurrency: 1,
    lockDuration: 1000,
    stalledInterval: 300,
    maxStalled,
  };
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', WORKER, JSON.stringify(options)],
    {
      env: { ...process.env, FAKE_RUNNER_DELAY_MS: '250' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  return watch(child);
}

/** Run SPEC through runSweepQueued on two worker processes and SIGKILL one of them mid-point. */
async function sweepKillingOneWorker(name: string, maxStalled?: number) {
  const out = join(dir, `${name}.jsonl`);
  const events = new QueueEvents(name, { connection: redisConnection(redis.url) });
  let stalled = 0;
  events.on('stalled', () => stalled++);
  await events.waitUntilReady();
  const a = worker(name, maxStalled);
  const b = worker(name, maxStalled);
  const store = new ResultsStore(out);
  try {
    await Promise.all([a.waitFor(/worker: ready/), b.waitFor(/worker: ready/)]);
    const sweep = runSweepQueued(expandSweep(parseSweepSpec(SPEC)), store, {
      url: redis.url,
      name,
      reconcileEvery: 500,
    });
    // A finished point means the worker has taken its next one at once: kill it while it runs.
    await a.waitFor(/ done$/);
    await new Promise((r) => setTimeout(r, 80));
    a.process.kill('SIGKILL');
    expect(await a.exit).toBe('SIGKILL');
    const progress = await sweep;
    const records = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunRecord);
    return { progress, stalled, records };
  } finally {
    store.close();
    a.process.kill('SIGKILL');
    b.process.kill('SIGTERM');
    await Promise.all([a.exit, b.exit]);
    await events.close();
  }
}

describe('sweep on BullMQ', () => {
  it('two workers, one SIGKILLed mid-point: every run arrives once and equals local mode', async () => {
    const { progress, stalled, records } = await sweepKillingOneWorker('kill-test');
    expect(progress).toEqual({ done: 12, total: 12, lost: 0 });
    expect(stalled).toBeGreaterThanOrEqual(1);
    const runs = expandSweep(parseSweepSpec(SPEC));
    expect(records).toHaveLength(runs.length);
    expect(new Set(records.map((r) => r.id))).toEqual(new Set(runs.map((r) => r.id)));

    const local = new ResultsStore(join(dir, 'local.jsonl'));
    await runSweepLocal(runs, local, { runner: FAKE_RUNNER, workers: 1 });
    const byId = new Map(local.all().map((r) => [r.id, r]));
    local.close();
    for (const record of records) expect(record).toEqual(byId.get(record.id));
  });

  it('negative: with stalled points not retried (--max-stalled 0), the killed point is lost', async () => {
    const { progress, records } = await sweepKillingOneWorker('kill-negative', 0);
    expect(progress).toEqual({ done: 11, total: 12, lost: 1 });
    expect(records).toHaveLength(expandSweep(parseSweepSpec(SPEC)).length - 1);
  });

  it('enqueuing a sweep twice adds each run once (job id = run id)', async () => {
    const runs = expandSweep(parseSweepSpec(SPEC));
    const queue = new Queue<JobData, RunRecord>('dedup-test', { connection: redisConnection(redis.url) });
    try {
      await enqueueRuns(queue, runs);
      await enqueueRuns(queue, runs);
      expect(await queue.count()).toBe(runs.length);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('negative: with fresh job ids, enqueuing twice duplicates every run', async () => {
    const runs = expandSweep(parseSweepSpec(SPEC));
    const queue = new Queue<JobData, RunRecord>('dedup-negative', { connection: redisConnection(redis.url) });
    try {
      await enqueueRuns(queue, runs, { freshJobIds: true });
      await enqueueRuns(queue, runs, { freshJobIds: true });
      expect(await queue.count()).toBe(2 * runs.length);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('fails fast, naming the URL, when no Redis listens there', async () => {
    const store = new ResultsStore(join(dir, 'unreachable.jsonl'));
    try {
      await expect(
        runSweepQueued(expandSweep(parseSweepSpec(SPEC)), store, { url: 'redis://127.0.0.1:1' }),
      ).rejects.toThrow(/--queue: cannot reach Redis at redis:\/\/127.0.0.1:1: connect ECONNREFUSED/);
    } finally {
      store.close();
    }
  });

  it('reads host, port, database and password from the URL', () => {
    expect(redisConnection('redis://:s%40cret@10.0.0.5:6380/2')).toMatchObject({
      host: '10.0.0.5',
      port: 6380,
      db: 2,
      password: 's@cret',
      maxRetriesPerRequest: null,
    });
    expect(redisConnection('rediss://cache.example')).toMatchObject({ port: 6379, db: 0, tls: {} });
    expect(() => redisConnection('redis://h:1/x')).toThrow(/--queue: the database must be an integer/);
  });

  it('rejects a queue URL that is not redis://, naming the flag', () => {
    expect(() => redisConnection('http://x:1')).toThrow(/--queue: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => redisConnection('not a url')).toThrow(/--queue: not a URL/);
  });
});
