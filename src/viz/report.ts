/**
 * Static reports from saved results: one SVG with every chart, a self-contained HTML page (the
 * charts inline as SVG, a summary and the round table, no script), and the rounds as CSV.
 * The charts are the dashboard's own definitions (charts.ts), rendered server-side.
 */
import type { MigrationResult, RoundStats } from '../migration/result';
import { alignScales, buildCharts } from './charts';
import { overlayCharts, type OverlayAlign } from './overlay';
import { ROUND_COLUMNS } from './round-table';
import { runViewFromResult } from './run-view';
import { summarize } from './summary';
import { renderChartSvg, type SvgSize } from './svg';

export const CHART_SIZE: SvgSize = { width: 520, height: 300 };
const MARGIN = 16;

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

/** Average glyph width of the 11 px header font, a little generous so wrapped lines never overrun. */
const HEADER_CHAR_PX = 6.4;
const HEADER_LINE_PX = 15;

/** Greedy word wrap of `items` (joined with ' · ') into lines of at most `width` px. */
export function wrapHeader(items: string[], width: number): string[] {
  const max = Math.max(10, Math.floor(width / HEADER_CHAR_PX));
  const lines: string[] = [];
  let line = '';
  for (const item of items) {
    const next = line ? `${line} · ${item}` : item;
    if (next.length <= max) {
      line = next;
      continue;
    }
    if (line) lines.push(line);
    // An item longer than a line breaks at spaces.
    let rest = item;
    while (rest.length > max) {
      const cut = rest.lastIndexOf(' ', max);
      const at = cut > 0 ? cut : max;
      lines.push(rest.slice(0, at));
      rest = rest.slice(at).trimStart();
    }
    line = rest;
  }
  if (line) lines.push(line);
  return lines;
}

export interface ReportOptions {
  /** Also draw every run on shared charts, aligned by time or by round. */
  overlay?: OverlayAlign;
}

/**
 * One SVG: a column of charts per result (side by side for comparison), or a three-column grid
 * for a single result, under a header per column (title, headline figures and the scenario,
 * wrapped to the column so neighbours never overlap). With `overlay`, the shared charts come
 * first. Each chart keeps ECharts' `ecmeta_*` attributes, so tools (and the tests) can read which
 * series and data point each mark draws.
 */
