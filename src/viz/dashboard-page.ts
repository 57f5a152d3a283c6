/**
 * The dashboard page's script (runs in the browser; served transpiled by dashboard-server.ts).
 * It folds the feed's events with the same `applyEvent` the server uses and draws the same chart
 * definitions the reports render, at most once per animation frame however fast events come.
 */
import type * as Echarts from 'echarts';
import type { FeedMessage } from './dashboard-server';
import { connectFeed } from './feed-socket';
import { alignScales, buildCharts, CHART_IDS, type ChartId } from './charts';
import { fmtBytes, fmtMs, fmtRate } from './format';
import { OVERLAY_IDS, overlayCharts, type OverlayAlign, type OverlayId } from './overlay';
import { ROUND_COLUMNS } from './round-table';
import { applyEvent, badgeOf, isFinished, type FeedMode, type RunView } from './run-view';
import { summarize } from './summary';

declare const echarts: typeof Echarts;

interface RunPanel {
  root: HTMLElement;
  pill: HTMLElement;
  machine: HTMLElement;
  fill: HTMLElement;
  progressLabel: HTMLElement;
  summary: HTMLElement;
  tableBody: HTMLElement;
  charts: Record<ChartId, Echarts.ECharts>;
  /** Sequence number last drawn, and rounds last put in the table. */
  drawnSeq: number;
  tableRounds: number;
  /** The rounds (and scale) the heatmap was last drawn from: redrawn only when they change. */
  heatmapKey: unknown[] | null;
}

/** For tests and the curious: the folded views and the chart instances. */
interface PageState {
  views: RunView[];
  panels: RunPanel[];
  messages: number;
  /** What the server feeds: a migration as it runs, or saved results. */
  mode: FeedMode | null;
  /** Saved results drawn on shared charts too (`precopy view --overlay`). */
  overlay: OverlayAlign | null;
  overlayCharts: Partial<Record<OverlayId, Echarts.ECharts>>;
}

declare global {
  interface Window {
    precopy: PageState;
  }
}

const state: PageState = {
  views: [],
  panels: [],
  messages: 0,
  mode: null,
  overlay: null,
  overlayCharts: {},
};
let connected = false;
window.precopy = state;
let frameRequested = false;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function buildPanel(view: RunView, index: number): RunPanel {
  const root = el('section', 'run');
  root.dataset.run = String(index);
  const head = el('div', 'run-head');
  const title = el('h2', undefined, view.title);
  const pill = el('span', 'pill', view.status);
  const machine = el('span', 'machine');
  const save = el('button', 'save-png', 'PNG');
  save.type = 'button';
  save.title = "Save this run's charts as one PNG, laid out as on the page";
  head.append(title, pill, machine, save);
  const progress = el('div', 'progress');
  const fill = el('div', 'fill');
  const progressLabel = el('span', 'label');
  progress.append(fill, progressLabel);
  const summary = el('dl', 'summary');
  const grid = el('div', 'charts');
  const charts = {} as Record<ChartId, Echarts.ECharts>;
  for (const id of CHART_IDS) {
    const box = el('div', 'chart');
    box.dataset.chart = id;
    box.dataset.run = String(index);
    grid.append(box);
    // ECharts 6 puts heatmap cells on canvas's incremental layer, painted ~15 ms per frame and
    // restarted by every setOption: a live run redrawing each frame never got past ~40 rounds.
    // The SVG renderer draws every cell at once.
    charts[id] = echarts.init(box, null, { renderer: id === 'heatmap' ? 'svg' : 'canvas' });
  }
  const details = el('details', 'rounds');
  details.open = true;
  details.append(el('summary', undefined, 'Rounds'));
  const table = el('table');
  const header = el('tr');
  for (const column of ROUND_COLUMNS) {
    const th = el('th', undefined, column.header);
    th.title = column.title;
    header.append(th);
  }
  const thead = el('thead');
  thead.append(header);
  const tableBody = el('tbody');
  table.append(thead, tableBody);
  details.append(table);
  root.append(head, progress, summary, grid, details);
  save.addEventListener('click', () => void downloadPng(charts, view.title));
  return {
    root,
    pill,
    machine,
    fill,
    progressLabel,
    summary,
    tableBody,
    charts,
    drawnSeq: -1,
    tableRounds: -1,
    heatmapKey: null,
  };
}

/** Pixels per CSS pixel in the saved image: sharp on a slide or a paper. */
const PNG_PIXEL_RATIO = 2;
const PNG_TITLE_HEIGHT = 28;

