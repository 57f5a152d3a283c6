/**
 * `precopy sweep sweep.json`: run every point of a sweep (local worker threads by default, or
 * BullMQ workers with --queue), resumable through its results file, then write the table and maps.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { basename, dirname, join } from 'node:path';
import { METRIC_NAMES, type MetricName } from '../sweep/aggregate';
import { defaultWorkers, runSweepLocal, type SweepProgress } from '../sweep/local';
import { expandSweep } from '../sweep/points';
import { DEFAULT_QUEUE_NAME, runSweepQueued } from '../sweep/queue';
import { writeReports } from '../sweep/report';
import { fmtEta, sweepEta } from '../sweep/eta';
import { ENGINE_RUNNER } from '../sweep/runner';
import { loadSweepSpec, SweepSpecError, type SweepSpec } from '../sweep/spec';
import { ResultsStore } from '../sweep/store';
import { wallClock } from '../util/clock';

export function positiveInt(name: string, max = 1024) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(
        `${name} must be an integer in [1, ${max}], got ${JSON.stringify(text)}`,
      );
    return n;
  };
}

function metricsOption(text: string): MetricName[] {
  const names = text.split(',').map((s) => s.trim());
  const bad = names.filter((n) => !(METRIC_NAMES as string[]).includes(n));
  if (bad.length || names.length === 0)
    throw new InvalidArgumentError(
      `--maps takes metrics from ${METRIC_NAMES.join(', ')}; not ${bad.join(', ')}`,
    );
  return names as MetricName[];
}

function axesOption(text: string): [string, string] {
  const axes = text.split(',').map((s) => s.trim());
  if (axes.length !== 2 || axes.some((a) => a === ''))
    throw new InvalidArgumentError(
      '--heatmap takes two swept fields, e.g. guest.workload.rate,run.bandwidth',
    );
  return axes as [string, string];
}

/** `sweep.json` → `sweep.results.jsonl` beside it. */
export function defaultResultsFile(specFile: string): string {
  return join(dirname(specFile), `${basename(specFile).replace(/\.json$/i, '')}.results.jsonl`);
}

interface SweepFlags {
  out?: string;
  workers?: number;
  mode?: 'full' | 'fast';
  queue?: string;
  queueName: string;
  runner?: string;
  csv?: string;
  svg?: string;
  heatmap?: [string, string];
  maps?: MetricName[];
  progress: boolean;
}

function progressBar(enabled: boolean) {
  if (!enabled) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar(
    {
      // cli-progress's own ETA counts resumed runs as instant ones ("ETA NFs", then jumps).
      format: 'sweep {bar} {percentage}% | {value}/{total} runs | lost {lost} | ETA {eta}',
    },
    Presets.shades_classic,
  );
  const clock = wallClock();
  let start: { at: number; done: number } | undefined;
  return {
    update(p: SweepProgress) {
      start ??= { at: clock.now(), done: p.done };
      const eta = fmtEta(
        sweepEta({
          doneAtStart: start.done,
          done: p.done,
          total: p.total,
          elapsedMs: clock.now() - start.at,
        }),
      );
      if (!bar.isActive) bar.start(p.total, p.done, { lost: p.lost, eta });
      bar.update(p.done, { lost: p.lost, eta });
    },
    stop: () => bar.isActive && bar.stop(),
  };
}

async function sweep(specFile: string, flags: SweepFlags): Promise<void> {
  let spec: SweepSpec;
  try {
    spec = loadSweepSpec(specFile);
  } catch (e) {
    if (!(e instanceof SweepSpecError)) throw e;
    process.stderr.write(`precopy sweep: ${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  const runs = expandSweep(spec, flags.mode ?? spec.mode);
  const store = new ResultsStore(flags.out ?? defaultResultsFile(specFile));
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  const bar = progressBar(flags.progress && process.stderr.isTTY === true);
  let progress: SweepProgress;
  try {
    if (store.tornLinesDropped) process.stderr.write(`sweep: dropped a torn last line in ${store.file}\n`);
    const common = { signal: abort.signal, onProgress: (p: SweepProgress) => bar.update(p) };
    progress = flags.queue
      ? await runSweepQueued(runs, store, {
          ...common,
          url: flags.queue,
          name: flags.queueName,
          onError: (e) => process.stderr.write(`sweep: redis: ${e.message}\n`),
        })
      : await runSweepLocal(runs, store, {
          ...common,
          runner: flags.runner ?? ENGINE_RUNNER,
          workers: flags.workers ?? defaultWorkers(),
        });
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSigint);
    store.close();
  }
  const records = store.all();
  for (const file of writeReports(records, {
    csv: flags.csv,
    svgDir: flags.svg,
    axes: flags.heatmap,
    metrics: flags.maps,
  }))
    process.stderr.write(`sweep: wrote ${file}\n`);
  const errors = records.filter((r) => r.error !== undefined).length;
  process.stderr.write(
    `sweep: ${progress.done}/${progress.total} runs in ${store.file}` +
      (errors ? `, ${errors} failed to run` : '') +
      (progress.lost ? `, ${progress.lost} lost (rerun to retry)` : '') +
      (abort.signal.aborted ? ' (interrupted; rerun to resume)' : '') +
      '\n',
  );
  if (abort.signal.aborted) process.exitCode = 130;
  else if (progress.done < progress.total) process.exitCode = 1;
}

export function sweepCommand(): Command {
  return new Command('sweep')
    .description(
      'run a sweep of migrations (grid or list over scenario fields), resumable, and map the results',
    )
    .argument('<spec>', 'sweep file (JSON): base scenario, grid/list of field values, seeds')
    .option('-o, --out <file>', 'results file, JSON lines (default: <spec>.results.jsonl)')
    .option('-w, --workers <n>', 'worker threads (default: every core)', positiveInt('--workers'))
    .addOption(
      new Option('--mode <mode>', 'full (page contents) or fast (metadata only)').choices(['full', 'fast']),
    )
    .option('--queue <url>', 'run the points on BullMQ workers at this Redis (redis://HOST:PORT)')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--runner <module>', 'point runner module exporting runPoint (default: the migration engine)')
    .option('--csv <file>', 'write the per-point table (mean, spread, model)')
    .option('--svg <dir>', 'write heatmaps (converged, rounds, downtime, total bytes) as SVG')
    .option(
      '--heatmap <x,y>',
      'the two swept fields of the maps (default: the first two that vary)',
      axesOption,
    )
    .option('--maps <metrics>', `metrics to map (from ${METRIC_NAMES.join(', ')})`, metricsOption)
    .option('--no-progress', 'no progress bar')
    .action((specFile: string, flags: SweepFlags) => sweep(specFile, flags));
}
