/** `precopy dest`'s engine: a Destination behind a token-checked WebSocket server. */
import { listenWs, type WsServerOptions } from '../link/ws-server';
import { wallClock } from '../util/clock';
import { DEFAULT_MAX_PAYLOAD } from '../wire/constants';
import { Destination, type DestinationEvent, type DestinationOptions } from './destination';

/** The ws server's own options (host 127.0.0.1, any port, 1 MiB messages, 5 s keepalive by default), then the destination's. */
export interface DestinationServerOptions extends Pick<
  WsServerOptions,
  'host' | 'port' | 'token' | 'maxPayload' | 'clock' | 'keepaliveMs' | 'stallMs'
> {
  /** Destination events (for a dashboard or a log). */
  onEvent?: (event: DestinationEvent) => void;
  /** DestinationOptions.onProgress. */
  onProgress?: DestinationOptions['onProgress'];
  edgeChecker?: DestinationOptions['edgeChecker'];
  /** Largest guest accepted, in pages (DestinationOptions.maxGuestPages). */
  maxGuestPages?: number;
  /** DestinationOptions.deadlines. */
  deadlines?: DestinationOptions['deadlines'];
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
    onProgress: options.onProgress,
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
