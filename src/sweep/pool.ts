/**
 * A fixed pool of worker threads that run sweep points, one at a time each. Threads load the
 * runner module themselves (TypeScript through ts-node when the sources are .ts), so a point's
 * CPU work never blocks the thread that writes results and draws the progress bar.
 */
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { MigrationResult } from '../migration/result';
import type { SweepRun } from './points';

export type PoolTask = Pick<SweepRun, 'id' | 'scenario' | 'seed' | 'mode'>;

/** A run either produced a result or the runner threw (a bad scenario): both are outcomes. */
export type PoolOutcome =
  { result: MigrationResult; error?: undefined } | { result?: undefined; error: string };

export type WorkerReply =
  { type: 'done'; id: string; result: MigrationResult } | { type: 'error'; id: string; message: string };

interface Slot {
  worker: Worker;
  busy?: { task: PoolTask; resolve: (o: PoolOutcome) => void; reject: (e: Error) => void };
}

const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.entry.endsWith('.ts')) require(workerData.tsNode).register({ transpileOnly: true, project: workerData.tsconfig });
require(workerData.entry);
`;

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: {
    task: PoolTask;
    resolve: (o: PoolOutcome) => void;
    reject: (e: Error) => void;
  }[] = [];
  private closed = false;

  constructor(
    readonly size: number,
    private readonly runnerModule: string,
  ) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`sweep: workers must be an integer ≥ 1, got ${size}`);
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  /** Run one point on the next free thread. Rejects only if the thread died or the pool closed. */
  run(task: PoolTask): Promise<PoolOutcome> {
    if (this.closed) return Promise.reject(new Error('sweep: worker pool is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  /** Stop every thread now; points in flight are abandoned (their callers see a rejection). */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w.reject(new Error('sweep: worker pool closed'));
    await Promise.all(
      this.slots.map(async (slot) => {
        slot.busy?.reject(new Error('sweep: worker pool closed'));
        slot.busy = undefined;
        await slot.worker.terminate();
      }),
    );
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.busy || this.waiting.length === 0) continue;
      slot.busy = this.waiting.shift()!;
      slot.worker.postMessage(slot.busy.task);
    }
  }

  private spawn(): Slot {
    const entry = join(__dirname, `pool-worker${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
    const worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: {
        entry,
        runner: this.runnerModule,
        tsNode: require.resolve('ts-node'),
        tsconfig: join(__dirname, '..', '..', 'tsconfig.json'),
      },
    });
    const slot: Slot = { worker };
    worker.on('message', (reply: WorkerReply) => {
      const busy = slot.busy;
      if (!busy || busy.task.id !== reply.id) return;
      slot.busy = undefined;
      busy.resolve(reply.type === 'done' ? { result: reply.result } : { error: reply.message });
      this.dispatch();
    });
    // A thread that dies takes its point with it: the caller hears of it and a fresh thread
    // takes the slot, so one bad point cannot shrink the pool.
    const onDeath = (why: string) => {
      if (this.closed) return;
      const index = this.slots.indexOf(slot);
      if (index < 0) return;
      slot.busy?.reject(new Error(`sweep: worker thread died (${why})`));
      slot.busy = undefined;
      this.slots[index] = this.spawn();
      this.dispatch();
    };
    worker.on('error', (e) => onDeath(e.message));
    worker.on('exit', (code) => onDeath(`exit code ${code}`));
    return slot;
  }
}
