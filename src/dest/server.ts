/** `precopy dest`'s engine: a Destination behind a token-checked WebSocket server. */
import { listenWs } from '../link/ws-server';
import { wallClock, type Clock } from '../util/clock';
import { DEFAULT_MAX_PAYLOAD } from '../wire/constants';
import { Destination, type DestinationEvent, type DestinationOptions } from './destination';

export interface DestinationServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  token: string;
  /** Largest WebSocket message accepted. Default 1 MiB. */
  maxPayload?: number;
  clock?: Clock;
  /** Ping interval and dead-peer timeout, ms. Default 5000; 0 = off. */
  keepaliveMs?: number;
  /** Destination events (for a dashboard or a log). */
  onEvent?: (event: DestinationEvent) => void;
  edgeChecker?: DestinationOptions['edgeChecker'];
  /** Largest guest accepted, in pages (DestinationOptions.maxGuestPages). */
  maxGuestPages?: number;
  /** DestinationOptions.deadlines. */
  deadlines?: DestinationOptions['deadlines'];
  /** A source that stops reading is cut after this long (WsTransportOptions.stallMs). */
  stallMs?: number;
}

export interface DestinationServer {
  url: string;
  destination: Destination;
  close(): Promise<void>;
}

export async function startDestinationServer(options: DestinationServerOptions): Promise<DestinationServer> {
  const clock = options.clock ?? wallClock();
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  const destination = new Destination({
    token: options.token,
    clock,
    maxPayload,
    onEvent: options.onEvent,
    edgeChecker: options.edgeChecker,
    maxGuestPages: options.maxGuestPages,
    deadlines: options.deadlines,
  });
  const server = await listenWs(
    {
      host: options.host,
      port: options.port,
      token: options.token,
      maxPayload,
      clock,
      keepaliveMs: options.keepaliveMs,
      stallMs: options.stallMs,
    },
    (transport, route) =>
      route === undefined
        ? destination.attach(transport)
        : route === 'query'
          ? destination.attachQuery(transport)
          : route === 'recover'
            ? destination.attachRecovery(transport)
            : destination.attachChannel(transport, route),
  );
  return { url: server.url, destination, close: () => server.close() };
}
