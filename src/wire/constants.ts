/**
 * precopy's wire format, version 6. Every frame is one WebSocket message (or one in-process
 * message): a 16-byte header, like Cloud Hypervisor's request header, then a body.
 *
 *   u32 magic 'PCPY' | u8 version | u8 type | u16 flags (0) | u32 body length | u32 xxh64(body) low 32 bits
 *
 * All integers little-endian. The XXH64 (seed 0, see checksum.ts) is the per-batch checksum the
 * issue asks for; it covers every frame so a flipped bit anywhere is caught before the body is
 * parsed. Version 1 used CRC-32 there, version 2 XXH32. Version 3 added the switchover handshake
 * (PREPARE / READY / GO / RESUMED, then VERIFY / VERDICT after the resume), CONFIG, and the
 * source's timestamps (`f64 at`, ms of the run's clock) on the control frames. See README.md
 * here. Version 4 added HELLO.image (the destination keeps the pages' bytes, or only their
 * digests) and moved the checksum to XXH64. Version 5 added multifd: HELLO.channels, and SYNC,
 * the per-round sync packet each channel sends at the end of its share of a round. Version 6
 * added the recovery query: HELLO.migrationId, and QUERY / OUTCOME on a fresh connection after
 * the link died between GO and RESUMED. Version 7 added postcopy (README.md here: postcopy):
 * BITMAP (the discard set, the received and the written pages), REQ_PAGES on the return path,
 * CLOCK (the virtual-time lockstep) and RECOVER (migrate-recover's fresh connection).
 */

export const MAGIC = 0x59504350; // 'PCPY' read as a little-endian u32
export const VERSION = 7;
export const HEADER_SIZE = 16;
/** Pages travel whole: the wire's page is the guest's. */
export { PAGE_SIZE } from '../util/units';

/** Frame types. Source → destination unless marked. */
export const FrameType = {
  HELLO: 1,
  /** destination → source */
  HELLO_ACK: 2,
  ROUND_START: 3,
  PAGES: 4,
  ROUND_END: 5,
  /** destination → source */
  ROUND_ACK: 6,
  VCPU_STATE: 7,
  /** After RESUMED: the sha256 of the source's paused image, to verify against. */
  VERIFY: 8,
  /** destination → source: verification and post-run, after the guest resumed there. */
  VERDICT: 9,
  CANCEL: 10,
  /** either direction */
  ERROR: 11,
  /** Right after HELLO_ACK: the run's clock, the link latency, the guest to resume, post-run. */
  CONFIG: 12,
  /** All rounds acked and the vCPU state sent: load it and get ready to resume. */
  PREPARE: 13,
  /** destination → source: the guest is loaded and can resume. */
  READY: 14,
  /** The commit point: resume the guest. The source never resumes its own after sending it. */
  GO: 15,
  /** destination → source: the guest runs on the destination now. */
  RESUMED: 16,
  /**
   * multifd, on a channel: the channel's last page of round N has gone before this frame. The
   * destination applies nothing more from this channel until every channel's SYNC of N arrived.
   */
  SYNC: 17,
  /**
   * On a fresh connection, after the link died between GO and RESUMED: how did migration `id`
   * end? A migration still waiting for GO is committed to discarded by the question.
   */
  QUERY: 18,
  /** destination → source: the answer to QUERY (resumed, discarded, or unknown: not in its table). */
  OUTCOME: 19,
  /**
   * Postcopy, a page bitmap: the discard set (src → dst: these pages are stale there; the guest
   * runs from here), or the received set (dst → src: after RECOVER, and all set at the end).
   */
  BITMAP: 20,
  /** Postcopy, dst → src on the return path: pages a vCPU faulted on (QEMU's MIG_RP_MSG_REQ_PAGES). */
  REQ_PAGES: 21,
  /**
   * Postcopy in virtual time, either direction: the sender's clock reached `at` (what follows was
   * sent at `at` or later), and its tally of the postcopy frames it sent on this link so far.
   * Each side runs one epoch past the other's last CLOCK.
   */
  CLOCK: 22,
  /** Postcopy, src → dst on a fresh connection after the link was lost: migrate-recover. */
  RECOVER: 23,
} as const;
export type FrameTypeId = (typeof FrameType)[keyof typeof FrameType];
export const MAX_FRAME_TYPE = 23;
/** The most multifd channels a HELLO may announce (QEMU's multifd-channels range is 1..255). */
export const MAX_CHANNELS = 255;

/** Pages one REQ_PAGES may ask for. */
export const MAX_REQUEST_PAGES = 1024;

/** Page encodings inside a PAGES frame. */
export const Encoding = {
  /** No payload: the page is all zeros (QEMU's "duplicate" page). */
  ZERO: 0,
  /** 4096 bytes as they are. */
  RAW: 1,
  /** An lz4 block that decodes to exactly 4096 bytes. */
  LZ4: 2,
  /** XBZRLE runs against the destination's current copy (research §4). */
  XBZRLE: 3,
} as const;
export type EncodingId = (typeof Encoding)[keyof typeof Encoding];

/** Per page in a PAGES frame: u32 gfn | u8 encoding | u16 payload length. */
export const PAGE_ENTRY_HEADER = 7;
/** PAGES body before the entries: u32 round | u32 page count. */
export const PAGES_BODY_HEADER = 8;

/**
 * WebSocket close codes (RFC 6455 §7.4.1) the link uses, and precopy's own in 4000–4999.
 * A peer reads the reason from the ERROR frame sent just before the close.
 */
export const CloseCode = {
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  /** The frame parsed but its data is inconsistent (checksum, decompression, hash). */
  INVALID_DATA: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  /** Another migration holds the destination. */
  TRY_AGAIN_LATER: 1013,
  /** The source cancelled the migration. */
  CANCELLED: 4000,
  /** No pong within the keepalive timeout. */
  TIMEOUT: 4001,
  /** The peer reported an error whose close code cannot go on the wire (1005, 2500, ...) or was 1000. */
  PEER_ERROR: 4002,
  /** A protocol deadline passed: no HELLO, no reply, a silent peer (the message names which). */
  DEADLINE: 4003,
  /** The peer stopped reading: unsent bytes stayed over the bound for the stall deadline. */
  STALLED: 4004,
} as const;

/** Limits a receiver enforces; the defaults fit a 64-page batch with room to spare. */
export const DEFAULT_MAX_PAYLOAD = 1 << 20;
export const MAX_BATCH_PAGES = 240;
export const DEFAULT_BATCH_PAGES = 64;
export const MAX_VCPU_STATE = 1 << 19;
export const MAX_TEXT = 1024;
/** CONFIG's JSON body: fits the smallest max payload a destination may set (64 KiB). */
export const MAX_CONFIG = 60 * 1024;
