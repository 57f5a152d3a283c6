/**
 * The in-process link: two endpoints joined back to back. Frames are handed over on the
 * microtask queue, in order, without copying; no timers, so it runs the same under a virtual
 * clock. Transfer time is the engine's business (bandwidth.ts), not this link's.
 */
import { CloseCode } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import type { Transport, TransportHandlers } from './types';

export class InprocEndpoint implements Transport {
  peer!: InprocEndpoint;
  private handlers: TransportHandlers | undefined;
  /** Frames that arrived before setHandlers. */
  private readonly inbox: Array<{ frame: Uint8Array; onWritten?: () => void }> = [];
  private pendingClose: { error: WireError | undefined } | undefined;
  private closed = false;
  readonly bufferedAmount = 0;
  readonly deliversSealedFrames = true;

  send(frame: Uint8Array, onWritten?: () => void): Promise<void> {
    if (this.closed)
      return Promise.reject(new WireError('PRECOPY_ERR_LINK_LOST', 'in-process link is closed', 1006));
    const peer = this.peer;
    queueMicrotask(() => peer.deliver(frame, onWritten));
    return Promise.resolve();
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    for (const { frame, onWritten } of this.inbox.splice(0)) {
      this.handle(frame);
      onWritten?.();
    }
    if (this.pendingClose) handlers.close(this.pendingClose.error);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.peer.closed = true;
    const peer = this.peer;
    // After the frames already queued, like a close frame behind data on a socket.
    queueMicrotask(() => {
      peer.closeOnce(
        code === CloseCode.NORMAL
          ? undefined
          : new WireError(
              'PRECOPY_ERR_LINK_LOST',
              `peer closed the link (${code}${reason ? `: ${reason}` : ''})`,
              code,
            ),
      );
      this.closeOnce(undefined);
    });
  }

  /** Fault switch for tests: the connection vanishes under both ends (close code 1006). */
  drop(): void {
    if (this.closed) return;
    this.closed = true;
    this.peer.closed = true;
    const lost = () => new WireError('PRECOPY_ERR_LINK_LOST', 'in-process link dropped', 1006);
    this.closeOnce(lost());
    this.peer.closeOnce(lost());
  }

  /** Receivers handle a frame synchronously, so it is free again once its handler returns. */
  private deliver(frame: Uint8Array, onWritten: (() => void) | undefined): void {
    if (this.handlers && !this.pendingClose) this.handle(frame);
    else if (!this.pendingClose) return void this.inbox.push({ frame, onWritten });
    onWritten?.();
  }

  /** A handler that throws fails the link (1011 on both ends), never the process. */
  private handle(frame: Uint8Array): void {
    try {
      this.handlers!.message(frame);
    } catch (e) {
      if (this.closed) return;
      const error = new WireError(
        asWireError(e).code,
        `a frame handler threw: ${asWireError(e).message}`,
        CloseCode.INTERNAL,
      );
      this.closed = true;
      this.peer.closed = true;
      const peer = this.peer;
      queueMicrotask(() => {
        peer.closeOnce(
          new WireError('PRECOPY_ERR_LINK_LOST', `peer failed: ${error.message}`, CloseCode.INTERNAL),
        );
        this.closeOnce(error);
      });
    }
  }

  private closeOnce(error: WireError | undefined): void {
    if (this.pendingClose) return;
    this.pendingClose = { error };
    try {
      this.handlers?.close(error);
    } catch {
      // Closed already: a handler's own bug must not take the process with it.
    }
  }
}

/** Two joined endpoints: [source side, destination side]. */
export function inprocPair(): [InprocEndpoint, InprocEndpoint] {
  const a = new InprocEndpoint();
  const b = new InprocEndpoint();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
