/** Inside a pool thread: load the runner once, then run each point the pool posts. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadRunPoint } from './runner';
import type { PoolTask, WorkerReply } from './pool';

const runPoint = loadRunPoint((workerData as { runner: string }).runner);

parentPort!.on('message', (task: PoolTask) => {
  runPoint(task.scenario, task.seed, { mode: task.mode }).then(
    (result) => parentPort!.postMessage({ type: 'done', id: task.id, result } satisfies WorkerReply),
    (e: unknown) =>
      parentPort!.postMessage({
        type: 'error',
        id: task.id,
        message: e instanceof Error ? e.message : String(e),
      } satisfies WorkerReply),
  );
});
