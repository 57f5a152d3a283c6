/**
 * The dashboard: an HTTP server for the page and a WebSocket feed of migration events.
 * Loopback by default; every request and the socket need the random token (in the URL, like
 * Jupyter; the page's own sub-resources get it as a per-port cookie), 403 otherwise.
 *
 * `publish()` only folds the event into the run's view and queues it: sending happens later, in
 * one batched flush per FLUSH_MS of wall time, so the migration never waits for a browser. A
 * client that cannot keep up is not buffered without bound: it is skipped and later resynced
 * with a fresh snapshot.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Subscription } from 'rxjs';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import type { MigrationEvent, MigrationResult } from '../migration/result';
import { wallClock, type Clock } from '../util/clock';
import type { OverlayAlign } from './overlay';
import { browserModule, echartsBundle, isBrowserModule, pageFile } from './browser-modules';
import { applyEvent, emptyRunView, runViewFromResult, type FeedMode, type RunView } from './run-view';
import { handleControl, type DashboardControl } from './dashboard-control';
import { dashboardTokenSchema } from './dashboard-token';
import { applyDestEvent, emptyDestView, type DestFeedEvent, type DestView } from './dest-view';

/** Wall-clock batching of the feed: well inside the 250 ms the page promises. */
export const FLUSH_MS = 50;
/** The page sends nothing but control frames; anything bigger than this closes the socket (1009). */
export const MAX_INCOMING_BYTES = 1024;
/** A client with more than this queued is skipped, then resynced with a snapshot. */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** At most this many events per feed message. */
export const MAX_BATCH_EVENTS = 500;
export const MAX_CLIENTS = 16;
const MAX_URL_LENGTH = 2048;

export const dashboardOptionsSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(0),
  token: dashboardTokenSchema.optional(),
  titles: z.array(z.string().max(200)).optional(),
  /** Saved results: also draw them on shared charts, aligned by time or by round. */
  overlay: z.enum(['time', 'round']).optional(),
  /** Per page: queued bytes beyond which it is skipped and later resynced. */
  maxBufferedBytes: z.number().int().positive().default(MAX_BUFFERED_BYTES),
  /** Drives the feed's batching; the wall clock unless a test injects another. */
  clock: z.custom<Clock>().optional(),
  /** A live run's MigrationControl: the page's Cancel / Continue / set-parameters (dashboard-control.ts). */
  control: z.custom<DashboardControl>().optional(),
});
export type DashboardOptions = z.input<typeof dashboardOptionsSchema>;

export interface Dashboard<E = MigrationEvent> {
  /** The page's address, token included. */
  url: string;
  publish(e: E): void;
  close(): Promise<void>;
}

/** Server → page messages. Events carry consecutive sequence numbers from `first`. */
export type FeedMessage<V = RunView, E = MigrationEvent> =
  | { type: 'hello'; mode: FeedMode; overlay: OverlayAlign | null; runs: V[] }
  | { type: 'events'; run: number; first: number; events: E[] };

/** What a page folds: the source's run views (index.html) or the destination's (dest.html). */
interface Feed<V extends { seq: number }, E> {
  apply(view: V, e: E, seq: number): V;
  page: 'index.html' | 'dest.html';
}

const RUN_FEED: Feed<RunView, MigrationEvent> = { apply: applyEvent, page: 'index.html' };
const DEST_FEED: Feed<DestView, DestFeedEvent> = { apply: applyDestEvent, page: 'dest.html' };

interface Run<V, E> {
  view: V;
  pending: E[];
  /** Sequence number of pending[0]. */
  firstPending: number;
}

interface Client {
  ws: WebSocket;
  /** Per run, the last sequence number this client has. */
  sent: number[];
  needsSnapshot: boolean;
}

