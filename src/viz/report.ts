/**
 * Static reports from saved results: one SVG with every chart, a self-contained HTML page (the
 * charts inline as SVG, a summary and the round table, no script), and the rounds as CSV.
 * The charts are the dashboard's own definitions (charts.ts), rendered server-side.
 */
import type { MigrationResult, RoundStats } from '../migration/result';
import { alignScales, buildCharts } from './charts';
import { runViewFromResult, type RunView } from './run-view';
import { summarize } from './summary';
import { renderChartSvg, type SvgSize } from './svg';

export const CHART_SIZE: SvgSize = { width: 520, height: 300 };
const MARGIN = 16;
const HEADER = 64;

export interface NamedResult {
  title: string;
  result: MigrationResult;
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Places a rendered chart inside the report's SVG: the chart's root <svg> gets an x and y. */
function placed(svg: string, x: number, y: number): string {
  return svg.replace(/^<svg /, `<svg x="${x}" y="${y}" `);
}

/**
 * One SVG: a column of charts per result (side by side for comparison), or a three-column grid
 * for a single result. Each chart keeps ECharts' `ecmeta_*` attributes, so tools (and the tests)
 * can read which series and data point each mark draws.
 */
export function reportSvg(runs: NamedResult[]): string {
  const views = runs.map((r) => runViewFromResult(r.title, r.result));
  const sets = alignScales(views.map((view) => buildCharts(view)));
  const columns = views.length === 1 ? 3 : views.length;
  const cells: { view: RunView; x: number; y: number; svg: string }[] = [];
  views.forEach((view, v) => {
    sets[v]!.forEach((chart, i) => {
      const col = views.length === 1 ? i % columns : v;
      const row = views.length === 1 ? Math.floor(i / columns) : i;
      const x = MARGIN + col * (CHART_SIZE.width + MARGIN);
      const y = HEADER + row * (CHART_SIZE.height + MARGIN);
      cells.push({ view, x, y, svg: renderChartSvg(chart.option, CHART_SIZE) });
    });
  });
  const rows = Math.max(...cells.map((c) => c.y)) + CHART_SIZE.height + MARGIN;
  const width = MARGIN + columns * (CHART_SIZE.width + MARGIN);
  const headers = views.map((view, v) => {
    const x = MARGIN + (views.length === 1 ? 0 : v * (CHART_SIZE.width + MARGIN));
    const line = summarize(view)
      .slice(0, 8)
      .map((s) => `${s.label} ${s.value}`)
      .join(' · ');
    return (
      `<text x="${x}" y="28" font-size="16" font-weight="600" fill="#212529">${escapeXml(view.title)}</text>` +
      `<text x="${x}" y="48" font-size="11" fill="#495057">${escapeXml(line)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${rows}" viewBox="0 0 ${width} ${rows}"` +
      ` font-family="Inter, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#f8f9fa"/>`,
    ...headers,
    ...cells.map(
      (c) =>
        `<rect x="${c.x}" y="${c.y}" width="${CHART_SIZE.width}" height="${CHART_SIZE.height}" rx="6" fill="#fff" stroke="#dee2e6"/>`,
    ),
    ...cells.map((c) => placed(c.svg, c.x, c.y)),
    '</svg>',
  ].join('\n');
}

/** The columns of the rounds CSV: RoundStats' own names, so the header documents itself. */
export const CSV_COLUMNS: (keyof RoundStats)[] = [
  'round',
  'start',
  'duration',
  'pagesHarvested',
  'pagesSent',
  'pagesZero',
  'bytesRaw',
  'bytesWire',
  'compressionRatio',
  'dirtyRate',
  'sendRate',
  'lambda',
  'workingSetPages',
  'remaining',
  'threshold',
  'expectedDowntime',
  'throttle',
  'predictedRoundsLeft',
  'predictedEta',
  'final',
  'dirtyByRegion',
];

function csvCell(value: RoundStats[keyof RoundStats]): string {
  if (value === null) return '';
  if (Array.isArray(value)) return value.join(';');
  return String(value);
}

/** One row per round; `dirtyByRegion` as `;`-separated page counts; empty cell for null. */
export function roundsCsv(result: MigrationResult): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const r of result.precopy.rounds) lines.push(CSV_COLUMNS.map((c) => csvCell(r[c])).join(','));
  return lines.join('\n') + '\n';
}

function escapeHtml(text: string): string {
  return escapeXml(text);
}

const HTML_STYLE = `
body{margin:0;background:#f8f9fa;color:#212529;font:13px/1.45 Inter,"Segoe UI",Helvetica,Arial,sans-serif}
header{background:#212529;color:#f8f9fa;padding:14px 24px}header h1{margin:0;font-size:18px;font-weight:600}
header p{margin:2px 0 0;color:#adb5bd;font-size:12px}
main{padding:16px 24px;display:grid;gap:16px;grid-template-columns:repeat(var(--runs),minmax(0,1fr))}
section h2{font-size:15px;margin:0 0 8px}
.summary{display:flex;flex-wrap:wrap;gap:6px 18px;margin:0 0 12px;padding:10px 12px;background:#fff;border:1px solid #dee2e6;border-radius:6px}
.summary div{display:flex;flex-direction:column}.summary dt{color:#868e96;font-size:11px}.summary dd{margin:0;font-weight:600}
.good{color:#2b8a3e}.bad{color:#c92a2a}
.charts{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(${CHART_SIZE.width}px,1fr))}
.chart{background:#fff;border:1px solid #dee2e6;border-radius:6px;overflow:hidden}
table{border-collapse:collapse;width:100%;background:#fff;font-size:11px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e9ecef;padding:3px 6px;text-align:right}th{background:#f1f3f5;position:sticky;top:0}
details{margin-top:12px}`;

/** A self-contained page: summary, every chart as inline SVG, and the round table. No script. */
export function reportHtml(runs: NamedResult[]): string {
  const views = runs.map(({ title, result }) => runViewFromResult(title, result));
  const sets = alignScales(views.map((view) => buildCharts(view)));
  const sections = runs.map(({ title, result }, v) => {
    const view = views[v]!;
    const summary = summarize(view, { detail: true })
      .map(
        (s) =>
          `<div><dt>${escapeHtml(s.label)}</dt><dd${s.tone ? ` class="${s.tone}"` : ''}>${escapeHtml(s.value)}</dd></div>`,
      )
      .join('');
    const charts = sets[v]!.map(
      (c) => `<div class="chart" data-chart="${c.id}">${renderChartSvg(c.option, CHART_SIZE)}</div>`,
    ).join('\n');
    const header = CSV_COLUMNS.filter((c) => c !== 'dirtyByRegion')
      .map((c) => `<th>${c}</th>`)
      .join('');
    const rows = result.precopy.rounds
      .map(
        (r) =>
          `<tr data-round="${r.round}">${CSV_COLUMNS.filter((c) => c !== 'dirtyByRegion')
            .map((c) => `<td>${escapeHtml(formatCell(r[c]))}</td>`)
            .join('')}</tr>`,
      )
      .join('\n');
    return `<section data-run="${escapeHtml(title)}"><h2>${escapeHtml(title)}</h2>
<dl class="summary">${summary}</dl>
<div class="charts">${charts}</div>
<details open><summary>Rounds</summary><table class="rounds"><thead><tr>${header}</tr></thead><tbody>
${rows}
</tbody></table></details></section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>precopy report: ${escapeHtml(runs.map((r) => r.title).join(' vs '))}</title>
<style>${HTML_STYLE}</style></head>
<body><header><h1>precopy report</h1><p>${escapeHtml(runs.map((r) => r.title).join(' vs '))}</p></header>
<main style="--runs:${runs.length}">
${sections.join('\n')}
</main></body></html>
`;
}

function formatCell(value: RoundStats[keyof RoundStats]): string {
  if (typeof value === 'number' && !Number.isInteger(value)) return value.toPrecision(6);
  return csvCell(value);
}