export function reportSvg(runs: NamedResult[], options: ReportOptions = {}): string {
  const views = runs.map((r) => runViewFromResult(r.title, r.result));
  const sets = alignScales(views.map((view) => buildCharts(view)));
  const columns = views.length === 1 ? 3 : views.length;
  const step = CHART_SIZE.width + MARGIN;
  const width = MARGIN + columns * step;
  const columnWidth = views.length === 1 ? width - 2 * MARGIN : CHART_SIZE.width;
  const headerLines = views.map((view) => {
    const items = summarize(view, { scenario: true }).filter((s) => s.label !== 'first prediction');
    const scenario = items.find((s) => s.label === 'scenario');
    const figures = items.filter((s) => s !== scenario).slice(0, 10);
    return [
      ...wrapHeader(
        figures.map((s) => `${s.label} ${s.value}`),
        columnWidth,
      ),
      ...(scenario ? wrapHeader([`scenario: ${scenario.value}`], columnWidth) : []),
    ];
  });
  const header = 40 + Math.max(...headerLines.map((l) => l.length)) * HEADER_LINE_PX;
  const texts = views.map((view, v) => {
    const x = MARGIN + (views.length === 1 ? 0 : v * step);
    return [
      `<text x="${x}" y="28" font-size="16" font-weight="600" fill="#212529">${escapeXml(view.title)}</text>`,
      ...headerLines[v]!.map(
        (line, k) =>
          `<text x="${x}" y="${48 + k * HEADER_LINE_PX}" font-size="11" fill="#495057">${escapeXml(line)}</text>`,
      ),
    ].join('');
  });
  const cells: { x: number; y: number; svg: string }[] = [];
  let top = header;
  if (options.overlay) {
    const shared = overlayCharts(views, options.overlay);
    shared.forEach((chart, i) =>
      cells.push({
        x: MARGIN + (i % columns) * step,
        y: top + Math.floor(i / columns) * (CHART_SIZE.height + MARGIN),
        svg: renderChartSvg(chart.option, CHART_SIZE),
      }),
    );
    top += Math.ceil(shared.length / columns) * (CHART_SIZE.height + MARGIN);
  }
  views.forEach((_view, v) => {
    sets[v]!.forEach((chart, i) => {
      const col = views.length === 1 ? i % columns : v;
      const row = views.length === 1 ? Math.floor(i / columns) : i;
      cells.push({
        x: MARGIN + col * step,
        y: top + row * (CHART_SIZE.height + MARGIN),
        svg: renderChartSvg(chart.option, CHART_SIZE),
      });
    });
  });
  const height = Math.max(...cells.map((c) => c.y)) + CHART_SIZE.height + MARGIN;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"` +
      ` font-family="Inter, Segoe UI, Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#f8f9fa"/>`,
    ...texts,
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
header p{margin:2px 0 0;color:#adb5bd;font-size:12px;overflow-wrap:anywhere}
main{padding:16px 24px;display:grid;gap:16px;grid-template-columns:repeat(var(--runs),minmax(0,1fr))}
section{min-width:0}section.overlay{grid-column:1/-1}
section h2{font-size:15px;margin:0 0 8px}
.summary{display:flex;flex-wrap:wrap;gap:6px 18px;margin:0 0 12px;padding:10px 12px;background:#fff;border:1px solid #dee2e6;border-radius:6px}
.summary div{display:flex;flex-direction:column;min-width:0;max-width:100%}.summary dt{color:#868e96;font-size:11px}
.summary dd{margin:0;font-weight:600;overflow-wrap:anywhere}
.good{color:#2b8a3e}.bad{color:#c92a2a}
.charts{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(min(${CHART_SIZE.width}px,100%),1fr))}
.chart{background:#fff;border:1px solid #dee2e6;border-radius:6px;overflow:hidden}.chart svg{display:block;width:100%;height:auto}
.table{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;background:#fff;font-size:11px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e9ecef;padding:3px 6px;text-align:right;white-space:nowrap}th{background:#f1f3f5;position:sticky;top:0}
tr.final td{background:#fff9db}
details{margin-top:12px}
@media (max-width:960px){main{grid-template-columns:minmax(0,1fr);padding:10px 8px}}`;

/**
 * A self-contained page: per run the summary (with the scenario), every chart as inline SVG and
 * the round table in units; with `overlay`, the runs on shared charts first. No script.
 */
export function reportHtml(runs: NamedResult[], options: ReportOptions = {}): string {
  const views = runs.map(({ title, result }) => runViewFromResult(title, result));
  const sets = alignScales(views.map((view) => buildCharts(view)));
  const chartDiv = (id: string, option: Parameters<typeof renderChartSvg>[0]) =>
    `<div class="chart" data-chart="${id}">${renderChartSvg(option, CHART_SIZE)}</div>`;
  const overlay = options.overlay
    ? `<section class="overlay"><h2>All runs on one chart, aligned by ${options.overlay}</h2><div class="charts">${overlayCharts(
        views,
        options.overlay,
      )
        .map((c) => chartDiv(c.id, c.option))
        .join('\n')}</div></section>`
    : '';
  const header = ROUND_COLUMNS.map(
    (c) => `<th title="${escapeHtml(c.title)}">${escapeHtml(c.header)}</th>`,
  ).join('');
  const sections = runs.map(({ title, result }, v) => {
    const view = views[v]!;
    const summary = summarize(view, { detail: true, scenario: true })
      .map(
        (s) =>
          `<div><dt>${escapeHtml(s.label)}</dt><dd${s.tone ? ` class="${s.tone}"` : ''}>${escapeHtml(s.value)}</dd></div>`,
      )
      .join('');
    const charts = sets[v]!.map((c) => chartDiv(c.id, c.option)).join('\n');
    const rows = result.precopy.rounds
      .map(
        (r) =>
          `<tr data-round="${r.round}"${r.final ? ' class="final"' : ''}>${ROUND_COLUMNS.map(
            (c) => `<td>${escapeHtml(c.cell(r))}</td>`,
          ).join('')}</tr>`,
      )
      .join('\n');
    return `<section data-run="${escapeHtml(title)}"><h2>${escapeHtml(title)}</h2>
<dl class="summary">${summary}</dl>
<div class="charts">${charts}</div>
<details open><summary>Rounds</summary><div class="table"><table class="rounds"><thead><tr>${header}</tr></thead><tbody>
${rows}
</tbody></table></div></details></section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>precopy report: ${escapeHtml(runs.map((r) => r.title).join(' vs '))}</title>
<style>${HTML_STYLE}</style></head>
<body><header><h1>precopy report</h1><p>${escapeHtml(runs.map((r) => r.title).join(' vs '))}</p></header>
<main style="--runs:${runs.length}">
${overlay}
${sections.join('\n')}
</main></body></html>
`;
}