function parseOptions(options: DashboardOptions) {
  const parsed = dashboardOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RangeError(`dashboard option ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export class DashboardServer<
  V extends { seq: number } = RunView,
  E = MigrationEvent,
> implements Dashboard<E> {
  url = '';
  private readonly token: string;
  /** Per port: two dashboards on one host must not overwrite each other's cookie. */
  private cookieName = 'precopy_token';
  private readonly runs: Run<V, E>[];
  private readonly clients = new Set<Client>();
  private readonly http: Server;
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_INCOMING_BYTES,
    perMessageDeflate: false,
  });
  private readonly clock: Clock;
  private flushTask: Subscription | null = null;
  private closed = false;

  constructor(
    views: V[],
    private readonly options: ReturnType<typeof parseOptions>,
    private readonly feed: Feed<V, E>,
    private readonly mode: FeedMode = 'live',
  ) {
    this.token = options.token ?? randomBytes(24).toString('base64url');
    this.runs = views.map((view) => ({ view, pending: [], firstPending: view.seq + 1 }));
    this.clock = options.clock ?? wallClock();
    this.http = createServer((req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const address = this.http.address();
    const port = typeof address === 'object' && address ? address.port : this.options.port;
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.cookieName = `precopy_token_${port}`;
    this.url = `http://${host}:${port}/?token=${this.token}`;
  }

  publish(e: E, run = 0): void {
    if (this.closed) return;
    const target = this.runs[run];
    if (!target) throw new RangeError(`dashboard: no run ${run} (have ${this.runs.length})`);
    target.view = this.feed.apply(target.view, e, target.view.seq + 1);
    target.pending.push(e);
    this.scheduleFlush();
  }

  /** The views as the server has folded them (a new page gets exactly this). */
  snapshot(): V[] {
    return this.runs.map((r) => r.view);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flushTask?.unsubscribe();
    this.flushTask = null;
    for (const client of this.clients) client.ws.terminate();
    this.clients.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  ////     the feed     ////

  private scheduleFlush(): void {
    if (this.flushTask || this.clients.size === 0) {
      if (this.clients.size === 0) this.dropPending();
      return;
    }
    this.flushTask = this.clock.schedule(() => {
      this.flushTask = null;
      this.flush();
    }, FLUSH_MS);
  }

  /** Nobody is watching: the views already hold everything a future page will need. */
  private dropPending(): void {
    for (const run of this.runs) {
      run.firstPending += run.pending.length;
      run.pending = [];
    }
  }

  private flush(): void {
    for (const client of this.clients) this.sendTo(client);
    this.dropPending();
    // A skipped page is retried every flush interval until it has drained, even if the run has
    // gone quiet (otherwise it would wait for an event that may never come).
    if ([...this.clients].some((c) => c.needsSnapshot)) this.scheduleFlush();
  }

  private sendTo(client: Client): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    if (client.ws.bufferedAmount > this.options.maxBufferedBytes) {
      client.needsSnapshot = true;
      return;
    }
    if (client.needsSnapshot) {
      this.sendSnapshot(client);
      return;
    }
    this.runs.forEach((run, index) => {
      const skip = Math.max(0, client.sent[index]! + 1 - run.firstPending);
      for (let at = skip; at < run.pending.length; at += MAX_BATCH_EVENTS) {
        const events = run.pending.slice(at, at + MAX_BATCH_EVENTS);
        this.send(client, { type: 'events', run: index, first: run.firstPending + at, events });
      }
      client.sent[index] = run.view.seq;
    });
  }

  private sendSnapshot(client: Client): void {
    client.needsSnapshot = false;
    this.send(client, {
      type: 'hello',
      mode: this.mode,
      overlay: this.options.overlay ?? null,
      runs: this.snapshot(),
    });
    client.sent = this.runs.map((r) => r.view.seq);
  }

  private send(client: Client, message: FeedMessage<V, E>): void {
    client.ws.send(JSON.stringify(message));
  }

  ////     HTTP     ////

  private authorized(req: IncomingMessage, url: URL): boolean {
    const given = url.searchParams.get('token') ?? this.cookieToken(req);
    if (given === null) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private cookieToken(req: IncomingMessage): string | null {
    const header = req.headers.cookie;
    if (!header) return null;
    for (const part of header.split(';')) {
      const [name, value] = part.trim().split('=');
      if (name === this.cookieName && value) return value;
    }
    return null;
  }

  private parseUrl(req: IncomingMessage): URL | null {
    if (!req.url || req.url.length > MAX_URL_LENGTH) return null;
    try {
      return new URL(req.url, 'http://localhost');
    } catch {
      return null;
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = this.parseUrl(req);
    if (!url) return this.reply(res, 414, 'text/plain', 'URL too long or malformed\n');
    // Control requests carry the token in a header, checked there (the cookie alone is not enough).
    if (url.pathname === '/control' || url.pathname.startsWith('/control/'))
      return void handleControl(req, res, url.pathname, this.token, this.options.control);
    if (!this.authorized(req, url))
      return this.reply(res, 403, 'text/plain', 'forbidden: missing or wrong token\n');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return this.reply(res, 405, 'text/plain', 'GET only\n');
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      // The page's scripts and stylesheet are fetched without the query: the cookie carries the token.
      res.setHeader('Set-Cookie', `${this.cookieName}=${this.token}; HttpOnly; SameSite=Strict; Path=/`);
      return this.reply(res, 200, 'text/html; charset=utf-8', pageFile(this.feed.page));
    }
    if (path === '/style.css') return this.reply(res, 200, 'text/css; charset=utf-8', pageFile('style.css'));
    if (path === '/lib/echarts.min.js') return this.reply(res, 200, 'text/javascript', echartsBundle());
    const lib = /^\/lib\/([a-z-]+?)(?:\.js)?$/.exec(path);
    if (lib && isBrowserModule(lib[1]!))
      return this.reply(res, 200, 'text/javascript', browserModule(lib[1]));
    return this.reply(res, 404, 'text/plain', 'not found\n');
  }

  private reply(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
    res.writeHead(status, {
      'Content-Type': type,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    });
    res.end(body);
  }

  ////     WebSocket     ////

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = this.parseUrl(req);
    const refuse = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (!url || url.pathname !== '/ws') return refuse('404 Not Found');
    if (!this.authorized(req, url)) return refuse('403 Forbidden');
    if (this.closed || this.clients.size >= MAX_CLIENTS) return refuse('503 Service Unavailable');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.addClient(ws));
  }

  private addClient(ws: WebSocket): void {
    const client: Client = { ws, sent: [], needsSnapshot: false };
    this.clients.add(client);
    ws.on('close', () => this.clients.delete(client));
    ws.on('error', () => ws.terminate());
    // The page never needs to talk; a message is a misbehaving client.
    ws.on('message', () => ws.close(1008, 'this feed is read-only'));
    this.sendSnapshot(client);
  }
}

