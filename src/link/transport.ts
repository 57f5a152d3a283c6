/**
 * What a link carries frames over: ws, in process, or a fault's wrapper around either. Its own
 * file so the fault plan (src/config/faults.ts) can name it without importing the link's types.
 */
import type { WireError } from '../wire/errors';

export interface Transport {
  /**
   * Queue one frame. Resolves when the transport can take more (backpressure: the bytes not
   * yet handed to the OS stay under the transport's bound). Rejects with a WireError if the
   * link is gone. The caller must not change `frame` until `onWritten` runs (after which the
   * transport holds no reference to it); without `onWritten`, never.
   */
  send(frame: Uint8Array, onWritten?: () => void): Promise<void>;
  /** Install the receiving side. `close` is called exactly once, with the reason if abnormal. */
  setHandlers(handlers: TransportHandlers): void;
  /** Close with a WebSocket close code (1000 normal). Idempotent. */
  close(code: number, reason: string): void;
  /** Bytes queued but not yet written (0 for in-process). */
  readonly bufferedAmount: number;
  /**
   * True when a received frame is the very buffer the peer sealed (in-process): no transit can
   * have corrupted it, so the receiver skips recomputing its checksum (a pass over every byte).
   */
  readonly deliversSealedFrames?: boolean;
}

export interface TransportHandlers {
  message(frame: Uint8Array): void;
  close(error: WireError | undefined): void;
}
