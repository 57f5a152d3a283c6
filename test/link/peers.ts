/** Shared by the ws and deadline tests: a destination that stops reading, and the session they push at it. */
import { Session, type SessionOptions } from '../../src/link/session';
import { listenWs, type WsServer } from '../../src/link/ws-server';
import type { Transport } from '../../src/link/index';
import { wallClock } from '../../src/util/clock';
import { encodeHello, encodeHelloAck } from '../../src/wire/frames';
import { TOKEN } from './helpers';

/** A server that answers the first frame (HELLO) with HELLO_ACK, then never reads its socket again. */
export function nonReadingDestination(): Promise<WsServer> {
  return listenWs({ token: TOKEN, keepaliveMs: 0 }, (t) => {
    let answered = false;
    t.setHandlers({
      message: () => {
        if (answered) return;
        answered = true;
        t.send(encodeHelloAck(1 << 20)).catch(() => undefined);
        (t.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      },
      close: () => undefined,
    });
  });
}

/** Raw pages, 16 a frame, no bandwidth cap: each frame ~64 KiB, to fill a send bound fast. */
export function rawSession(transport: Transport, options: Partial<SessionOptions> = {}): Session {
  return new Session(transport, {
    token: TOKEN,
    encodings: ['raw'],
    xbzrleCacheSize: 4096,
    maxBatchPages: 16,
    maxBandwidth: 0,
    clock: wallClock(),
    ...options,
  });
}

/** A HELLO for a `pages`-page guest with the test token, as a raw peer sends it. */
export const rawHello = (pages: number) =>
  encodeHello({ pages, pageSize: 4096, edgeFirstPage: 0, edgePages: 0, encodings: 0b111, token: TOKEN });