export async function startDashboard(
  options: DashboardOptions & { title?: string } = {},
): Promise<Dashboard> {
  const { title, ...rest } = options;
  const parsed = parseOptions(rest);
  const server = new DashboardServer(
    [emptyRunView(title ?? parsed.titles?.[0] ?? 'migration')],
    parsed,
    RUN_FEED,
  );
  await server.listen();
  return server;
}

/** The same page for saved results: one column per result, side by side. */
export async function dashboardForResults(
  results: MigrationResult[],
  options: DashboardOptions = {},
): Promise<Dashboard> {
  const parsed = parseOptions(options);
  if (results.length === 0) throw new RangeError('dashboard: at least one result to show');
  const views = results.map((result, i) => runViewFromResult(parsed.titles?.[i] ?? `run ${i + 1}`, result));
  const server = new DashboardServer(views, parsed, RUN_FEED, 'saved');
  await server.listen();
  return server;
}

/** The destination's page (`precopy dest --dashboard`): the migrations it serves, as it sees them. */
export async function startDestinationDashboard(
  options: Omit<DashboardOptions, 'control' | 'overlay'> & { title?: string } = {},
): Promise<Dashboard<DestFeedEvent>> {
  const { title, ...rest } = options;
  const parsed = parseOptions(rest);
  const server = new DashboardServer([emptyDestView(title ?? 'destination')], parsed, DEST_FEED);
  await server.listen();
  return server;
}
