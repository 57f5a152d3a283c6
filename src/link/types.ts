/** The link's contract: the types the engine, the sessions and the destination share (see index.ts). */
import type { LinkFaults } from '../config/faults';
import type { Transport } from './transport';
import type { PageReader } from '../wire/pages';
import type { ImageKind, MigrationOutcome } from '../wire/frames';
import type { Clock } from '../util/clock';
import type { WireError } from '../wire/errors';
import type { LinkConfig } from '../wire/config';
import type { DestinationVerdict } from '../wire/verdict';

import type { BatchStats } from '../wire/batch';

/** A page encoding the source may use. `raw` alone sends every page whole (the analytic model). */
export type EncodingName = 'zero' | 'raw' | 'lz4' | 'xbzrle';

/**
 * A message-oriented, ordered, reliable duplex: one frame per message. Both the in-process
 * link and the WebSocket link implement it; the session and the destination see only this.
 */
export type { Transport, TransportHandlers } from './transport';

/**
 * What an in-process source attaches to: the destination's side of `precopy dest`. Defined here,
 * implemented by src/dest's Destination, so the link never imports the destination.
 */
export interface Acceptor {
  /** Serve `transport` as a migration's main link, or refuse it (BUSY). Returns whether it was accepted. */
  attach(transport: Transport): boolean;
  /** multifd: channel `index` of the migration being served. Returns whether it was accepted. */
  attachChannel(transport: Transport, index: number): boolean;
  /** A recovery-query connection (QUERY → OUTCOME), answered busy or not. */
  attachQuery(transport: Transport): void;
  /** Postcopy's migrate-recover: a fresh connection for the paused migration (RECOVER first). */
  attachRecovery(transport: Transport): void;
}

/** The link as postcopy takes it over from the session (src/migration/postcopy.ts). */
export interface PostcopyLink {
  transport: Transport;
  migrationId: string;
  token: string;
  /** A fresh connection for migrate-recover (ws: path `/recover`). */
  reopen: () => Promise<Transport>;
}

/** The recovery query's result (recovery.ts). */
export interface Recovery {
  outcome: MigrationOutcome | 'unreachable';
  /** Queries tried (connections opened or attempted). */
  attempts: number;
  /** The last attempt's failure, when there was no answer. */
  error?: string;
}

export interface ConnectOptions {
  transport: 'inproc' | 'ws';
  /** ws only: `ws://127.0.0.1:PORT` as printed by `precopy dest`. */
  url?: string;
  /** Shared secret; the destination compares it in constant time. */
  token: string;
  /** inproc only: the destination to attach to. */
  destination?: Acceptor;
  /** Default ['zero', 'lz4']. 'raw' is always the fallback and may be listed alone. */
  encodings?: EncodingName[];
  /** XBZRLE cache in bytes, a power of two ≥ 4 KiB (QEMU's xbzrle-cache-size). Default 64 MiB. */
  xbzrleCacheSize?: number;
  /** Pages per PAGES frame, 1..240. Default 64 (~256 KiB frames, the size loopback likes). */
  maxBatchPages?: number;
  /** ws: bytes allowed in the socket's send buffer before `send` waits for drain. Default 4 MiB. */
  maxBufferedBytes?: number;
  /** Wall-time cap in bytes/s (QEMU max-bandwidth), 0 or absent = none. See setMaxBandwidth. */
  maxBandwidth?: number;
  /** Time for keepalive, the token bucket and the measured rate. Default wallClock(). */
  clock?: Clock;
  /** ws: ping every keepaliveMs; no pong within another keepaliveMs → PRECOPY_ERR_TIMEOUT. Default 5000; 0 = off. */
  keepaliveMs?: number;
  /** ws: zero masking key on client frames (see the file comment). Default true. */
  zeroMask?: boolean;
  /** ws: over maxBufferedBytes with no write completing this long → PRECOPY_ERR_TIMEOUT, close 4004. Default 10000; 0 = off. */
  stallMs?: number;
  /** How long HELLO and each reply may take (session.ts DEFAULT_DEADLINES: 10 s, 30 s). */
  /**
   * How long HELLO and each reply may take, and the recovery query after a link lost with GO in
   * flight (session.ts DEFAULT_DEADLINES: 10 s, 30 s, 30 s with a 250 ms first backoff).
   */
  deadlines?: { helloMs?: number; replyMs?: number; recoveryMs?: number; retryMs?: number };
  /** The scheduler the deadlines run on. Default wallClock(): a virtual run's clock stands still while it waits. */
  deadlineClock?: Clock;
  /** multifd: pages travel on this many channels, each its own connection (ws) or queue (inproc). 0 = none. */
  channels?: number;
  /** multifd, zero-page-detection legacy: zero pages are found by the migration thread and go on the main link. */
  zeroOnMain?: boolean;
  /** The link's part of the fault plan, for negative tests (src/link/faults.ts applies it). */
  faults?: LinkFaults;
}

