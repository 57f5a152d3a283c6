/**
 * Encoding and decoding of whole frames. `decodeFrame` checks, in order: length ≥ header,
 * magic, version, type, flags, body length, checksum, then the body's own fields. The first check
 * that fails throws a WireError naming the field; nothing past it is read.
 * PAGES bodies are only framed here; their entries are checked by batch.ts as they are applied.
 * Control frames carry `at`: the sender's time in the run's clock (ms, a finite f64 ≥ 0).
 */
import { z } from 'zod';
import {
  CloseCode,
  FrameType,
  HEADER_SIZE,
  MAGIC,
  MAX_CHANNELS,
  MAX_CONFIG,
  MAX_FRAME_TYPE,
  MAX_REQUEST_PAGES,
  MAX_TEXT,
  MAX_VCPU_STATE,
  PAGES_BODY_HEADER,
  PAGE_SIZE,
  VERSION,
  type FrameTypeId,
} from './constants';
import { frameChecksum } from './checksum';
import { WireError, wireError, type WireErrorCode } from './errors';
import { configSchema, type LinkConfig } from './config';
import { ALL_ENCODINGS_MASK, isHex256 } from './validation';
import { verdictSchema, type DestinationVerdict } from './verdict';

/** VERDICT's JSON body at most (reasons are capped at 1 KiB each; postcopy adds its figures per vCPU and a fault timeline; it fits the smallest max payload, 64 KiB). */
const MAX_VERDICT = 60 * 1024;

/** HELLO.image: the destination keeps the pages' bytes, or only their digests (util/digest.ts). */
export type ImageKind = 'bytes' | 'digests';
const IMAGE_KINDS: readonly ImageKind[] = ['bytes', 'digests'];

/** OUTCOME's answer: how a migration ended at the destination, as far as it knows. */
export type MigrationOutcome = 'unknown' | 'resumed' | 'discarded';
const OUTCOMES: readonly MigrationOutcome[] = ['unknown', 'resumed', 'discarded'];

/** BITMAP's meaning (README.md: postcopy). */
export type BitmapKind = 'discard' | 'received';
const BITMAP_KINDS: readonly BitmapKind[] = ['discard', 'received'];
/** BITMAP's body before the bits: u8 kind | f64 at. */
const BITMAP_HEADER = 9;

/** A migration id: 8 bytes, as 16 lowercase hex digits; all zeros = none (no recovery query). */
export const NO_MIGRATION_ID = '0000000000000000';
const ID_BYTES = 8;

/** The largest guest a HELLO may announce: 2^31-1 pages, SparseMemory's own limit. */
export const MAX_GUEST_PAGES = 2 ** 31 - 1;

export type Frame =
  | {
      type: 'HELLO';
      pages: number;
      pageSize: number;
      edgeFirstPage: number;
      /** 0 = no edge region. */
      edgePages: number;
      /** Bit i set: encoding id i may appear in PAGES. */
      encodings: number;
      /** What the destination keeps of each page: its bytes, or only its digest (generated guests). */
      image: ImageKind;
      /** multifd channels that will connect beside this link; 0 = pages travel on this link. */
      channels: number;
      /** Names the migration for a recovery QUERY (NO_MIGRATION_ID: none). */
      migrationId: string;
      token: string;
    }
  | { type: 'HELLO_ACK'; maxPayload: number }
  | { type: 'CONFIG'; config: LinkConfig }
  | { type: 'ROUND_START'; round: number; final: boolean; at: number }
  | {
      type: 'PAGES';
      round: number;
      count: number;
      /** The whole body; entries start at PAGES_BODY_HEADER. */
      body: Buffer;
      /** The header's checksum, which the running hash chains. */
      checksum: number;
    }
  | { type: 'ROUND_END'; round: number; pages: number; runningHash: number; at: number }
  | { type: 'ROUND_ACK'; round: number; pages: number; runningHash: number }
  /** A channel's end of round N: its pages in the round and its running hash so far. */
  | { type: 'SYNC'; round: number; pages: number; runningHash: number }
  | { type: 'VCPU_STATE'; blob: Buffer }
  | { type: 'PREPARE'; at: number }
  | { type: 'READY'; at: number }
  | { type: 'GO'; at: number }
  | { type: 'RESUMED'; at: number }
  | { type: 'VERIFY'; sourceHash: string; at: number }
  | { type: 'VERDICT'; verdict: DestinationVerdict }
  | { type: 'CANCEL'; reason: string }
  | { type: 'QUERY'; migrationId: string; token: string }
  | { type: 'OUTCOME'; migrationId: string; outcome: MigrationOutcome }
  | { type: 'ERROR'; closeCode: number; code: string; message: string }
  /** One bit per page, page 0 in bit 0 of byte 0; the receiver checks its length against the guest. */
  | { type: 'BITMAP'; kind: BitmapKind; at: number; bits: Buffer }
  | { type: 'REQ_PAGES'; at: number; gfns: number[] }
  /** The sender's clock, and its tally of the postcopy frames it sent on this link (count, running hash). */
  | { type: 'CLOCK'; at: number; frames: number; runningHash: number }
  | { type: 'RECOVER'; migrationId: string; at: number; token: string };

