/**
 * The connecting end of the WebSocket link (the source). The token travels in the upgrade
 * request's Authorization header; a refusal (401) or an unreachable host is a WireError before
 * any frame moves. Client frames use a zero masking key unless `zeroMask` is false (see
 * src/link/index.ts for why that is acceptable here and what it buys).
 */
import WebSocket from 'ws';
import type { Clock } from '../util/clock';
import { DEFAULT_MAX_PAYLOAD } from '../wire/constants';
import { WireError } from '../wire/errors';
import type { LinkFaults } from '../config/faults';
import { wsTransport } from './faults';
import { WsTransport } from './ws-transport';

export interface WsConnectOptions {
  url: string;
  token: string;
  clock: Clock;
  zeroMask?: boolean;
  keepaliveMs?: number;
  maxBufferedBytes?: number;
  /** Largest message accepted from the destination. */
  maxPayload?: number;
  handshakeTimeoutMs?: number;
  /** See WsTransportOptions.stallMs. */
  stallMs?: number;
  /** The link's part of the fault plan (ignoreBackpressure, rawClose), for negative tests. */
  faults?: LinkFaults;
}

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

export function connectWs(options: WsConnectOptions): Promise<WsTransport> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    return Promise.reject(
      new WireError('PRECOPY_ERR_USAGE', `url: not a URL: ${JSON.stringify(options.url)}`),
    );
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:')
    return Promise.reject(
      new WireError('PRECOPY_ERR_USAGE', `url must start with ws:// or wss://, got ${options.url}`),
    );
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${options.token}` },
      perMessageDeflate: false,
      maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
      handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
      generateMask: options.zeroMask === false ? undefined : zeroMask,
    });
    const onError = (e: Error) => {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      reject(new WireError('PRECOPY_ERR_LINK_LOST', `cannot connect to ${options.url}: ${e.message}`, 1006));
    };
    ws.once('error', onError);
    ws.once('unexpected-response', (_request, response) => {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      const status = response.statusCode ?? 0;
      reject(
        status === 401
          ? new WireError(
              'PRECOPY_ERR_TOKEN',
              `destination ${options.url} refused the token (HTTP 401)`,
              1008,
            )
          : new WireError(
              'PRECOPY_ERR_LINK_LOST',
              `destination ${options.url} answered HTTP ${status}`,
              1006,
            ),
      );
    });
    ws.once('open', () => {
      ws.off('error', onError);
      ws.removeAllListeners('unexpected-response');
      resolve(
        wsTransport(
          new WsTransport(ws, {
            clock: options.clock,
            keepaliveMs: options.keepaliveMs,
            // The fault: a bound that never holds a send back.
            maxBufferedBytes: options.faults?.ignoreBackpressure ? Infinity : options.maxBufferedBytes,
            stallMs: options.stallMs,
          }),
          options.faults,
        ),
      );
    });
  });
}
