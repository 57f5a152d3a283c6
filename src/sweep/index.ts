/**
 * The convergence lab: sweeps of migrations over scenario fields, run locally on worker threads
 * or on BullMQ workers, with their table and maps. The CLI (`precopy sweep`, `precopy worker`) and
 * the dashboard use these.
 */
export { parseSweepSpec, loadSweepSpec, seedsOf, SweepSpecError, type SweepSpec } from './spec';
export { expandSweep, stableHash, setPath, getPath, type SweepRun, type SweepMode } from './points';
export { ResultsStore, type RunRecord } from './store';
export { runSweepLocal, defaultWorkers, type SweepProgress, type LocalSweepOptions } from './local';
export {
  runSweepQueued,
  startQueueWorker,
  enqueueRuns,
  checkRedis,
  redisConnection,
  DEFAULT_QUEUE_NAME,
} from './queue';
export { ENGINE_RUNNER, loadRunPoint, type RunPoint, type RunPointOptions } from './runner';
export {
  summarise,
  spread,
  METRICS,
  METRIC_NAMES,
  type MetricName,
  type PointSummary,
  type Spread,
} from './aggregate';
export { predictScenario, PREDICTED_METRICS, type Prediction } from './prediction';
export { sweepHeatmapOption, sliceOf, boundarySegments, type HeatmapInput } from './heatmap';
export { toCsv } from './csv';
export { writeReports, predictionsFor, variedAxes, MAPPED_METRICS } from './report';
