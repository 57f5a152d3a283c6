import { request } from 'node:http';
import { WebSocket } from 'ws';
import type { MigrationEvent } from '../../src/migration/result';
import {
  dashboardForResults,
  DashboardServer,
  MAX_INCOMING_BYTES,
  startDashboard,
  type Dashboard,
  type FeedMessage,
} from '../../src/viz/dashboard-server';
import { applyEvent, type RunView } from '../../src/viz/run-view';
import { buildResult, eventsFor } from './fixtures';

const MiB = 1024 * 1024;
const result = buildResult({ dirtyRate: 700 * MiB, throttle: [0, 0, 20, 30, 40, 50] });
const events = eventsFor(result);

/** One HTTP request on its own connection (no keep-alive pool left open after the test). */
function fetch(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: { get(name: string): string | null }; text(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: { get: (name) => [res.headers[name] ?? []].flat().join(', ') || null },
          text: async () => Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

function parts(url: string) {
  const u = new URL(url);
  return { base: `${u.protocol}//${u.host}`, ws: `ws://${u.host}/ws`, token: u.searchParams.get('token')! };
}

/** A feed client that folds what it receives, exactly as the page does. */
class FeedClient {
  views: RunView[] = [];
  messages: FeedMessage[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as FeedMessage;
      this.messages.push(m);
      if (m.type === 'hello') this.views = m.runs;
      else m.events.forEach((e, i) => (this.views[m.run] = applyEvent(this.views[m.run]!, e, m.first + i)));
    });
  }
  async until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(check()).toBe(true);
  }
  closed(): Promise<number> {
    return new Promise((resolve) => this.ws.once('close', (code) => resolve(code)));
  }
}

/** The status of an upgrade attempt that the server refuses. */
function refusedUpgrade(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined);
  });
}

