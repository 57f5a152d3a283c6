/**
 * multifd at the destination: one receiver per channel, as QEMU's multifd_recv_thread. Each
 * applies its channel's PAGES into the image as they arrive, in the channel's own order; at a
 * SYNC of round N it checks the channel's count and running hash for the round, records them,
 * and waits. Nothing more from that channel is applied until the main link has reached the end
 * of round N and every channel has synced N (QEMU's multifd_recv_sync_main releases them).
 *
 * That barrier is what keeps the image right: without it a fast channel applies a page of round
 * N+1 and a slow one then overwrites it with the older copy of round N it still had in flight
 * (`faultNoBarrier`, for the negative test).
 */
import type { Transport } from '../link/types';
import { chainFrame } from '../wire/batch';
import { CloseCode } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import { decodeFrame, type DecodeOptions, type Frame } from '../wire/frames';

export type PagesFrame = Extract<Frame, { type: 'PAGES' }>;

export interface ChannelSetOptions {
  decode: DecodeOptions;
  /** Apply one PAGES frame to the image (throws a WireError for a bad entry). */
  apply(frame: PagesFrame): void;
  /** A channel's frame was bad, or it closed abnormally. */
  fault(error: WireError): void;
  /** Some channel synced a round (the main link may be waiting for it). */
  synced(): void;
  /** Fault switch for negative tests: channels never wait at a SYNC. */
  faultNoBarrier?: boolean;
}

interface Channel {
  transport: Transport | undefined;
  queue: Frame[];
  /** Synced this round and waiting for the release. */
  waitingAt: number | undefined;
  runningHash: number;
  roundPages: number;
  /** Per round: pages and running hash at its SYNC. */
  syncs: Map<number, { pages: number; hash: number }>;
}

export class ChannelSet {
  private readonly channels: Channel[];
  private closed = false;

  constructor(
    count: number,
    private readonly options: ChannelSetOptions,
  ) {
    this.channels = Array.from({ length: count }, () => ({
      transport: undefined,
      queue: [],
      waitingAt: undefined,
      runningHash: 0,
      roundPages: 0,
      syncs: new Map(),
    }));
  }

  get count(): number {
    return this.channels.length;
  }

  /** A channel's connection arrived. Throws a WireError for an index out of range or taken. */
  attach(index: number, transport: Transport): void {
    const channel = this.channels[index];
    if (!channel || channel.transport)
      throw new WireError(
        'PRECOPY_ERR_BAD_FIELD',
        `multifd channel ${index} is ${channel ? 'already connected' : `not in [0, ${this.channels.length})`}`,
      );
    channel.transport = transport;
    transport.setHandlers({
      message: (bytes) => this.onMessage(channel, index, bytes),
      close: (error) => {
        if (error && !this.closed) this.options.fault(error);
      },
    });
  }

  /** Every channel synced `round`: its pages in the round (all channels) and the hashes in channel order. */
  syncedAll(round: number): { pages: number; hashes: number[] } | undefined {
    let pages = 0;
    const hashes: number[] = [];
    for (const c of this.channels) {
      const sync = c.syncs.get(round);
      if (!sync) return undefined;
      pages += sync.pages;
      hashes.push(sync.hash);
    }
    return { pages, hashes };
  }

  /** The main link passed round `round`'s end: the channels go on with their next round. */
  release(round: number): void {
    for (const c of this.channels) c.syncs.delete(round);
    this.channels.forEach((c, i) => {
      if (c.waitingAt !== round) return;
      c.waitingAt = undefined;
      this.drain(c, i);
    });
  }

  close(code: number, reason: string): void {
    this.closed = true;
    for (const c of this.channels) c.transport?.close(code, reason);
  }

  private onMessage(channel: Channel, index: number, bytes: Uint8Array): void {
    if (this.closed) return;
    try {
      // A frame that has to wait is copied: an in-process sender reuses its buffer once delivered.
      const held = channel.waitingAt !== undefined;
      channel.queue.push(decodeFrame(held ? Buffer.from(bytes) : bytes, this.options.decode));
    } catch (e) {
      return this.options.fault(asWireError(e));
    }
    this.drain(channel, index);
  }

  private drain(channel: Channel, index: number): void {
    while (!this.closed && channel.waitingAt === undefined && channel.queue.length > 0) {
      const frame = channel.queue.shift()!;
      try {
        this.handle(channel, index, frame);
      } catch (e) {
        return this.options.fault(asWireError(e));
      }
    }
  }

  private handle(channel: Channel, index: number, frame: Frame): void {
    if (frame.type === 'PAGES') {
      this.options.apply(frame);
      channel.runningHash = chainFrame(channel.runningHash, frame.checksum);
      channel.roundPages += frame.count;
      return;
    }
    if (frame.type !== 'SYNC')
      throw new WireError(
        'PRECOPY_ERR_UNEXPECTED_FRAME',
        `${frame.type} on multifd channel ${index} (only PAGES and SYNC travel there)`,
      );
    if (frame.pages !== channel.roundPages || frame.runningHash !== channel.runningHash)
      throw new WireError(
        'PRECOPY_ERR_ROUND_MISMATCH',
        `channel ${index} SYNC round ${frame.round} pages ${frame.pages} hash ${frame.runningHash}; destination has pages ${channel.roundPages} hash ${channel.runningHash}`,
        CloseCode.INVALID_DATA,
      );
    channel.syncs.set(frame.round, { pages: channel.roundPages, hash: channel.runningHash });
    channel.roundPages = 0;
    if (!this.options.faultNoBarrier) channel.waitingAt = frame.round;
    this.options.synced();
  }
}
