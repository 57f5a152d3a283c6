/**
 * Scale-out on BullMQ (Redis): the sweep enqueues its pending runs, `precopy worker` processes on
 * any number of machines run them, and their results stream back into the sweep's results file.
 *
 * - jobId = run id: enqueuing a run that is already queued, running or done is a no-op, so a
 *   rerun or a second producer never duplicates work; the results store ignores an id it has.
 * - A worker that dies mid-run stops renewing its job's lock; after `lockDuration` another
 *   worker's stalled check puts the job back in the queue, and it runs again.
 * - The producer learns of completions from BullMQ's event stream, and also looks jobs up
 *   directly (at start and every few seconds), so results finished while no producer was
 *   listening, or trimmed from the stream, are still collected.
 */
import { Job, Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import IORedis, { type RedisOptions } from 'ioredis';
import { interval } from 'rxjs';
import { wallClock } from '../util/clock';
import { toRecord, type SweepProgress } from './local';
import { WorkerPool, type PoolOutcome } from './pool';
import type { SweepRun } from './points';
import type { ResultsStore, RunRecord } from './store';

export const DEFAULT_QUEUE_NAME = 'precopy-sweep';
/** Attempts per run before it is given up as lost (a run that throws is a result, not a failure). */
const ATTEMPTS = 3;
const ENQUEUE_BATCH = 500;
const LOOKUP_BATCH = 200;

export interface QueueTarget {
  /** redis://[:password@]host:port[/db] (rediss:// for TLS). */
  url: string;
  name?: string;
}

export interface QueueFaults {
  /** Negative-test switch: give every job a fresh id, so re-enqueuing duplicates work. */
  freshJobIds?: boolean;
}

/** BullMQ connection options from a redis:// URL; a bad URL is an error naming the flag. */
export function redisConnection(url: string): ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`--queue: not a URL: ${JSON.stringify(url)} (expected redis://HOST:PORT)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new RangeError(`--queue: must be a redis:// or rediss:// URL, got ${parsed.protocol}`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new RangeError(`--queue: the database must be an integer ≥ 0`);
  return {
    host: parsed.hostname || '127.0.0.1',
    port,
    db,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
    // BullMQ workers block on Redis; ioredis must not give up on their commands.
    maxRetriesPerRequest: null,
  };
}

