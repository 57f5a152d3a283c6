/** Pure predicates and the constant-time token compare. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Encoding, type EncodingId } from './constants';

/** Compare tokens without leaking where they differ: hash both to a fixed length first. */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

export function isEncodingId(id: number): id is EncodingId {
  return id === Encoding.ZERO || id === Encoding.RAW || id === Encoding.LZ4 || id === Encoding.XBZRLE;
}

/** Bit for an encoding in HELLO's encodings mask. */
export function encodingBit(id: EncodingId): number {
  return 1 << id;
}

export const ALL_ENCODINGS_MASK = 0b1111;

export function isHex256(text: string): boolean {
  return /^[0-9a-f]{64}$/.test(text);
}
