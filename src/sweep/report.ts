/** The sweep's outputs from its results: the CSV table and one SVG heatmap per metric. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarise, type MetricName, type PointSummary } from './aggregate';
import { toCsv } from './csv';
import { sweepHeatmapOption } from './heatmap';
import { predictScenario, type Prediction } from './prediction';
import { renderChartSvg } from '../viz/svg';
import type { RunRecord } from './store';

/** A heatmap's SVG size in px. */
const HEATMAP_SIZE = { width: 900, height: 640 };

/** The metrics the issue maps. */
export const MAPPED_METRICS: MetricName[] = ['converged', 'rounds', 'downtime', 'totalBytes'];

export interface ReportOptions {
  csv?: string;
  svgDir?: string;
  /** Heatmap axes; default the first two fields that take more than one value. */
  axes?: [string, string];
  /** Point ids in the sweep's order (rows and axes follow it); default: as the results came. */
  order?: string[];
  /** Metrics to map, one SVG each; default MAPPED_METRICS. */
  metrics?: MetricName[];
  /** The model's prediction for a point's scenario; default the §5.2 model. */
  predict?: (scenario: unknown) => Prediction | null;
}

/** Swept fields that actually vary, in sweep order. */
export function variedAxes(summaries: PointSummary[]): string[] {
  const paths = Object.keys(summaries[0]?.coords ?? {});
  return paths.filter((p) => new Set(summaries.map((s) => JSON.stringify(s.coords[p]))).size > 1);
}

export function predictionsFor(
  summaries: PointSummary[],
  predict: (scenario: unknown) => Prediction | null = predictScenario,
): Map<string, Prediction | null> {
  return new Map(summaries.map((s) => [s.point, s.sample ? predict(s.sample.precopy.scenario) : null]));
}

/** Write the requested outputs; returns the files written. */
export function writeReports(records: RunRecord[], options: ReportOptions): string[] {
  const summaries = summarise(records, options.order);
  const predictions = predictionsFor(summaries, options.predict);
  const written: string[] = [];
  if (options.csv) {
    writeFileSync(options.csv, toCsv(summaries, predictions));
    written.push(options.csv);
  }
  if (options.svgDir) {
    const axes = options.axes ?? (variedAxes(summaries).slice(0, 2) as [string, string]);
    if (axes.length < 2)
      throw new RangeError('heatmap: the sweep varies fewer than two fields; nothing to map');
    mkdirSync(options.svgDir, { recursive: true });
    for (const metric of options.metrics ?? MAPPED_METRICS) {
      const file = join(options.svgDir, `${metric}.svg`);
      writeFileSync(
        file,
        renderChartSvg(
          sweepHeatmapOption({ summaries, x: axes[0], y: axes[1], metric, predictions }),
          HEATMAP_SIZE,
        ),
      );
      written.push(file);
    }
  }
  return written;
}