/** Fail fast, naming the URL, when Redis is not there (BullMQ itself would retry forever). */
export async function checkRedis(url: string): Promise<void> {
  const client = new IORedis({
    ...(redisConnection(url) as RedisOptions),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    retryStrategy: () => null,
  });
  // The socket's own error (ECONNREFUSED...) says more than connect()'s "Connection is closed".
  let cause: Error | undefined;
  client.on('error', (e: Error) => (cause ??= e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new Error(`--queue: cannot reach Redis at ${url}: ${(cause ?? (e as Error)).message}`);
  } finally {
    // disconnect() on a client that already ended keeps the process alive ~2 s more: skip it.
    if (client.status !== 'end') client.disconnect();
  }
}

export type JobData = Pick<SweepRun, 'id' | 'point' | 'coords' | 'scenario' | 'seed' | 'mode'>;

export interface QueuedSweepOptions extends QueueTarget {
  signal?: AbortSignal;
  onProgress?: (p: SweepProgress) => void;
  /** Connection trouble after start (ioredis reconnects by itself); default: ignored. */
  onError?: (e: Error) => void;
  /** How often to look up pending jobs directly (ms). */
  reconcileEvery?: number;
  faults?: QueueFaults;
}

/** Enqueue the runs not in the store and collect results until every run is in. */
export async function runSweepQueued(
  runs: SweepRun[],
  store: ResultsStore,
  options: QueuedSweepOptions,
): Promise<SweepProgress> {
  const name = options.name ?? DEFAULT_QUEUE_NAME;
  const connection = redisConnection(options.url);
  const pending = new Map(runs.filter((r) => !store.has(r.id)).map((r) => [r.id, r]));
  const lost = new Set<string>();
  const progress = (): SweepProgress => ({
    done: runs.length - pending.size,
    total: runs.length,
    lost: lost.size,
  });
  options.onProgress?.(progress());
  if (pending.size === 0 || options.signal?.aborted) return progress();

  await checkRedis(options.url);
  const queue = new Queue<JobData, RunRecord>(name, { connection });
  const events = new QueueEvents(name, { connection });
  const onError = (e: Error) => options.onError?.(e);
  queue.on('error', onError);
  events.on('error', onError);
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const collect = (record: RunRecord | undefined) => {
    if (!record || !pending.has(record.id)) return;
    store.add(record);
    pending.delete(record.id);
    lost.delete(record.id);
    options.onProgress?.(progress());
    if (pending.size === lost.size) finish();
  };
  const giveUp = (runId: string) => {
    if (!pending.has(runId) || lost.has(runId)) return;
    lost.add(runId);
    options.onProgress?.(progress());
    if (pending.size === lost.size) finish();
  };
  // Look jobs up directly: done ones are collected, given-up ones from an earlier sweep retried.
  const reconcile = async (retryFailed: boolean) => {
    const ids = [...pending.keys()];
    for (let i = 0; i < ids.length; i += LOOKUP_BATCH) {
      const jobs = await Promise.all(
        ids.slice(i, i + LOOKUP_BATCH).map((id) => Job.fromId<JobData, RunRecord>(queue, id)),
      );
      for (const job of jobs) {
        if (!job) continue;
        if (job.finishedOn && job.returnvalue) collect(job.returnvalue);
        else if (job.finishedOn && job.failedReason) {
          if (retryFailed) await job.retry('failed');
          else giveUp(job.data.id);
        }
      }
    }
  };
  events.on('completed', ({ returnvalue }) => collect(returnvalue as unknown as RunRecord));
  // A job BullMQ gave up on (attempts spent, or stalled too often) ends in the failed set.
  events.on('failed', ({ jobId }) => {
    Job.fromId<JobData, RunRecord>(queue, jobId)
      .then(async (job) => {
        if (job && (await job.getState()) === 'failed') giveUp(job.data.id);
      })
      .catch(onError); // the periodic look-up will find it
  });
  const stop = () => finish();
  options.signal?.addEventListener('abort', stop, { once: true });
  // A look-up that fails (Redis restarting) is retried at the next tick.
  const ticker = interval(options.reconcileEvery ?? 5000, wallClock()).subscribe(
    () => void reconcile(false).catch(onError),
  );
  try {
    await events.waitUntilReady();
    await reconcile(true);
    await enqueueRuns(queue, [...pending.values()], options.faults);
    if (pending.size > lost.size) await finished;
  } finally {
    ticker.unsubscribe();
    options.signal?.removeEventListener('abort', stop);
    await events.close();
    await queue.close();
  }
  return progress();
}

/** Add runs as jobs keyed by run id: runs already queued, running or done are left as they are. */
export async function enqueueRuns(
  queue: Queue<JobData, RunRecord>,
  runs: SweepRun[],
  faults?: QueueFaults,
): Promise<void> {
  for (let i = 0; i < runs.length; i += ENQUEUE_BATCH)
    await queue.addBulk(runs.slice(i, i + ENQUEUE_BATCH).map((run) => jobFor(run, faults)));
}

let freshJobCount = 0;

function jobFor(run: SweepRun, faults: QueueFaults = {}) {
  const { id, point, coords, scenario, seed, mode } = run;
  return {
    name: 'run',
    data: { id, point, coords, scenario, seed, mode },
    opts: {
      jobId: faults.freshJobIds ? `${id}-fresh${++freshJobCount}` : id,
      attempts: ATTEMPTS,
      removeOnComplete: false,
      removeOnFail: false,
    },
  };
}

export interface QueueWorkerOptions extends QueueTarget {
  runner: string;
  /** Points run at once (worker threads); default every core. */
  concurrency: number;
  /** How long a job's lock lives without renewal: a dead worker's run is retried after it (ms). */
  lockDuration?: number;
  /** How often this worker checks for stalled jobs (ms). */
  stalledInterval?: number;
  /** How often a job may stall (its worker died) and still be retried; 0 gives it up at once. */
  maxStalled?: number;
  onRun?: (record: RunRecord) => void;
  /** Connection trouble after start (ioredis reconnects by itself); default: ignored. */
  onError?: (e: Error) => void;
}

export interface QueueWorker {
  /** Finish the runs in hand, then stop. */
  close(): Promise<void>;
}

/** Take runs from the queue and run them on `concurrency` worker threads. */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  await checkRedis(options.url);
  const pool = new WorkerPool(options.concurrency, options.runner);
  const worker = new Worker<JobData, RunRecord>(
    options.name ?? DEFAULT_QUEUE_NAME,
    async (job) => {
      const outcome: PoolOutcome = await pool.run(job.data);
      const record = toRecord(job.data, outcome);
      options.onRun?.(record);
      return record;
    },
    {
      connection: redisConnection(options.url),
      concurrency: options.concurrency,
      lockDuration: options.lockDuration ?? 30_000,
      stalledInterval: options.stalledInterval ?? 30_000,
      maxStalledCount: options.maxStalled ?? ATTEMPTS,
    },
  );
  worker.on('error', (e) => options.onError?.(e));
  await worker.waitUntilReady();
  return {
    async close() {
      await worker.close();
      await pool.close();
    },
  };
}
