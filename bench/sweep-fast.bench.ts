/**
 * Fast (metadata-only) mode against full mode on the same sweep points: points per minute on
 * two worker threads (the baseline is full mode, measured in the same run, alternating full,
 * fast, full, fast and keeping each side's best), the CPU cost of one simulated round in each
 * mode, and fast mode's cost per round against one evaluation of the analytic model (§5.2,
 * src/model/analytic.ts) as a ratio. Points: the default scenario's content (half the
 * memory text, zero pages + lz4), so fast mode's sizes are the estimated kind, not just exact.
 */
import { loadavg } from 'node:os';
import { expandSweep } from '../src/sweep/points';
import { faster, modelEvaluationMs, sweepBenchSpec, throughput } from './sweep-common';

const WORKERS = 2;
const SPEC = sweepBenchSpec(6);

async function main() {
  const fullRuns = expandSweep(SPEC, 'full');
  const fastRuns = expandSweep(SPEC, 'fast');
  // Alternate and keep each side's best: the machine is shared, and load drifts.
  let full = await throughput(WORKERS, fullRuns);
  let fast = await throughput(WORKERS, fastRuns);
  full = faster(full, await throughput(WORKERS, fullRuns));
  fast = faster(fast, await throughput(WORKERS, fastRuns));
  const model = modelEvaluationMs();
  process.stdout.write(
    JSON.stringify({
      pointsPerMinuteFast: Math.round(fast.pointsPerMinute),
      baselinePointsPerMinuteFull: Math.round(full.pointsPerMinute),
      fastVsFullSpeedup: +(fast.pointsPerMinute / full.pointsPerMinute).toFixed(2),
      workers: WORKERS,
      msPerSimulatedRoundFast: +fast.msPerSimulatedRound.toFixed(3),
      msPerSimulatedRoundFull: +full.msPerSimulatedRound.toFixed(3),
      baselineMsPerModelEvaluation: +model.toFixed(5),
      fastRoundVsModelRatio: Math.round(fast.msPerSimulatedRound / model),
      // Estimated sizes (text pages under lz4): fast mode's total bytes against full mode's.
      totalBytesFastOverFull: +(fast.totalBytes / full.totalBytes).toFixed(4),
      loadAverage: loadavg()[0],
      detail: { full, fast },
    }) + '\n',
  );
}

void main();
