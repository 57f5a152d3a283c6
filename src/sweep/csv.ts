/** The sweep table: one row per point, its swept values, mean and spread of each metric, and the model. */
import { METRIC_NAMES, type PointSummary } from './aggregate';
import { PREDICTED_METRICS, type Prediction } from './prediction';

function cell(value: unknown): string {
  const text =
    value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(
  summaries: PointSummary[],
  predictions: Map<string, Prediction | null> = new Map(),
): string {
  const paths = [...new Set(summaries.flatMap((s) => Object.keys(s.coords)))];
  const header = [
    ...paths,
    'seeds',
    'errors',
    ...METRIC_NAMES.flatMap((m) => [`${m}_mean`, `${m}_sd`, `${m}_min`, `${m}_max`]),
    ...PREDICTED_METRICS.map((m) => `model_${m}`),
    'model_lambda',
  ];
  const rows = summaries.map((s) => {
    const p = predictions.get(s.point) ?? null;
    return [
      ...paths.map((path) => s.coords[path]),
      s.seeds.length,
      s.errors.join(' | '),
      ...METRIC_NAMES.flatMap((m) => {
        const v = s.metrics?.[m];
        return v ? [v.mean, v.sd, v.min, v.max] : [null, null, null, null];
      }),
      ...PREDICTED_METRICS.map((m) => p?.metrics[m] ?? null),
      p?.lambda ?? null,
    ];
  });
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\n') + '\n';
}