/** The guest as the destination must rebuild it. */
export interface GuestLayout {
  pages: number;
  pageSize: 4096;
  /** The incrementer's pages, checked with QEMU's edge rule at completion (research §6). */
  edgeRegion?: { firstPage: number; pages: number };
  /** What the destination keeps: the pages' bytes (default), or their digests only (a generated guest's). */
  image?: ImageKind;
}

/** What one sendPages call put on the link (the wire encoder's counters). */
export interface SendStats extends BatchStats {
  /** multifd: each channel's part of it (index = channel); the rest went on the main link. */
  channels?: BatchStats[];
}

/** The destination's acknowledgement of a round: its count and running hash matched the source's. */
export interface RoundAck {
  round: number;
  /** Page records the destination applied in this round. */
  pages: number;
  /** crc32 chained over the checksum of every PAGES frame applied so far in the migration. */
  runningHash: number;
}

export interface SourceSession {
  /** The encodings in force, after defaults. */
  readonly encodings: readonly EncodingName[];
  /** The first failure, once there is one. */
  readonly failure: WireError | undefined;
  /**
   * Send HELLO, wait for the destination to accept the layout, then send CONFIG (the run's clock,
   * latency, the guest to resume and its post-run; default BARE_CONFIG: no guest).
   */
  hello(layout: GuestLayout, config?: LinkConfig): Promise<void>;
  /** Rounds are numbered 0, 1, 2, ... without gaps; `final` marks stop-and-copy (vCPUs paused). */
  startRound(round: number, options?: { final?: boolean }): Promise<void>;
  /**
   * Encode and send `gfns[0..count)`. Each page is read when its batch is encoded, during this
   * call: the engine must have cleared and re-protected the pages before calling. Resolves when
   * the last frame is accepted by the transport (not when it is acknowledged).
   */
  sendPages(gfns: ArrayLike<number>, count: number, memory: PageReader): Promise<SendStats>;
  /** Send ROUND_END (count + running hash) and wait for the destination's matching ROUND_ACK. */
  endRound(round: number): Promise<RoundAck>;
  /** The device state captured at switchover, sent after the final round. */
  sendVcpuState(blob: Uint8Array): Promise<void>;
  /**
   * PREPARE → READY: the destination has every round and the vCPU state and can resume. Rejects
   * (an ERROR from the destination, a lost link) leave the source free to roll back.
   */
  prepare(): Promise<{ readyAt: number }>;
  /**
   * GO → RESUMED: the commit point. Once GO is sent the migration can only complete: cancel()
   * does nothing, and a rejection here means the outcome is unknown (the destination may run
   * the guest), so the source must not resume its own until `recover()` has said.
   */
  go(): Promise<{ resumedAt: number }>;
  /**
   * After go() failed: ask the destination on a fresh connection how the migration ended
   * (recovery.ts). Absent: the link cannot be reopened (the source stays paused, `unknown`).
   */
  recover?(): Promise<Recovery>;
  /**
   * migrate-start-postcopy, between rounds: the link leaves the session for the postcopy
   * protocol, which sends BITMAP(discard) on it (the destination's switch). The session is
   * committed from here (cancel() sends nothing). Absent: this link cannot do postcopy.
   */
  handOffPostcopy?(): PostcopyLink;
  /** After RESUMED: send the paused source image's hash, wait for the verdict (image, post-run). */
  verify(sourceHash: string): Promise<DestinationVerdict>;
  /** Before GO: tell the destination to discard everything, then close. After GO: nothing. */
  cancel(reason: string): Promise<void>;
  /** GO has been sent (the commit point is behind us). */
  readonly committed: boolean;
  /** Close the link (normal closure). Idempotent. */
  close(): Promise<void>;
  /** Called once with the first failure. Returns an unsubscribe function. */
  onError(listener: (error: WireError) => void): () => void;
  /** Change the wall-time cap (bytes/s, 0 = none): QEMU lifts max-bandwidth for stop-and-copy. */
  setMaxBandwidth(bytesPerSecond: number): void;
  /** Bytes/s written to the link (to the socket, or delivered in-process) over the last complete 100 ms window of the session's clock. */
  measuredRate(): number;
}