/**
 * The run's charts composed into one PNG at their places on the page, under the run's title.
 * ECharts' own getConnectedDataURL cannot: it wants every chart on canvas, and the heatmap draws
 * with the SVG renderer. So each chart gives its own image (PNG or SVG) and a canvas lays them out.
 */
async function panelPng(charts: Record<ChartId, Echarts.ECharts>, title: string): Promise<Blob> {
  const boxes = Object.values(charts).map((chart) => ({
    chart,
    rect: chart.getDom().getBoundingClientRect(),
  }));
  const left = Math.min(...boxes.map((b) => b.rect.left));
  const top = Math.min(...boxes.map((b) => b.rect.top));
  const width = Math.max(...boxes.map((b) => b.rect.right)) - left;
  const height = Math.max(...boxes.map((b) => b.rect.bottom)) - top + PNG_TITLE_HEIGHT;
  const canvas = el('canvas');
  canvas.width = Math.round(width * PNG_PIXEL_RATIO);
  canvas.height = Math.round(height * PNG_PIXEL_RATIO);
  const ctx = canvas.getContext('2d')!;
  ctx.scale(PNG_PIXEL_RATIO, PNG_PIXEL_RATIO);
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#1f2933';
  ctx.font = '600 15px system-ui, sans-serif';
  ctx.fillText(title, 4, 19);
  for (const { chart, rect } of boxes) {
    const image = new Image();
    image.src = chart.getDataURL({ type: 'png', pixelRatio: PNG_PIXEL_RATIO, backgroundColor: '#ffffff' });
    await image.decode();
    ctx.drawImage(image, rect.left - left, rect.top - top + PNG_TITLE_HEIGHT, rect.width, rect.height);
  }
  return new Promise((resolve, reject) =>
    canvas.toBlob(
      (blob) => (blob ? resolve(blob) : reject(new Error('the canvas gave no PNG'))),
      'image/png',
    ),
  );
}

/** The last saved image's object URL: kept until the next one, so its download can finish. */
let pngUrl: string | null = null;

async function downloadPng(charts: Record<ChartId, Echarts.ECharts>, title: string): Promise<void> {
  if (pngUrl) URL.revokeObjectURL(pngUrl);
  const url = (pngUrl = URL.createObjectURL(await panelPng(charts, title)));
  const link = el('a');
  link.href = url;
  link.download = `${title.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'precopy'}.png`;
  link.click();
}

function layout(): void {
  const main = document.getElementById('runs')!;
  for (const panel of state.panels) for (const chart of Object.values(panel.charts)) chart.dispose();
  for (const chart of Object.values(state.overlayCharts)) chart.dispose();
  state.overlayCharts = {};
  main.replaceChildren();
  if (state.overlay) main.append(buildOverlay());
  main.style.setProperty('--runs', String(state.views.length));
  state.panels = state.views.map((view, i) => {
    const panel = buildPanel(view, i);
    main.append(panel.root);
    return panel;
  });
  document.getElementById('titles')!.textContent = state.views.map((v) => v.title).join('  vs  ');
  // Charts measure their boxes once they are in the document.
  for (const panel of state.panels) for (const chart of Object.values(panel.charts)) chart.resize();
  for (const chart of Object.values(state.overlayCharts)) chart.resize();
}

/** One section across the columns: every run on the same charts. */
function buildOverlay(): HTMLElement {
  const root = el('section', 'overlay');
  root.append(el('h2', undefined, `All runs on one chart, aligned by ${state.overlay}`));
  const grid = el('div', 'charts');
  for (const id of OVERLAY_IDS) {
    const box = el('div', 'chart');
    box.dataset.chart = id;
    grid.append(box);
    state.overlayCharts[id] = echarts.init(box, null, { renderer: 'canvas' });
  }
  root.append(grid);
  return root;
}

function progressOf(view: RunView): { fraction: number; label: string } {
  if (view.status === 'completed')
    return { fraction: 1, label: `completed in ${fmtMs(view.result?.['total-time'] ?? view.time)}` };
  if (isFinished(view)) return { fraction: 0, label: view.status };
  const p = view.progress;
  if (!p) return { fraction: 0, label: `${view.status} · ${fmtMs(view.time)}` };
  // What converges: the dirty set against the threshold, never bytes sent (MigrationEvent.convergence).
  return {
    fraction: p.convergence,
    label:
      `round ${p.round} · remaining ${fmtBytes(p.remaining)} + ${fmtBytes(p.dirtiedSinceSync)} dirtied ` +
      `vs threshold ${fmtBytes(p.threshold)} · rounds left ${p.roundsLeft ?? '∞'} · dirty ${fmtRate(p.dirtyRate)} · ` +
      `send ${fmtRate(p.sendRate)} · ETA ${fmtMs(p.eta)}`,
  };
}