export type FrameName = Frame['type'];

const NAMES: Record<number, FrameName> = Object.fromEntries(
  Object.entries(FrameType).map(([name, id]) => [id, name as FrameName]),
);

const utf8 = new TextDecoder('utf-8', { fatal: true });

////     header     ////

/** A frame with room for `bodyLength` bytes of body; fill the body, then `seal` it. */
export function allocFrame(type: FrameTypeId, bodyLength: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + bodyLength);
  writeHeader(frame, type, bodyLength);
  return frame;
}

/** Write magic, version, type, flags and body length (the checksum comes with `seal`). */
export function writeHeader(frame: Buffer, type: FrameTypeId, bodyLength: number): void {
  frame.writeUInt32LE(MAGIC, 0);
  frame.writeUInt8(VERSION, 4);
  frame.writeUInt8(type, 5);
  frame.writeUInt16LE(0, 6);
  frame.writeUInt32LE(bodyLength, 8);
}

/** Write the body's checksum into the header; returns the frame. */
export function seal(frame: Buffer): Buffer {
  frame.writeUInt32LE(frameChecksum(frame.subarray(HEADER_SIZE)), 12);
  return frame;
}

function fail(code: WireErrorCode, message: string, closeCode?: number): never {
  throw wireError(code, message, closeCode);
}

/** Validate the header and checksum; returns the frame's type and body. */
export interface DecodeOptions {
  /**
   * Recompute the body's checksum and compare it with the header's (default). Off only for a link
   * that hands over the very bytes the peer sealed, where nothing in transit can corrupt them.
   */
  verifyChecksum?: boolean;
}

export function readHeader(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): { type: FrameName; body: Buffer; checksum: number } {
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (frame.length < HEADER_SIZE)
    fail(
      'PRECOPY_ERR_TRUNCATED',
      `frame of ${frame.length} bytes is shorter than the ${HEADER_SIZE}-byte header`,
    );
  const magic = frame.readUInt32LE(0);
  if (magic !== MAGIC)
    fail('PRECOPY_ERR_BAD_MAGIC', `magic 0x${magic.toString(16)} is not 0x${MAGIC.toString(16)}`);
  const version = frame.readUInt8(4);
  if (version !== VERSION)
    fail('PRECOPY_ERR_BAD_VERSION', `version ${version} is not supported (only ${VERSION})`);
  const typeId = frame.readUInt8(5);
  const type = NAMES[typeId];
  if (type === undefined)
    fail('PRECOPY_ERR_BAD_TYPE', `frame type ${typeId} is not in [1, ${MAX_FRAME_TYPE}]`);
  const flags = frame.readUInt16LE(6);
  if (flags !== 0)
    fail('PRECOPY_ERR_BAD_FLAGS', `flags 0x${flags.toString(16)} must be 0 in version ${VERSION}`);
  const bodyLength = frame.readUInt32LE(8);
  if (bodyLength !== frame.length - HEADER_SIZE)
    fail(
      frame.length - HEADER_SIZE < bodyLength ? 'PRECOPY_ERR_TRUNCATED' : 'PRECOPY_ERR_BAD_LENGTH',
      `${type}: header says ${bodyLength} body bytes, frame has ${frame.length - HEADER_SIZE}`,
    );
  const body = frame.subarray(HEADER_SIZE);
  const sum = frame.readUInt32LE(12);
  if (options.verifyChecksum !== false && frameChecksum(body) !== sum)
    fail(
      'PRECOPY_ERR_BAD_CHECKSUM',
      `${type}: body checksum does not match the header's`,
      CloseCode.INVALID_DATA,
    );
  return { type, body, checksum: sum };
}

