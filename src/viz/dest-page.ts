/**
 * The destination dashboard's script (runs in the browser; served transpiled, as
 * dashboard-page.ts is). It folds the feed with dest-view.ts's applyDestEvent and draws the
 * latest migration's rounds and a row per migration, at most once per animation frame.
 */
import type * as Echarts from 'echarts';
import type { FeedMessage } from './dashboard-server';
import { connectFeed } from './feed-socket';
import {
  applyDestEvent,
  destStatus,
  type DestFeedEvent,
  type DestMigration,
  type DestView,
} from './dest-view';
import { fmtBytes, fmtMs, fmtRate } from './format';

declare const echarts: typeof Echarts;

const PAGE_BYTES = 4096;

/** For tests and the curious: the folded view and the chart. */
interface DestPageState {
  view: DestView | null;
  messages: number;
  drawnSeq: number;
  chart: Echarts.ECharts | null;
}

declare global {
  interface Window {
    precopyDest: DestPageState;
  }
}

const state: DestPageState = { view: null, messages: 0, drawnSeq: -1, chart: null };
window.precopyDest = state;
let connected = false;
let frameRequested = false;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Bytes per second over the rounds' own time (idle gaps between rounds are not counted). */
function receiveRate(m: DestMigration): number | null {
  const ms = m.rounds.reduce((sum, r) => sum + (r.end - r.start), 0);
  return ms > 0 ? (m.pagesReceived * PAGE_BYTES) / (ms / 1000) : null;
}

function row(m: DestMigration): HTMLTableRowElement {
  const status = destStatus(m);
  const tr = el('tr');
  tr.dataset.migration = String(m.n);
  tr.dataset.tone = status.tone;
  const rate = receiveRate(m);
  const cells = [
    String(m.n),
    status.label,
    m.state,
    String(m.rounds.length),
    `${m.pagesReceived} (${fmtBytes(m.pagesReceived * PAGE_BYTES)})`,
    rate === null ? '–' : fmtRate(rate),
    fmtMs(m.outcome?.downtimeMs ?? null),
    m.outcome?.hash ? `${m.outcome.hash.slice(0, 16)}…` : '–',
    m.outcome?.reason ?? '',
  ];
  for (const text of cells) tr.append(el('td', text));
  return tr;
}

function chartOption(m: DestMigration | undefined): Echarts.EChartsCoreOption {
  const rounds = m?.rounds ?? [];
  return {
    animation: false,
    title: { text: 'Pages received per round', subtext: 'and the rate this side applied them', left: 8 },
    tooltip: { trigger: 'axis' },
    legend: { top: 48, left: 8, data: ['pages', 'receive rate'] },
    grid: { left: 64, right: 72, top: 96, bottom: 40 },
    xAxis: {
      type: 'category',
      name: 'round',
      nameLocation: 'middle',
      nameGap: 26,
      data: rounds.map((r) => (r.final ? `${r.round} (final)` : String(r.round))),
    },
    yAxis: [
      { type: 'value', name: 'pages' },
      { type: 'value', name: 'MiB/s', splitLine: { show: false } },
    ],
    series: [
      { name: 'pages', type: 'bar', data: rounds.map((r) => r.pages) },
      {
        name: 'receive rate',
        type: 'line',
        yAxisIndex: 1,
        data: rounds.map((r) =>
          r.end > r.start
            ? +((r.pages * PAGE_BYTES) / ((r.end - r.start) / 1000) / 2 ** 20).toFixed(3)
            : null,
        ),
      },
    ],
  };
}

function draw(): void {
  frameRequested = false;
  const view = state.view;
  if (!view || state.drawnSeq === view.seq) return;
  state.drawnSeq = view.seq;
  const current = view.migrations[view.migrations.length - 1];
  document.getElementById('titles')!.textContent = view.title;
  document.getElementById('served')!.textContent =
    `${view.served} migration${view.served === 1 ? '' : 's'} served` +
    (view.busyRefused > 0 ? `, ${view.busyRefused} refused while busy` : '');
  const status = current ? destStatus(current) : null;
  document.getElementById('current-title')!.textContent = current
    ? `migration #${current.n}`
    : 'waiting for a migration';
  const pill = document.getElementById('current-pill')!;
  pill.textContent = status?.label ?? '';
  pill.dataset.status = status?.tone === 'good' ? 'completed' : status?.tone === 'bad' ? 'failed' : 'active';
  document.getElementById('current-state')!.textContent = current ? `machine: ${current.state}` : '';
  const box = document.querySelector<HTMLElement>('[data-chart="received"]')!;
  state.chart ??= echarts.init(box, null, { renderer: 'canvas' });
  state.chart.setOption(chartOption(current), { notMerge: true });
  // Newest first: the one being served is the one people look for.
  document.querySelector('#migrations tbody')!.replaceChildren(...[...view.migrations].reverse().map(row));
  drawBadge();
}

function requestDraw(): void {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(draw);
}

function onMessage(message: FeedMessage<DestView, DestFeedEvent>): void {
  state.messages++;
  if (message.type === 'hello') {
    state.view = message.runs[0] ?? null;
    state.drawnSeq = -1;
  } else if (state.view) {
    let view = state.view;
    message.events.forEach((e, i) => {
      view = applyDestEvent(view, e, message.first + i);
    });
    state.view = view;
  }
  requestDraw();
}

function drawBadge(): void {
  const conn = document.getElementById('conn')!;
  const current = state.view?.migrations[state.view.migrations.length - 1];
  const badge = !connected ? 'disconnected' : current && !current.outcome ? 'live' : 'idle';
  conn.dataset.conn = badge === 'idle' ? 'finished' : badge;
  conn.textContent = badge === 'disconnected' ? 'disconnected · reload to reconnect' : badge;
}

window.addEventListener('resize', () => {
  state.chart?.resize();
});
connectFeed<FeedMessage<DestView, DestFeedEvent>>(onMessage, (open) => {
  connected = open;
  drawBadge();
});
