/**
 * The link's part of the fault plan (src/config/faults.ts), applied by wrapping the object each
 * fault breaks, so a session and its transports test no fault switch: the transport a session
 * sends on (releaseWhenQueued), the xbzrle cache its encoder keeps (keepStaleCache), a ws
 * transport's close (rawClose). ignoreBackpressure is an unbounded send buffer, set where the
 * ws transport is made; a multifd channel is wrapped by the plan's own `channel`.
 */
import type { LinkFaults } from '../config/faults';
import type { XbzrleCache } from '../wire/xbzrle';
import type { Transport } from './types';
import type { WsTransport } from './ws-transport';

/**
 * Each frame reported written as soon as it is queued, and never waited for: the sender reuses
 * its buffer while the socket still holds it.
 */
function releasingWhenQueued(transport: Transport): Transport {
  return {
    send(frame, onWritten) {
      transport.send(frame).catch(() => undefined);
      onWritten?.();
      return Promise.resolve();
    },
    setHandlers: (handlers) => transport.setHandlers(handlers),
    close: (code, reason) => transport.close(code, reason),
    get bufferedAmount() {
      return transport.bufferedAmount;
    },
    get deliversSealedFrames() {
      return transport.deliversSealedFrames;
    },
  };
}

/** The transport a session sends on, as the plan breaks it. */
export function sessionTransport(transport: Transport, faults: LinkFaults | undefined): Transport {
  return faults?.releaseWhenQueued ? releasingWhenQueued(transport) : transport;
}

/** The encoder's xbzrle cache, as the plan breaks it: a page sent as zero keeps its cached copy. */
export function encoderCache(
  cache: XbzrleCache | undefined,
  faults: LinkFaults | undefined,
): XbzrleCache | undefined {
  if (!cache || !faults?.keepStaleCache) return cache;
  return new Proxy(cache, {
    get(target, key) {
      if (key === 'invalidate') return () => undefined;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The ws transport's close, as the plan breaks it: any code and reason handed to ws unchecked. */
export function wsTransport(transport: WsTransport, faults: LinkFaults | undefined): WsTransport {
  if (faults?.rawClose) transport.close = (code, reason) => transport.ws.close(code, reason.slice(0, 120));
  return transport;
}