////     bodies     ////

function needLength(type: FrameName, body: Buffer, min: number, max = min): void {
  if (body.length < min || body.length > max)
    fail(
      'PRECOPY_ERR_BAD_LENGTH',
      min === max
        ? `${type}: body must be ${min} bytes, got ${body.length}`
        : `${type}: body must be ${min}..${max} bytes, got ${body.length}`,
    );
}

function text(type: FrameName, field: string, bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return fail('PRECOPY_ERR_BAD_FIELD', `${type}.${field} is not valid UTF-8`);
  }
}

function flag(type: FrameName, field: string, value: number): boolean {
  if (value > 1) fail('PRECOPY_ERR_BAD_FIELD', `${type}.${field} must be 0 or 1, got ${value}`);
  return value === 1;
}

/** A timestamp: ms of the run's clock, finite and ≥ 0. */
function stamp(type: FrameName, body: Buffer, offset: number): number {
  const at = body.readDoubleLE(offset);
  if (!Number.isFinite(at) || at < 0)
    fail('PRECOPY_ERR_BAD_FIELD', `${type}.at must be a finite time ≥ 0 ms, got ${at}`);
  return at;
}

/** A zod-validated JSON body (VERDICT, CONFIG). */
function json<T>(type: FrameName, body: Buffer, schema: z.ZodType<T>): T {
  let value: unknown;
  try {
    value = JSON.parse(text(type, 'json', body));
  } catch (e) {
    if (e instanceof WireError) throw e;
    return fail('PRECOPY_ERR_BAD_FIELD', `${type}: body is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) fail('PRECOPY_ERR_BAD_FIELD', `${type}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** QUERY's and OUTCOME's id: a migration's, never none (there is nothing to ask about none). */
function migrationIdOf(type: FrameName, body: Buffer): string {
  const id = body.toString('hex', 0, ID_BYTES);
  if (id === NO_MIGRATION_ID) fail('PRECOPY_ERR_BAD_FIELD', `${type}.migrationId must not be all zeros`);
  return id;
}

/** Decode and validate one frame; throws WireError. */
export function decodeFrame(bytes: Uint8Array, options?: DecodeOptions): Frame {
  const { type, body, checksum } = readHeader(bytes, options);
  switch (type) {
    case 'HELLO': {
      needLength(type, body, 28, 28 + 255);
      const pages = body.readUInt32LE(0);
      const pageSize = body.readUInt32LE(4);
      const edgeFirstPage = body.readUInt32LE(8);
      const edgePages = body.readUInt32LE(12);
      const encodings = body.readUInt8(16);
      const imageId = body.readUInt8(17);
      const channels = body.readUInt8(18);
      const tokenLength = body.readUInt8(19);
      if (body.length !== 28 + tokenLength)
        fail('PRECOPY_ERR_BAD_LENGTH', `HELLO: token length ${tokenLength} does not match the body`);
      if (pages < 1 || pages > MAX_GUEST_PAGES)
        fail('PRECOPY_ERR_BAD_FIELD', `HELLO.pages must be in [1, ${MAX_GUEST_PAGES}], got ${pages}`);
      if (pageSize !== PAGE_SIZE)
        fail('PRECOPY_ERR_BAD_FIELD', `HELLO.pageSize must be ${PAGE_SIZE}, got ${pageSize}`);
      if (edgePages > 0 && edgeFirstPage + edgePages > pages)
        fail(
          'PRECOPY_ERR_BAD_FIELD',
          `HELLO.edge region [${edgeFirstPage}, ${edgeFirstPage + edgePages}) must lie inside [0, ${pages})`,
        );
      if (edgePages === 0 && edgeFirstPage !== 0)
        fail('PRECOPY_ERR_BAD_FIELD', `HELLO.edgeFirstPage must be 0 without an edge region`);
      if ((encodings & ~ALL_ENCODINGS_MASK) !== 0 || (encodings & 0b10) === 0)
        fail(
          'PRECOPY_ERR_BAD_FIELD',
          `HELLO.encodings 0x${encodings.toString(16)} must be within 0xf and include raw`,
        );
      const image = IMAGE_KINDS[imageId];
      if (image === undefined)
        fail('PRECOPY_ERR_BAD_FIELD', `HELLO.image ${imageId} must be 0 (bytes) or 1 (digests)`);
      const migrationId = body.toString('hex', 20, 28);
      const token = text(type, 'token', body.subarray(28));
      return {
        type,
        pages,
        pageSize,
        edgeFirstPage,
        edgePages,
        encodings,
        image,
        channels,
        migrationId,
        token,
      };
    }
    case 'HELLO_ACK': {
      needLength(type, body, 4);
      return { type, maxPayload: body.readUInt32LE(0) };
    }
    case 'CONFIG': {
      needLength(type, body, 2, MAX_CONFIG);
      return { type, config: json(type, body, configSchema) };
    }
    case 'ROUND_START': {
      needLength(type, body, 13);
      return {
        type,
        round: body.readUInt32LE(0),
        final: flag(type, 'final', body.readUInt8(4)),
        at: stamp(type, body, 5),
      };
    }
    case 'PAGES': {
      if (body.length < PAGES_BODY_HEADER)
        fail(
          'PRECOPY_ERR_TRUNCATED',
          `PAGES: body of ${body.length} bytes is shorter than its 8-byte header`,
        );
      return { type, round: body.readUInt32LE(0), count: body.readUInt32LE(4), body, checksum };
    }
    case 'ROUND_END': {
      needLength(type, body, 20);
      return { type, ...readTally(body), at: stamp(type, body, 12) };
    }
    case 'ROUND_ACK':
    case 'SYNC': {
      needLength(type, body, 12);
      return { type, ...readTally(body) };
    }
    case 'VCPU_STATE': {
      needLength(type, body, 1, MAX_VCPU_STATE);
      return { type, blob: body };
    }
    case 'PREPARE':
    case 'READY':
    case 'GO':
    case 'RESUMED': {
      needLength(type, body, 8);
      return { type, at: stamp(type, body, 0) };
    }
    case 'VERIFY': {
      needLength(type, body, 40);
      return { type, sourceHash: body.toString('hex', 0, 32), at: stamp(type, body, 32) };
    }
    case 'VERDICT': {
      needLength(type, body, 2, MAX_VERDICT);
      return { type, verdict: json(type, body, verdictSchema) };
    }
    case 'CANCEL': {
      needLength(type, body, 0, MAX_TEXT);
      return { type, reason: text(type, 'reason', body) };
    }
    case 'QUERY': {
      needLength(type, body, ID_BYTES + 1, ID_BYTES + 1 + 255);
      const tokenLength = body.readUInt8(ID_BYTES);
      if (body.length !== ID_BYTES + 1 + tokenLength)
        fail('PRECOPY_ERR_BAD_LENGTH', `QUERY: token length ${tokenLength} does not match the body`);
      const migrationId = migrationIdOf(type, body);
      return { type, migrationId, token: text(type, 'token', body.subarray(ID_BYTES + 1)) };
    }
    case 'OUTCOME': {
      needLength(type, body, ID_BYTES + 1);
      const outcome = OUTCOMES[body.readUInt8(ID_BYTES)];
      if (outcome === undefined)
        fail(
          'PRECOPY_ERR_BAD_FIELD',
          `OUTCOME.outcome ${body.readUInt8(ID_BYTES)} must be 0 (unknown), 1 (resumed) or 2 (discarded)`,
        );
      return { type, migrationId: migrationIdOf(type, body), outcome };
    }
    case 'BITMAP': {
      needLength(type, body, BITMAP_HEADER + 1, BITMAP_HEADER + Math.ceil(MAX_GUEST_PAGES / 8));
      const kind = BITMAP_KINDS[body.readUInt8(0)];
      if (kind === undefined)
        fail('PRECOPY_ERR_BAD_FIELD', `BITMAP.kind ${body.readUInt8(0)} must be 0 (discard) or 1 (received)`);
      return { type, kind, at: stamp(type, body, 1), bits: body.subarray(BITMAP_HEADER) };
    }
    case 'REQ_PAGES': {
      needLength(type, body, 16, 12 + 4 * MAX_REQUEST_PAGES);
      const count = body.readUInt32LE(8);
      if (count < 1 || count > MAX_REQUEST_PAGES)
        fail('PRECOPY_ERR_BAD_FIELD', `REQ_PAGES.count must be in [1, ${MAX_REQUEST_PAGES}], got ${count}`);
      if (body.length !== 12 + 4 * count)
        fail(
          'PRECOPY_ERR_BAD_LENGTH',
          `REQ_PAGES: ${count} pages need ${12 + 4 * count} body bytes, got ${body.length}`,
        );
      const gfns = Array.from({ length: count }, (_, i) => body.readUInt32LE(12 + 4 * i));
      return { type, at: stamp(type, body, 0), gfns };
    }
    case 'CLOCK': {
      needLength(type, body, 16);
      return {
        type,
        at: stamp(type, body, 0),
        frames: body.readUInt32LE(8),
        runningHash: body.readUInt32LE(12),
      };
    }
    case 'RECOVER': {
      needLength(type, body, ID_BYTES + 9, ID_BYTES + 9 + 255);
      const tokenLength = body.readUInt8(ID_BYTES + 8);
      if (body.length !== ID_BYTES + 9 + tokenLength)
        fail('PRECOPY_ERR_BAD_LENGTH', `RECOVER: token length ${tokenLength} does not match the body`);
      return {
        type,
        migrationId: migrationIdOf(type, body),
        at: stamp(type, body, ID_BYTES),
        token: text(type, 'token', body.subarray(ID_BYTES + 9)),
      };
    }
    case 'ERROR': {
      needLength(type, body, 3, 3 + 255 + MAX_TEXT);
      const closeCode = body.readUInt16LE(0);
      const codeLength = body.readUInt8(2);
      if (3 + codeLength > body.length)
        fail('PRECOPY_ERR_BAD_LENGTH', `ERROR: code length ${codeLength} runs past the body`);
      if (body.length - 3 - codeLength > MAX_TEXT)
        fail('PRECOPY_ERR_BAD_LENGTH', `ERROR: message longer than ${MAX_TEXT} bytes`);
      if (closeCode < 1000 || closeCode > 4999)
        fail('PRECOPY_ERR_BAD_FIELD', `ERROR.closeCode must be in [1000, 4999], got ${closeCode}`);
      const code = text(type, 'code', body.subarray(3, 3 + codeLength));
      if (!/^[A-Z0-9_]+$/.test(code)) fail('PRECOPY_ERR_BAD_FIELD', `ERROR.code must be A-Z, 0-9, _`);
      return { type, closeCode, code, message: text(type, 'message', body.subarray(3 + codeLength)) };
    }
  }
}

////     encoders     ////

function u32(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new WireError('PRECOPY_ERR_USAGE', `${field} must be an integer in [0, 2^32-1], got ${value}`);
  return value;
}

export function encodeHello(
  hello: Omit<Extract<Frame, { type: 'HELLO' }>, 'type' | 'image' | 'channels' | 'migrationId'> & {
    image?: ImageKind;
    channels?: number;
    migrationId?: string;
  },
): Buffer {
  const token = Buffer.from(hello.token, 'utf8');
  if (token.length > 255) throw new WireError('PRECOPY_ERR_USAGE', `token must be at most 255 bytes`);
  const channels = hello.channels ?? 0;
  if (!Number.isInteger(channels) || channels < 0 || channels > MAX_CHANNELS)
    throw new WireError('PRECOPY_ERR_USAGE', `channels must be an integer in [0, ${MAX_CHANNELS}]`);
  const frame = allocFrame(FrameType.HELLO, 28 + token.length);
  const b = frame.subarray(HEADER_SIZE);
  b.writeUInt32LE(u32(hello.pages, 'pages'), 0);
  b.writeUInt32LE(u32(hello.pageSize, 'pageSize'), 4);
  b.writeUInt32LE(u32(hello.edgeFirstPage, 'edgeRegion.firstPage'), 8);
  b.writeUInt32LE(u32(hello.edgePages, 'edgeRegion.pages'), 12);
  b.writeUInt8(hello.encodings & 0xff, 16);
  b.writeUInt8(IMAGE_KINDS.indexOf(hello.image ?? 'bytes'), 17);
  b.writeUInt8(channels, 18);
  b.writeUInt8(token.length, 19);
  b.write(idHex(hello.migrationId ?? NO_MIGRATION_ID), 20, 'hex');
  token.copy(b, 28);
  return seal(frame);
}

function idHex(id: string): string {
  if (!/^[0-9a-f]{16}$/.test(id))
    throw new WireError(
      'PRECOPY_ERR_USAGE',
      `migrationId must be 16 lowercase hex digits, got '${id.slice(0, 40)}'`,
    );
  return id;
}

export function encodeQuery(migrationId: string, token: string): Buffer {
  const bytes = Buffer.from(token, 'utf8');
  if (bytes.length > 255) throw new WireError('PRECOPY_ERR_USAGE', `token must be at most 255 bytes`);
  const frame = allocFrame(FrameType.QUERY, ID_BYTES + 1 + bytes.length);
  frame.write(idHex(migrationId), HEADER_SIZE, 'hex');
  frame.writeUInt8(bytes.length, HEADER_SIZE + ID_BYTES);
  bytes.copy(frame, HEADER_SIZE + ID_BYTES + 1);
  return seal(frame);
}

export function encodeOutcome(migrationId: string, outcome: MigrationOutcome): Buffer {
  const frame = allocFrame(FrameType.OUTCOME, ID_BYTES + 1);
  frame.write(idHex(migrationId), HEADER_SIZE, 'hex');
  frame.writeUInt8(OUTCOMES.indexOf(outcome), HEADER_SIZE + ID_BYTES);
  return seal(frame);
}

export function encodeHelloAck(maxPayload: number): Buffer {
  const frame = allocFrame(FrameType.HELLO_ACK, 4);
  frame.writeUInt32LE(u32(maxPayload, 'maxPayload'), HEADER_SIZE);
  return seal(frame);
}

function time(value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new WireError('PRECOPY_ERR_USAGE', `at must be a finite time ≥ 0 ms, got ${value}`);
  return value;
}

export function encodeConfig(config: LinkConfig): Buffer {
  const body = Buffer.from(JSON.stringify(configSchema.parse(config)), 'utf8');
  if (body.length > MAX_CONFIG)
    throw new WireError('PRECOPY_ERR_USAGE', `CONFIG is ${body.length} bytes, at most ${MAX_CONFIG}`);
  const frame = allocFrame(FrameType.CONFIG, body.length);
  body.copy(frame, HEADER_SIZE);
  return seal(frame);
}

export function encodeRoundStart(round: number, final: boolean, at: number): Buffer {
  const frame = allocFrame(FrameType.ROUND_START, 13);
  frame.writeUInt32LE(u32(round, 'round'), HEADER_SIZE);
  frame.writeUInt8(final ? 1 : 0, HEADER_SIZE + 4);
  frame.writeDoubleLE(time(at), HEADER_SIZE + 5);
  return seal(frame);
}

export function encodeRoundEnd(round: number, pages: number, runningHash: number, at: number): Buffer {
  const frame = tallyFrame(FrameType.ROUND_END, 20, round, pages, runningHash);
  frame.writeDoubleLE(time(at), HEADER_SIZE + 12);
  return seal(frame);
}

export function encodeSync(round: number, pages: number, runningHash: number): Buffer {
  return seal(tallyFrame(FrameType.SYNC, 12, round, pages, runningHash));
}

export function encodeRoundAck(round: number, pages: number, runningHash: number): Buffer {
  return seal(tallyFrame(FrameType.ROUND_ACK, 12, round, pages, runningHash));
}

/**
 * ROUND_END, ROUND_ACK and SYNC open with the same tally of a round: its number, its pages and
 * the running hash of what was sent (README.md: the frames), in bytes 0-11 of the body.
 */
function tallyFrame(
  type: FrameTypeId,
  bodyBytes: number,
  round: number,
  pages: number,
  runningHash: number,
): Buffer {
  const frame = allocFrame(type, bodyBytes);
  frame.writeUInt32LE(u32(round, 'round'), HEADER_SIZE);
  frame.writeUInt32LE(u32(pages, 'pages'), HEADER_SIZE + 4);
  frame.writeUInt32LE(u32(runningHash, 'runningHash'), HEADER_SIZE + 8);
  return frame;
}

function readTally(body: Buffer): { round: number; pages: number; runningHash: number } {
  return { round: body.readUInt32LE(0), pages: body.readUInt32LE(4), runningHash: body.readUInt32LE(8) };
}

/** The switchover handshake's frames, each just a timestamp (README.md: the handshake). */
export type HandshakeFrame = 'PREPARE' | 'READY' | 'GO' | 'RESUMED';

export function encodeHandshake(type: HandshakeFrame, at: number): Buffer {
  const frame = allocFrame(FrameType[type], 8);
  frame.writeDoubleLE(time(at), HEADER_SIZE);
  return seal(frame);
}

export function encodeVcpuState(blob: Uint8Array): Buffer {
  if (blob.length < 1 || blob.length > MAX_VCPU_STATE)
    throw new WireError(
      'PRECOPY_ERR_USAGE',
      `vCPU state must be 1..${MAX_VCPU_STATE} bytes, got ${blob.length}`,
    );
  const frame = allocFrame(FrameType.VCPU_STATE, blob.length);
  frame.set(blob, HEADER_SIZE);
  return seal(frame);
}

export function encodeVerify(sourceHash: string, at: number): Buffer {
  if (!isHex256(sourceHash))
    throw new WireError('PRECOPY_ERR_USAGE', `sourceHash must be 64 lowercase hex digits (sha256)`);
  const frame = allocFrame(FrameType.VERIFY, 40);
  frame.write(sourceHash, HEADER_SIZE, 'hex');
  frame.writeDoubleLE(time(at), HEADER_SIZE + 32);
  return seal(frame);
}

export function encodeVerdict(verdict: DestinationVerdict): Buffer {
  const json = Buffer.from(JSON.stringify(verdictSchema.parse(verdict)), 'utf8');
  const frame = allocFrame(FrameType.VERDICT, json.length);
  json.copy(frame, HEADER_SIZE);
  return seal(frame);
}

/** Truncate UTF-8 text to at most `max` bytes without splitting a character. */
/** `value` as UTF-8, cut to at most `max` bytes at a character boundary. */
export function boundedText(value: string, max: number): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

export function encodeCancel(reason: string): Buffer {
  const bytes = boundedText(reason, MAX_TEXT);
  const frame = allocFrame(FrameType.CANCEL, bytes.length);
  bytes.copy(frame, HEADER_SIZE);
  return seal(frame);
}

export function encodeError(error: { code: string; message: string; closeCode: number }): Buffer {
  const code = Buffer.from(error.code, 'ascii');
  const message = boundedText(error.message, MAX_TEXT);
  const frame = allocFrame(FrameType.ERROR, 3 + code.length + message.length);
  frame.writeUInt16LE(error.closeCode, HEADER_SIZE);
  frame.writeUInt8(code.length, HEADER_SIZE + 2);
  code.copy(frame, HEADER_SIZE + 3);
  message.copy(frame, HEADER_SIZE + 3 + code.length);
  return seal(frame);
}

////     postcopy     ////

export function encodeBitmap(kind: BitmapKind, at: number, bits: Uint8Array): Buffer {
  if (bits.length < 1) throw new WireError('PRECOPY_ERR_USAGE', 'BITMAP needs at least one byte of bits');
  const frame = allocFrame(FrameType.BITMAP, BITMAP_HEADER + bits.length);
  frame.writeUInt8(BITMAP_KINDS.indexOf(kind), HEADER_SIZE);
  frame.writeDoubleLE(time(at), HEADER_SIZE + 1);
  frame.set(bits, HEADER_SIZE + BITMAP_HEADER);
  return seal(frame);
}

export function encodeRequestPages(at: number, gfns: readonly number[]): Buffer {
  if (gfns.length < 1 || gfns.length > MAX_REQUEST_PAGES)
    throw new WireError(
      'PRECOPY_ERR_USAGE',
      `REQ_PAGES takes 1..${MAX_REQUEST_PAGES} pages, got ${gfns.length}`,
    );
  const frame = allocFrame(FrameType.REQ_PAGES, 12 + 4 * gfns.length);
  frame.writeDoubleLE(time(at), HEADER_SIZE);
  frame.writeUInt32LE(gfns.length, HEADER_SIZE + 8);
  gfns.forEach((gfn, i) => frame.writeUInt32LE(u32(gfn, 'gfn'), HEADER_SIZE + 12 + 4 * i));
  return seal(frame);
}

export function encodeClock(at: number, frames: number, runningHash: number): Buffer {
  const frame = allocFrame(FrameType.CLOCK, 16);
  frame.writeDoubleLE(time(at), HEADER_SIZE);
  frame.writeUInt32LE(u32(frames, 'frames'), HEADER_SIZE + 8);
  frame.writeUInt32LE(u32(runningHash, 'runningHash'), HEADER_SIZE + 12);
  return seal(frame);
}

export function encodeRecover(migrationId: string, at: number, token: string): Buffer {
  const bytes = Buffer.from(token, 'utf8');
  if (bytes.length > 255) throw new WireError('PRECOPY_ERR_USAGE', `token must be at most 255 bytes`);
  const frame = allocFrame(FrameType.RECOVER, ID_BYTES + 9 + bytes.length);
  frame.write(idHex(migrationId), HEADER_SIZE, 'hex');
  frame.writeDoubleLE(time(at), HEADER_SIZE + ID_BYTES);
  frame.writeUInt8(bytes.length, HEADER_SIZE + ID_BYTES + 8);
  bytes.copy(frame, HEADER_SIZE + ID_BYTES + 9);
  return seal(frame);
}

/** Bit `i` of a page bitmap. */
export function bitOf(bits: Uint8Array, i: number): boolean {
  return (bits[i >> 3]! & (1 << (i & 7))) !== 0;
}

/** A page bitmap of `flags` (one entry per page, non-zero = set). */
export function packBits(flags: ArrayLike<number>): Buffer {
  const bits = Buffer.alloc(Math.max(1, Math.ceil(flags.length / 8)));
  for (let i = 0; i < flags.length; i++) if (flags[i]) bits[i >> 3]! |= 1 << (i & 7);
  return bits;
}

/**
 * A BITMAP's bits as one flag per page of a `pages`-page guest: its length must be the guest's
 * and the bits past the last page clear (a WireError naming the kind otherwise).
 */
export function unpackBits(frame: Extract<Frame, { type: 'BITMAP' }>, pages: number): Uint8Array {
  const want = Math.ceil(pages / 8);
  if (frame.bits.length !== want)
    fail(
      'PRECOPY_ERR_BAD_LENGTH',
      `BITMAP(${frame.kind}) has ${frame.bits.length} bytes of bits; a ${pages}-page guest needs ${want}`,
    );
  if (pages % 8 !== 0 && frame.bits[want - 1]! >> (pages % 8) !== 0)
    fail('PRECOPY_ERR_BAD_GFN', `BITMAP(${frame.kind}) sets bits past the last page ${pages - 1}`);
  const flags = new Uint8Array(pages);
  for (let i = 0; i < pages; i++) flags[i] = bitOf(frame.bits, i) ? 1 : 0;
  return flags;
}
