/**
 * A Transport over one `ws` WebSocket (either end). Three jobs beyond passing frames:
 * - backpressure: bytes handed to ws whose write callback has not fired are counted; `send`
 *   resolves only while they stay under `maxBufferedBytes`, so a slow or stalled peer stops the
 *   sender instead of growing its buffer without bound;
 *   and a peer that stops reading (no write completes for `stallMs` while over the bound) is
 *   cut with close code 4004 (STALLED) instead of holding the sender forever;
 * - keepalive: a ping every `keepaliveMs`; no pong (or frame) by the next tick → PRECOPY_ERR_TIMEOUT;
 * - errors: ws's own receiver errors (oversized message, bad WebSocket framing) and close codes
 *   become WireErrors, reported once through `close`;
 * - closing always closes: the code and reason are made sendable first (ws throws on others),
 *   and a peer that does not finish the close handshake is terminated after `closeTimeoutMs`;
 * - a handler that throws fails the link (close 1011 with the error), never the process.
 */
import type { Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import type { Clock } from '../util/clock';
import { closeReason, sendableCloseCode } from '../wire/close';
import { CloseCode } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import { encodeError } from '../wire/frames';
import type { Transport, TransportHandlers } from './types';

export interface WsTransportOptions {
  clock: Clock;
  /** Default 4 MiB. */
  maxBufferedBytes?: number;
  /** 0 = no keepalive. Default 5000. */
  keepaliveMs?: number;
  /** A close handshake the peer does not finish is cut after this long. Default 2000. */
  closeTimeoutMs?: number;
  /** Over the buffered bound with no write completing for this long: the peer stopped reading. Default 10000; 0 = off. */
  stallMs?: number;
}

export const DEFAULT_MAX_BUFFERED = 4 << 20;
export const DEFAULT_KEEPALIVE_MS = 5000;
export const DEFAULT_STALL_MS = 10_000;

interface Waiter {
  resolve(): void;
  reject(e: WireError): void;
}

/** A WireError for a close the peer (or the network) caused. */
export function closeError(code: number, reason: string): WireError | undefined {
  if (code === CloseCode.NORMAL) return undefined;
  const why = reason ? `: ${reason}` : '';
  switch (code) {
    case CloseCode.TOO_BIG:
      return new WireError('PRECOPY_ERR_TOO_LARGE', `peer closed: message too big (1009${why})`, code);
    case CloseCode.TRY_AGAIN_LATER:
      return new WireError('PRECOPY_ERR_BUSY', `peer closed: busy with another migration (1013${why})`, code);
    case CloseCode.CANCELLED:
      return new WireError('PRECOPY_ERR_CANCELLED', `peer closed: migration cancelled (4000${why})`, code);
    case CloseCode.TIMEOUT:
      return new WireError('PRECOPY_ERR_TIMEOUT', `peer closed: keepalive timeout (4001${why})`, code);
    case CloseCode.PEER_ERROR:
      return new WireError('PRECOPY_ERR_PEER', `peer closed: error (4002${why})`, code);
    case CloseCode.DEADLINE:
      return new WireError('PRECOPY_ERR_TIMEOUT', `peer closed: a deadline passed (4003${why})`, code);
    case CloseCode.STALLED:
      return new WireError(
        'PRECOPY_ERR_TIMEOUT',
        `peer closed: this side stopped reading (4004${why})`,
        code,
      );
    default:
      return new WireError('PRECOPY_ERR_LINK_LOST', `link closed with code ${code}${why}`, code);
  }
}

/** A handler's exception, as the error the link fails with. */
function internalError(e: unknown): WireError {
  const error = asWireError(e);
  return new WireError(error.code, `a frame handler threw: ${error.message}`, CloseCode.INTERNAL);
}

export class WsTransport implements Transport {
  private handlers: TransportHandlers | undefined;
  private readonly inbox: Uint8Array[] = [];
  private readonly maxBuffered: number;
  private readonly closeTimeoutMs: number;
  private inflight = 0;
  /** When a write last completed, and since when the bytes in flight are over the bound. */
  private lastWriteAt = -Infinity;
  private overBoundSince = 0;
  private stallTimer: Subscription | undefined;
  private waiters: Waiter[] = [];
  /** The error this side detected (reported instead of the bare close code). */
  private localError: WireError | undefined;
  private closedLocally = false;
  private closedWith: { error: WireError | undefined } | undefined;
  private alive = true;
  private keepaliveTimer: Subscription | undefined;
  private closeTimer: Subscription | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly options: WsTransportOptions,
  ) {
    this.maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('error', (e: Error & { code?: string }) => this.onWsError(e));
    ws.on('close', (code: number, reason: Buffer) => this.onClose(code, reason.toString()));
    const keepalive = options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    if (keepalive > 0) this.startKeepalive(keepalive);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Bytes handed to ws whose write has not completed. */
  get inflightBytes(): number {
    return this.inflight;
  }

  send(frame: Uint8Array, onWritten?: () => void): Promise<void> {
    if (this.closedWith || this.closedLocally || this.ws.readyState !== this.ws.OPEN)
      return Promise.reject(
        this.localError ?? new WireError('PRECOPY_ERR_LINK_LOST', 'WebSocket is not open', 1006),
      );
    const size = frame.length;
    this.inflight += size;
    this.ws.send(frame, { binary: true }, () => {
      this.inflight -= size;
      this.lastWriteAt = this.options.clock.now();
      onWritten?.();
      this.wake();
    });
    if (this.inflight <= this.maxBuffered) return Promise.resolve();
    this.watchForStall();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    for (const frame of this.inbox.splice(0)) handlers.message(frame);
    if (this.closedWith) handlers.close(this.closedWith.error);
  }

  close(code: number, reason: string): void {
    if (this.closedLocally || this.closedWith) return;
    this.closedLocally = true;
    const sendable = sendableCloseCode(code);
    if (sendable !== CloseCode.NORMAL && !this.localError) this.localError = closeError(sendable, reason);
    // ws waits 30 s for the peer's close frame; a stalled peer should not hold us that long.
    this.closeTimer = this.options.clock.schedule(() => this.ws.terminate(), this.closeTimeoutMs);
    if (this.ws.readyState === this.ws.CONNECTING) this.ws.terminate();
    else this.ws.close(sendable, closeReason(reason));
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    if (this.closedLocally || this.closedWith) return;
    if (!isBinary) {
      this.failLocally(
        new WireError(
          'PRECOPY_ERR_NOT_BINARY',
          'text message on a binary protocol',
          CloseCode.PROTOCOL_ERROR,
        ),
      );
      return;
    }
    if (!this.handlers) return void this.inbox.push(data);
    try {
      this.handlers.message(data);
    } catch (e) {
      this.failLocally(internalError(e));
    }
  }

  private onWsError(e: Error & { code?: string }): void {
    // ws closes the socket itself after a receiver error; remember why for the close report.
    if (this.localError) return;
    this.localError =
      e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? new WireError(
            'PRECOPY_ERR_TOO_LARGE',
            `message larger than maxPayload (${e.message})`,
            CloseCode.TOO_BIG,
          )
        : e.code?.startsWith('WS_ERR_')
          ? new WireError(
              'PRECOPY_ERR_BAD_FIELD',
              `bad WebSocket frame: ${e.message} (${e.code})`,
              CloseCode.PROTOCOL_ERROR,
            )
          : new WireError('PRECOPY_ERR_LINK_LOST', `socket error: ${e.message}`, 1006);
  }

  private onClose(code: number, reason: string): void {
    this.keepaliveTimer?.unsubscribe();
    this.closeTimer?.unsubscribe();
    this.stallTimer?.unsubscribe();
    const error = this.localError ?? (this.closedLocally ? undefined : closeError(code, reason));
    this.closedWith = { error };
    const lost = error ?? new WireError('PRECOPY_ERR_LINK_LOST', `link closed (${code})`, code);
    for (const w of this.waiters.splice(0)) w.reject(lost);
    try {
      this.handlers?.close(error);
    } catch {
      // The link is already gone; a handler's own bug must not take the process with it.
    }
  }

  /** A problem this transport found itself: tell the peer in an ERROR frame, then close. */
  private failLocally(error: WireError): void {
    if (this.closedLocally || this.closedWith) return;
    this.localError = error;
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeError(error), () => undefined);
    this.close(error.closeCode, error.message);
  }

  /**
   * Over the bound: unless a write completes within `stallMs` (progress, not an empty buffer:
   * a slow reader is not a stalled one), the peer has stopped reading; close with STALLED and
   * let the waiters go.
   */
  private watchForStall(): void {
    const stallMs = this.options.stallMs ?? DEFAULT_STALL_MS;
    if (stallMs <= 0 || this.stallTimer) return;
    this.overBoundSince = this.options.clock.now();
    this.checkStall(stallMs, stallMs);
  }

  private checkStall(stallMs: number, wait: number): void {
    this.stallTimer = this.options.clock.schedule(() => {
      this.stallTimer = undefined;
      if (this.closedWith || this.closedLocally || this.inflight <= this.maxBuffered) return;
      const quiet = this.options.clock.now() - Math.max(this.lastWriteAt, this.overBoundSince);
      if (quiet < stallMs) return this.checkStall(stallMs, stallMs - quiet);
      const error = new WireError(
        'PRECOPY_ERR_TIMEOUT',
        `the peer stopped reading: ${this.inflight} bytes unsent (bound ${this.maxBuffered}) and no write completed for ${stallMs} ms (the stall deadline)`,
        CloseCode.STALLED,
      );
      this.localError = error;
      for (const w of this.waiters.splice(0)) w.reject(error);
      this.close(error.closeCode, error.message);
    }, wait);
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.inflight <= this.maxBuffered) this.waiters.shift()!.resolve();
  }

  private startKeepalive(intervalMs: number): void {
    const tick = () => {
      if (this.closedWith) return;
      if (!this.alive) {
        this.localError = new WireError(
          'PRECOPY_ERR_TIMEOUT',
          `no pong from the peer within ${intervalMs} ms`,
          CloseCode.TIMEOUT,
        );
        this.ws.terminate();
        return;
      }
      this.alive = false;
      this.ws.ping();
      this.keepaliveTimer = this.options.clock.schedule(tick, intervalMs);
    };
    this.keepaliveTimer = this.options.clock.schedule(tick, intervalMs);
  }
}
