/**
 * Postcopy's frames (wire v7): BITMAP, REQ_PAGES, CLOCK, RECOVER round trip, and every bad field
 * is a WireError naming it (code and close code), before or after the checksum.
 */
import fc from 'fast-check';
import { CloseCode, FrameType, HEADER_SIZE, MAX_REQUEST_PAGES } from '../../src/wire/constants';
import { WireError } from '../../src/wire/errors';
import {
  allocFrame,
  decodeFrame,
  encodeBitmap,
  encodeClock,
  encodeRecover,
  encodeRequestPages,
  packBits,
  seal,
  unpackBits,
  type Frame,
} from '../../src/wire/frames';

const at = fc.double({ min: 0, max: 1e12, noNaN: true, noDefaultInfinity: true });
const run = { seed: 7, numRuns: 200 };

function failure(thunk: () => unknown): { code: string; closeCode: number; message: string } {
  try {
    thunk();
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    const w = e as WireError;
    return { code: w.code, closeCode: w.closeCode, message: w.message };
  }
  throw new Error('expected a WireError');
}

/** A frame of `type` with `body` as given, sealed (length and checksum right) so the body checks run. */
function sealed(type: number, body: Buffer): Buffer {
  const frame = allocFrame(type as never, body.length);
  body.copy(frame, HEADER_SIZE);
  return seal(frame);
}

describe('postcopy frames', () => {
  test('BITMAP, REQ_PAGES, CLOCK, RECOVER round trip', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 2000 }),
        fc.constantFrom('discard' as const, 'received' as const),
        at,
        fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 50 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1, max: 2 ** 53 - 1 }).map((n) => n.toString(16).padStart(16, '0').slice(-16)),
        fc.string({ maxLength: 40 }),
        (flags, kind, t, gfns, tally, id, token) => {
          const bits = packBits(flags);
          const bitmap = decodeFrame(encodeBitmap(kind, t, bits)) as Extract<Frame, { type: 'BITMAP' }>;
          expect(bitmap).toMatchObject({ type: 'BITMAP', kind, at: t });
          expect(Array.from(unpackBits(bitmap, flags.length))).toEqual(Array.from(flags, (f) => (f ? 1 : 0)));
          expect(decodeFrame(encodeRequestPages(t, gfns))).toEqual({ type: 'REQ_PAGES', at: t, gfns });
          expect(decodeFrame(encodeClock(t, tally, (tally ^ 1) >>> 0))).toEqual({
            type: 'CLOCK',
            at: t,
            frames: tally,
            runningHash: (tally ^ 1) >>> 0,
          });
          if (id !== '0000000000000000')
            expect(decodeFrame(encodeRecover(id, t, token))).toEqual({
              type: 'RECOVER',
              migrationId: id,
              at: t,
              token,
            });
        },
      ),
      run,
    );
  });

  test('BITMAP: an unknown kind, a bad time, no bits; a bitmap of the wrong size or with bits past the guest', () => {
    const body = (kind: number, t: number, bits: number[]) => {
      const b = Buffer.alloc(9 + bits.length);
      b.writeUInt8(kind, 0);
      b.writeDoubleLE(t, 1);
      Buffer.from(bits).copy(b, 9);
      return b;
    };
    expect(failure(() => decodeFrame(sealed(FrameType.BITMAP, body(2, 0, [1]))))).toEqual({
      code: 'PRECOPY_ERR_BAD_FIELD',
      closeCode: CloseCode.PROTOCOL_ERROR,
      message: 'BITMAP.kind 2 must be 0 (discard) or 1 (received)',
    });
    expect(failure(() => decodeFrame(sealed(FrameType.BITMAP, body(0, -1, [1])))).message).toBe(
      'BITMAP.at must be a finite time ≥ 0 ms, got -1',
    );
    expect(failure(() => decodeFrame(sealed(FrameType.BITMAP, body(0, 0, [])))).code).toBe(
      'PRECOPY_ERR_BAD_LENGTH',
    );
    const ten = decodeFrame(encodeBitmap('discard', 0, packBits(new Uint8Array(10)))) as Extract<
      Frame,
      { type: 'BITMAP' }
    >;
    expect(failure(() => unpackBits(ten, 24))).toMatchObject({
      code: 'PRECOPY_ERR_BAD_LENGTH',
      message: 'BITMAP(discard) has 2 bytes of bits; a 24-page guest needs 3',
    });
    const past = decodeFrame(encodeBitmap('received', 0, Buffer.from([0, 0b0000_0100]))) as Extract<
      Frame,
      { type: 'BITMAP' }
    >;
    expect(failure(() => unpackBits(past, 10))).toMatchObject({
      code: 'PRECOPY_ERR_BAD_GFN',
      message: 'BITMAP(received) sets bits past the last page 9',
    });
    expect(Array.from(unpackBits(past, 11))[10]).toBe(1);
  });

  test('REQ_PAGES: a count of 0 or over the limit, or one that disagrees with the body', () => {
    const body = (count: number, gfns: number) => {
      const b = Buffer.alloc(12 + 4 * gfns);
      b.writeUInt32LE(count, 8);
      return b;
    };
    expect(failure(() => decodeFrame(sealed(FrameType.REQ_PAGES, body(0, 1)))).message).toBe(
      `REQ_PAGES.count must be in [1, ${MAX_REQUEST_PAGES}], got 0`,
    );
    expect(failure(() => decodeFrame(sealed(FrameType.REQ_PAGES, body(3, 2))))).toMatchObject({
      code: 'PRECOPY_ERR_BAD_LENGTH',
      message: 'REQ_PAGES: 3 pages need 24 body bytes, got 20',
    });
    expect(failure(() => decodeFrame(sealed(FrameType.REQ_PAGES, body(1, 0)))).code).toBe(
      'PRECOPY_ERR_BAD_LENGTH',
    );
    expect(failure(() => encodeRequestPages(0, []))).toMatchObject({ code: 'PRECOPY_ERR_USAGE' });
    expect(failure(() => encodeRequestPages(0, new Array<number>(MAX_REQUEST_PAGES + 1).fill(0))).code).toBe(
      'PRECOPY_ERR_USAGE',
    );
  });

  test('CLOCK and RECOVER: wrong sizes, a bad time, a zero migration id, a token that disagrees', () => {
    expect(failure(() => decodeFrame(sealed(FrameType.CLOCK, Buffer.alloc(8)))).message).toBe(
      'CLOCK: body must be 16 bytes, got 8',
    );
    const clock = Buffer.alloc(16);
    clock.writeDoubleLE(Infinity, 0);
    expect(failure(() => decodeFrame(sealed(FrameType.CLOCK, clock))).code).toBe('PRECOPY_ERR_BAD_FIELD');
    const recover = Buffer.from(encodeRecover('00000000000000ec', 5, 'tok').subarray(HEADER_SIZE));
    recover.fill(0, 0, 8);
    expect(failure(() => decodeFrame(sealed(FrameType.RECOVER, recover))).message).toBe(
      'RECOVER.migrationId must not be all zeros',
    );
    const long = Buffer.from(encodeRecover('00000000000000ec', 5, 'tok').subarray(HEADER_SIZE));
    long.writeUInt8(9, 16);
    expect(failure(() => decodeFrame(sealed(FrameType.RECOVER, long))).message).toBe(
      'RECOVER: token length 9 does not match the body',
    );
  });
});
