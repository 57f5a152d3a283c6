/**
 * The listening end of the WebSocket link. A plain HTTP server owns the port so the token is
 * checked before any WebSocket exists: a missing or wrong `Authorization: Bearer <token>` gets
 * 401 and the socket is destroyed; plain HTTP gets 426; garbage that is not HTTP gets Node's
 * 400 and a closed socket. Accepted sockets become WsTransports with `maxPayload` enforced by ws
 * (an oversized message closes with 1009). Binds 127.0.0.1 unless told otherwise. A multifd
 * channel connects to `/channel/<i>` with the same token, a recovery query to `/query`, postcopy's
 * migrate-recover to `/recover`; any other
 * path is a migration's main link.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { wallClock, type Clock } from '../util/clock';
import { DEFAULT_MAX_PAYLOAD } from '../wire/constants';
import { tokensEqual } from '../wire/validation';
import { WsTransport } from './ws-transport';

export interface WsServerOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  token: string;
  /** Largest message accepted, bytes. Default 1 MiB. */
  maxPayload?: number;
  clock?: Clock;
  keepaliveMs?: number;
  maxBufferedBytes?: number;
  stallMs?: number;
}

export interface WsServer {
  /** ws://host:port */
  url: string;
  close(): Promise<void>;
}

export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

function reject(socket: Duplex, status: number, text: string): void {
  // As ws's abortHandshake: destroy only once the answer is flushed.
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** What a connection is for: a migration's main link, multifd channel i, a recovery query, or postcopy's migrate-recover. */
export type Route = undefined | number | 'query' | 'recover';

/** The route a connection's path names: `/channel/<i>`, `/query`, `/recover`, anything else the main link. */
export function routeOf(request: IncomingMessage): Route {
  if (request.url === '/query') return 'query';
  if (request.url === '/recover') return 'recover';
  const match = /^\/channel\/(\d{1,3})$/.exec(request.url ?? '');
  return match ? Number(match[1]) : undefined;
}

export async function listenWs(
  options: WsServerOptions,
  onConnection: (transport: WsTransport, route: Route) => void,
): Promise<WsServer> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? wallClock();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
    perMessageDeflate: false,
    clientTracking: true,
  });
  const http = createServer((_request, response) => {
    response.writeHead(426, { Connection: 'close' }).end('precopy destination: WebSocket only\n');
  });
  http.on('clientError', (_error, socket) => reject(socket, 400, 'Bad Request'));
  http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const token = bearerToken(request);
    if (token === undefined || !tokensEqual(token, options.token)) return reject(socket, 401, 'Unauthorized');
    wss.handleUpgrade(request, socket, head, (ws) =>
      onConnection(
        new WsTransport(ws, {
          clock,
          keepaliveMs: options.keepaliveMs,
          maxBufferedBytes: options.maxBufferedBytes,
          stallMs: options.stallMs,
        }),
        routeOf(request),
      ),
    );
  });
  await new Promise<void>((resolve, fail) => {
    http.once('error', fail);
    http.listen(options.port ?? 0, host, () => {
      http.off('error', fail);
      resolve();
    });
  });
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `ws://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