describe('dashboard server', () => {
  let dashboard: Dashboard;
  const clients: FeedClient[] = [];
  beforeEach(async () => {
    dashboard = await startDashboard({ title: 'hog' });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    await dashboard.close();
  });
  const connect = (url: string) => {
    const c = new FeedClient(url);
    clients.push(c);
    return c;
  };

  it('binds loopback and puts a random token in the URL', () => {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}$/);
  });

  it('a missing or wrong token gets 403, on the page, its files and the socket', async () => {
    const { base, ws, token } = parts(dashboard.url);
    const wrong = token.slice(0, -1) + (token.endsWith('a') ? 'b' : 'a');
    for (const path of ['/', '/lib/charts.js', '/lib/echarts.min.js', '/style.css', `/?token=${wrong}`]) {
      expect({ path, status: (await fetch(base + path)).status }).toEqual({ path, status: 403 });
    }
    expect(await refusedUpgrade(ws)).toBe(403);
    expect(await refusedUpgrade(`${ws}?token=${wrong}`)).toBe(403);
    expect(await refusedUpgrade(`${ws}?token=`)).toBe(403);
  });

  it('with the token: the page sets a per-port cookie that opens its scripts; other methods and paths refused', async () => {
    const { base, token } = parts(dashboard.url);
    const page = await fetch(dashboard.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/lib/dashboard-page.js');
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).toBe(`precopy_token_${new URL(base).port}=${token}`);
    const charts = await fetch(`${base}/lib/charts.js`, { headers: { cookie } });
    expect(charts.status).toBe(200);
    const js = await charts.text();
    expect(js).toContain('export function buildCharts');
    expect(js).not.toMatch(/: RunView|import type/); // transpiled, not the TypeScript source
    expect((await fetch(`${base}/lib/echarts.min.js`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${base}/lib/../../package.json`, { headers: { cookie } })).status).toBe(404);
    expect((await fetch(`${base}/lib/terminal.js`, { headers: { cookie } })).status).toBe(404);
    expect((await fetch(dashboard.url, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('streams every event in order; a page joining mid-run gets a snapshot and no duplicates', async () => {
    const { ws, token } = parts(dashboard.url);
    const early = connect(`${ws}?token=${token}`);
    await early.opened;
    const half = Math.floor(events.length / 2);
    events.slice(0, half).forEach((e) => dashboard.publish(e));
    const late = connect(`${ws}?token=${token}`);
    await late.opened;
    events.slice(half).forEach((e) => dashboard.publish(e));
    await early.until(() => early.views[0]?.status === 'completed');
    await late.until(() => late.views[0]?.status === 'completed');
    const server = (dashboard as DashboardServer).snapshot()[0]!;
    expect(early.views[0]).toEqual(server);
    expect(late.views[0]).toEqual(server);
    expect(server.seq).toBe(events.length);
    // Sequence numbers are consecutive in what the early page received.
    const seqs = early.messages.flatMap((m) =>
      m.type === 'events' ? m.events.map((_, i) => m.first + i) : [],
    );
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    // Batched: far fewer messages than events.
    expect(early.messages.length).toBeLessThan(events.length / 4);
  });

  it('the feed is read-only and small: a message from the page closes it (1008), an oversized one with 1009', async () => {
    const { ws, token } = parts(dashboard.url);
    const a = connect(`${ws}?token=${token}`);
    await a.opened;
    const aClosed = a.closed();
    a.ws.send('hello');
    expect(await aClosed).toBe(1008);
    const b = connect(`${ws}?token=${token}`);
    await b.opened;
    const bClosed = b.closed();
    b.ws.send('x'.repeat(MAX_INCOMING_BYTES + 1));
    expect(await bClosed).toBe(1009);
  });

  it('bad options are refused with the option named', async () => {
    await expect(startDashboard({ port: 70000 })).rejects.toThrow(/dashboard option port/);
    await expect(startDashboard({ token: 'short' })).rejects.toThrow(/dashboard option token: 16 to 128/);
    await expect(dashboardForResults([])).rejects.toThrow(/at least one result/);
  });
});

describe('dashboard for saved results', () => {
  it('serves each result as its own run, already complete', async () => {
    const other = buildResult();
    const dashboard = await dashboardForResults([result, other], { titles: ['hog', 'golden'] });
    const { ws, token } = parts(dashboard.url);
    const client = new FeedClient(`${ws}?token=${token}`);
    try {
      await client.opened;
      await client.until(() => client.views.length === 2);
      expect(client.views.map((v) => [v.title, v.status, v.rounds.length])).toEqual([
        ['hog', 'completed', result.precopy.rounds.length],
        ['golden', 'completed', other.precopy.rounds.length],
      ]);
    } finally {
      client.ws.terminate();
      await dashboard.close();
    }
  });

  it('publishing without a page watching keeps nothing queued, and a page opened later sees it all', async () => {
    const dashboard = (await startDashboard()) as DashboardServer;
    try {
      const e: MigrationEvent = { type: 'state', time: 0, status: 'setup', machineState: 'setup' };
      for (let i = 0; i < 1000; i++) dashboard.publish({ ...e, time: i });
      expect((dashboard as unknown as { runs: { pending: unknown[] }[] }).runs[0]!.pending).toHaveLength(0);
      expect(dashboard.snapshot()[0]!.seq).toBe(1000);
    } finally {
      await dashboard.close();
    }
  });

  it('a page that stops reading is skipped, not buffered without bound, and resynced with a snapshot', async () => {
    const limit = 64 * 1024;
    const dashboard = (await startDashboard({ maxBufferedBytes: limit })) as DashboardServer;
    const { ws, token } = parts(dashboard.url);
    const client = new FeedClient(`${ws}?token=${token}`);
    try {
      await client.opened;
      await client.until(() => client.messages.length === 1);
      const socket = (client.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
      socket.pause();
      const serverSide = [...(dashboard as unknown as { clients: Set<{ ws: WebSocket }> }).clients][0]!.ws;
      const e: MigrationEvent = { type: 'state', time: 0, status: 'active', machineState: 'active.round' };
      let peak = 0;
      for (let batch = 0; batch < 40; batch++) {
        for (let i = 0; i < 2000; i++) dashboard.publish({ ...e, time: batch * 2000 + i });
        await new Promise((r) => setTimeout(r, 60)); // one flush
        peak = Math.max(peak, serverSide.bufferedAmount);
      }
      // Kernel buffers fill first; past the limit the server stops queueing for this page.
      expect(peak).toBeGreaterThan(limit);
      expect(peak).toBeLessThan(limit + 2 * 2000 * 200);
      dashboard.publish({ ...e, status: 'completed', machineState: 'completed' });
      socket.resume();
      await client.until(() => client.views[0]?.status === 'completed');
      expect(client.messages.filter((m) => m.type === 'hello').length).toBeGreaterThanOrEqual(2);
      expect(client.views[0]).toEqual(dashboard.snapshot()[0]);
    } finally {
      client.ws.terminate();
      await dashboard.close();
    }
  });
});
