/**
 * One error type for the whole protocol layer, built by one factory (as ws's receiver does):
 * a stable code naming what was wrong, a message naming the field and the allowed range, and
 * the WebSocket close code the link closes with.
 */
import { CloseCode } from './constants';

export const WIRE_ERROR_CODES = [
  'PRECOPY_ERR_TRUNCATED',
  'PRECOPY_ERR_BAD_MAGIC',
  'PRECOPY_ERR_BAD_VERSION',
  'PRECOPY_ERR_BAD_TYPE',
  'PRECOPY_ERR_BAD_FLAGS',
  'PRECOPY_ERR_BAD_LENGTH',
  'PRECOPY_ERR_BAD_CHECKSUM',
  'PRECOPY_ERR_BAD_FIELD',
  'PRECOPY_ERR_BAD_GFN',
  'PRECOPY_ERR_BAD_ENCODING',
  'PRECOPY_ERR_BAD_DECOMPRESSED_SIZE',
  'PRECOPY_ERR_UNEXPECTED_FRAME',
  'PRECOPY_ERR_ROUND_MISMATCH',
  'PRECOPY_ERR_TOKEN',
  'PRECOPY_ERR_BUSY',
  'PRECOPY_ERR_TOO_LARGE',
  'PRECOPY_ERR_NOT_BINARY',
  'PRECOPY_ERR_LINK_LOST',
  'PRECOPY_ERR_TIMEOUT',
  'PRECOPY_ERR_CANCELLED',
  'PRECOPY_ERR_PEER',
  'PRECOPY_ERR_USAGE',
] as const;

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly code: WireErrorCode,
    message: string,
    /** The WebSocket close code that goes with this error. */
    readonly closeCode: number = CloseCode.PROTOCOL_ERROR,
    /** For PRECOPY_ERR_PEER: the code the peer reported. */
    readonly peerCode?: string,
  ) {
    super(message);
  }
}

/** The one factory; `closeCode` defaults to 1002 (protocol error). */
export function wireError(code: WireErrorCode, message: string, closeCode?: number): WireError {
  return new WireError(code, message, closeCode);
}

/** Anything thrown inside the protocol layer, as a WireError (a bug becomes an internal error, not a crash). */
export function asWireError(e: unknown): WireError {
  if (e instanceof WireError) return e;
  return new WireError(
    'PRECOPY_ERR_BAD_FIELD',
    `internal: ${(e as Error)?.message ?? String(e)}`,
    CloseCode.INTERNAL,
  );
}
