/**
 * `precopy worker --queue redis://HOST:PORT`: run sweep points from a BullMQ queue until stopped
 * (SIGINT/SIGTERM finish the points in hand; a killed worker's points are retried elsewhere).
 */
import { Command, InvalidArgumentError } from 'commander';
import { availableParallelism } from 'node:os';
import { DEFAULT_QUEUE_NAME, startQueueWorker } from '../sweep/queue';
import { ENGINE_RUNNER } from '../sweep/runner';
import { positiveInt } from './sweep';

interface WorkerFlags {
  queue: string;
  queueName: string;
  concurrency?: number;
  runner?: string;
  lockDuration: number;
  stalledInterval: number;
  maxStalled: number;
}

async function work(flags: WorkerFlags): Promise<void> {
  const worker = await startQueueWorker({
    url: flags.queue,
    name: flags.queueName,
    runner: flags.runner ?? ENGINE_RUNNER,
    concurrency: flags.concurrency ?? availableParallelism(),
    lockDuration: flags.lockDuration,
    stalledInterval: flags.stalledInterval,
    maxStalled: flags.maxStalled,
    onError: (e) => process.stderr.write(`worker: redis: ${e.message}\n`),
    onRun: (r) =>
      process.stderr.write(`worker: ${r.id} seed ${r.seed} ${r.error ? `error: ${r.error}` : 'done'}\n`),
  });
  process.stderr.write(`worker: ready on ${flags.queue} queue ${flags.queueName}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await worker.close();
}

function nonNegativeInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 1000)
    throw new InvalidArgumentError(
      `--max-stalled must be an integer in [0, 1000], got ${JSON.stringify(text)}`,
    );
  return n;
}

export function workerCommand(): Command {
  return new Command('worker')
    .description('run sweep points from a BullMQ queue (see `precopy sweep --queue`)')
    .requiredOption('--queue <url>', 'the Redis of the sweep (redis://HOST:PORT)')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option(
      '-c, --concurrency <n>',
      'points at once, each on a worker thread (default: every core)',
      positiveInt('--concurrency'),
    )
    .option('--runner <module>', 'point runner module exporting runPoint (default: the migration engine)')
    .option(
      '--lock-duration <ms>',
      "a dead worker's point is retried after this long",
      positiveInt('--lock-duration', 3_600_000),
      30_000,
    )
    .option(
      '--stalled-interval <ms>',
      'how often to look for stalled points',
      positiveInt('--stalled-interval', 3_600_000),
      30_000,
    )
    .option(
      '--max-stalled <n>',
      'times a point whose worker died is retried (0: give it up)',
      nonNegativeInt,
      3,
    )
    .action((flags: WorkerFlags) => work(flags));
}
