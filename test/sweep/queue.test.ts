/**
 * Scale-out on a real redis-server: a sweep enqueued with `precopy sweep --queue`, two
 * `precopy worker` processes, one SIGKILLed mid-point. Every run arrives once, equal to local mode.
 */
import { Queue, QueueEvents } from 'bullmq';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSweepLocal } from '../../src/sweep/local';
import { expandSweep } from '../../src/sweep/points';
import { enqueueRuns, redisConnection, type JobData } from '../../src/sweep/queue';
import { parseSweepSpec } from '../../src/sweep/spec';
import { ResultsStore, type RunRecord } from '../../src/sweep/store';
import { FAKE_RUNNER, precopy, type Child } from './cli-child';
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

function worker(queueName: string): Child {
  return precopy(
    [
      'worker',
      '--queue',
      redis.url,
      '--queue-name',
      queueName,
      '--runner',
      FAKE_RUNNER,
      '-c',
      '1',
      '--lock-duration',
      '1000',
      '--stalled-interval',
      '300',
    ],
    { FAKE_RUNNER_DELAY_MS: '250' },
  );
}

describe('sweep on BullMQ', () => {
  it('two workers, one SIGKILLed mid-point: every run arrives once and equals local mode', async () => {
    const specFile = join(dir, 'sweep.json');
    writeFileSync(specFile, JSON.stringify(SPEC));
    const out = join(dir, 'queued.jsonl');
    const events = new QueueEvents('kill-test', { connection: redisConnection(redis.url) });
    let stalled = 0;
    events.on('stalled', () => stalled++);
    await events.waitUntilReady();
    const a = worker('kill-test');
    const b = worker('kill-test');
    try {
      await Promise.all([a.waitFor(/worker: ready/), b.waitFor(/worker: ready/)]);
      const producer = precopy([
        'sweep',
        specFile,
        '--queue',
        redis.url,
        '--queue-name',
        'kill-test',
        '--out',
        out,
        '--no-progress',
      ]);
      // A finished point means the worker has taken its next one at once: kill it while it runs.
      await a.waitFor(/ done$/);
      await new Promise((r) => setTimeout(r, 80));
      a.process.kill('SIGKILL');
      expect(await a.exit).toBe('SIGKILL');
      expect(await producer.exit).toBe(0);
      expect(stalled).toBeGreaterThanOrEqual(1);
    } finally {
      a.process.kill('SIGKILL');
      b.process.kill('SIGTERM');
      await Promise.all([a.exit, b.exit]);
      await events.close();
    }
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunRecord);
    const runs = expandSweep(parseSweepSpec(SPEC));
    expect(lines).toHaveLength(runs.length);
    expect(new Set(lines.map((r) => r.id))).toEqual(new Set(runs.map((r) => r.id)));

    const local = new ResultsStore(join(dir, 'local.jsonl'));
    await runSweepLocal(runs, local, { runner: FAKE_RUNNER, workers: 1 });
    const byId = new Map(local.all().map((r) => [r.id, r]));
    local.close();
    for (const record of lines) expect(record).toEqual(byId.get(record.id));
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

  it('rejects a queue URL that is not redis://, naming the flag', () => {
    expect(() => redisConnection('http://x:1')).toThrow(/--queue: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(() => redisConnection('not a url')).toThrow(/--queue: not a URL/);
  });
});