function drawSummary(panel: RunPanel, view: RunView): void {
  panel.summary.replaceChildren(
    ...summarize(view, { scenario: true }).map((item) => {
      const cell = el('div');
      const value = el('dd', item.tone, item.value);
      cell.append(el('dt', undefined, item.label), value);
      return cell;
    }),
  );
}

function drawTable(panel: RunPanel, view: RunView): void {
  if (panel.tableRounds === view.rounds.length && view.result === null) return;
  panel.tableRounds = view.rounds.length;
  panel.tableBody.replaceChildren(
    ...view.rounds.map((r) => {
      const row = el('tr', r.final ? 'final' : undefined);
      row.dataset.round = String(r.round);
      for (const column of ROUND_COLUMNS) row.append(el('td', undefined, column.cell(r)));
      return row;
    }),
  );
}

function draw(): void {
  frameRequested = false;
  if (state.views.every((view, i) => state.panels[i]!.drawnSeq === view.seq)) return;
  // Side by side, one run's new data can change the shared scales of the other's charts too.
  const width = state.panels[0]?.charts.rates.getWidth() || undefined;
  const sets = alignScales(state.views.map((view) => buildCharts(view, { width })));
  state.views.forEach((view, i) => {
    const panel = state.panels[i]!;
    const changed = panel.drawnSeq !== view.seq;
    if (!changed && state.views.length === 1) return;
    panel.drawnSeq = view.seq;
    if (changed) {
      panel.root.dataset.status = view.status;
      panel.pill.textContent = view.status;
      panel.pill.dataset.status = view.status;
      panel.machine.textContent = `machine: ${view.machineState}${view.stopReason ? ` · stop: ${view.stopReason}` : ''}`;
      const progress = progressOf(view);
      panel.fill.style.width = `${(progress.fraction * 100).toFixed(1)}%`;
      panel.progressLabel.textContent = progress.label;
      drawSummary(panel, view);
      drawTable(panel, view);
    }
    for (const chart of sets[i]!) {
      if (chart.id === 'heatmap') {
        const key = [view.rounds, view.regionBytes, ...state.views.map((v) => v.rounds)];
        if (panel.heatmapKey && key.every((k, at) => k === panel.heatmapKey![at])) continue;
        panel.heatmapKey = key;
      }
      panel.charts[chart.id].setOption(chart.option, { notMerge: true });
    }
  });
  if (state.overlay)
    for (const chart of overlayCharts(state.views, state.overlay))
      state.overlayCharts[chart.id]?.setOption(chart.option, { notMerge: true });
  drawBadge();
  // The tab says how it is going, for a run watched from another window.
  document.title = `${state.views.map((v) => `${v.status}${v.progress ? ` r${v.progress.round}` : ''}`).join(' | ')} · precopy`;
}

function requestDraw(): void {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(draw);
}

function onMessage(message: FeedMessage): void {
  state.messages++;
  if (message.type === 'hello') {
    state.mode = message.mode;
    const relayout = message.runs.length !== state.views.length || message.overlay !== state.overlay;
    state.overlay = message.overlay;
    state.views = message.runs;
    if (relayout) layout();
    else
      for (const panel of state.panels) {
        panel.drawnSeq = -1;
        panel.heatmapKey = null;
      }
  } else {
    let view = state.views[message.run];
    if (!view) return;
    message.events.forEach((e, i) => {
      view = applyEvent(view!, e, message.first + i);
    });
    state.views[message.run] = view;
  }
  requestDraw();
}

function drawBadge(): void {
  const conn = document.getElementById('conn')!;
  const badge = badgeOf(state.mode, state.views, connected);
  conn.dataset.conn = badge;
  conn.textContent =
    badge === 'disconnected'
      ? 'disconnected · reload to reconnect'
      : badge === 'connecting'
        ? 'connecting…'
        : badge;
}

window.addEventListener('resize', () => {
  for (const panel of state.panels) {
    for (const chart of Object.values(panel.charts)) chart.resize();
    // Titles are fitted to the width: draw again at the new one.
    panel.drawnSeq = -1;
    panel.heatmapKey = null;
  }
  for (const chart of Object.values(state.overlayCharts)) chart.resize();
  requestDraw();
});
connectFeed<FeedMessage>(onMessage, (open) => {
  connected = open;
  drawBadge();
});
