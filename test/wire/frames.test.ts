import fc from 'fast-check';
import { frameChecksum } from '../../src/wire/checksum';
import { CloseCode, FrameType, HEADER_SIZE, MAGIC, MAX_VCPU_STATE, VERSION } from '../../src/wire/constants';
import { WireError } from '../../src/wire/errors';
import {
  allocFrame,
  decodeFrame,
  encodeCancel,
  encodeConfig,
  encodeError,
  encodeHandshake,
  encodeHello,
  encodeHelloAck,
  encodeRoundAck,
  encodeRoundEnd,
  encodeRoundStart,
  encodeSync,
  encodeVcpuState,
  encodeVerdict,
  encodeVerify,
  seal,
} from '../../src/wire/frames';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const at = fc.double({ min: 0, max: 1e12, noNaN: true, noDefaultInfinity: true });
const hex256 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const run = { seed: 5, numRuns: 200 };

function codeOf(thunk: () => unknown): string | undefined {
  try {
    thunk();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    return (e as WireError).code;
  }
}

/** Re-seal a frame after editing its body, so the checks past the crc are reached. */
function resealed(frame: Buffer): Buffer {
  frame.writeUInt32LE(frame.length - HEADER_SIZE, 8);
  return seal(frame);
}

describe('frame round trips', () => {
  test('HELLO carries layout, encodings and token', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 15 }).map((m) => m | 0b10),
        fc.string({ maxLength: 60 }),
        fc.constantFrom('bytes' as const, 'digests' as const),
        fc.integer({ min: 0, max: 255 }),
        (pages, a, b, encodings, token, image, channels) => {
          const edgeFirstPage = pages > 1 ? a % pages : 0;
          const edgePages = pages > 1 ? b % (pages - edgeFirstPage) : 0;
          const hello = {
            pages,
            pageSize: 4096,
            edgeFirstPage: edgePages ? edgeFirstPage : 0,
            edgePages,
            encodings,
            image,
            channels,
            migrationId: 'a5a5a5a5a5a5a5a5',
            token,
          };
          expect(decodeFrame(encodeHello(hello))).toEqual({ type: 'HELLO', ...hello });
        },
      ),
      run,
    );
  });

  test('counters and acks', () => {
    fc.assert(
      fc.property(u32, u32, u32, fc.boolean(), at, (round, pages, hash, final, time) => {
        expect(decodeFrame(encodeHelloAck(pages))).toEqual({ type: 'HELLO_ACK', maxPayload: pages });
        expect(decodeFrame(encodeRoundStart(round, final, time))).toEqual({
          type: 'ROUND_START',
          round,
          final,
          at: time,
        });
        expect(decodeFrame(encodeRoundEnd(round, pages, hash, time))).toEqual({
          type: 'ROUND_END',
          round,
          pages,
          runningHash: hash,
          at: time,
        });
        expect(decodeFrame(encodeRoundAck(round, pages, hash))).toEqual({
          type: 'ROUND_ACK',
          round,
          pages,
          runningHash: hash,
        });
      }),
      run,
    );
  });

  test('the switchover handshake: PREPARE, READY, GO, RESUMED carry their time', () => {
    fc.assert(
      fc.property(fc.constantFrom('PREPARE', 'READY', 'GO', 'RESUMED' as const), at, (type, time) => {
        expect(decodeFrame(encodeHandshake(type, time))).toEqual({ type, at: time });
      }),
      run,
    );
  });

  test('CONFIG carries the clock, latency, post-run and the guest', () => {
    const config = {
      clock: 'virtual' as const,
      latencyMs: 2.5,
      postRunMs: 300,
      guest: { memory: 4096 * 16, vcpus: 1, workload: { kind: 'idle' } },
    };
    expect(decodeFrame(encodeConfig(config))).toEqual({ type: 'CONFIG', config });
    expect(decodeFrame(encodeConfig({ ...config, guest: null }))).toEqual({
      type: 'CONFIG',
      config: { ...config, guest: null },
    });
  });

  test('vCPU state, verify, cancel, error, verdict', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        hex256,
        fc.string({ maxLength: 200 }),
        fc.constantFrom('PRECOPY_ERR_BUSY', 'PRECOPY_ERR_BAD_GFN', 'SOME_PEER_CODE'),
        fc.integer({ min: 1000, max: 4999 }),
        fc.boolean(),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        at,
        (blob, hash, text, code, closeCode, passed, downtime, time) => {
          const state = decodeFrame(encodeVcpuState(blob));
          expect(state.type === 'VCPU_STATE' && Buffer.from(state.blob).equals(Buffer.from(blob))).toBe(true);
          expect(decodeFrame(encodeVerify(hash, time))).toEqual({
            type: 'VERIFY',
            sourceHash: hash,
            at: time,
          });
          expect(decodeFrame(encodeCancel(text))).toEqual({ type: 'CANCEL', reason: text });
          expect(decodeFrame(encodeError({ code, message: text, closeCode }))).toEqual({
            type: 'ERROR',
            code,
            message: text,
            closeCode,
          });
          const verdict = {
            passed,
            destinationHash: hash,
            destinationDowntimeMs: downtime,
            downtimeBreakdown: {
              stop: 1,
              finalRound: downtime,
              vcpuState: 0,
              prepare: 0,
              commit: 2,
              resume: 0,
            },
            resumedAt: time,
            verifyMs: 0,
            rounds: 3,
            pagesReceived: 10,
            postRun: passed ? null : { ms: 300, writes: 5, check: 'edge-rule' as const, passed },
            edgeCheck: {
              passed,
              badPages: passed ? 0 : 2,
              ...(passed ? {} : { firstBadPage: 7, value: 3, previousValue: 5 }),
            },
            ...(passed ? {} : { reason: text }),
          };
          expect(decodeFrame(encodeVerdict(verdict))).toEqual({ type: 'VERDICT', verdict });
        },
      ),
      run,
    );
  });

  test('long text is cut to the limit on a character boundary', () => {
    const frame = decodeFrame(encodeCancel('é'.repeat(2000)));
    expect(frame.type === 'CANCEL' && frame.reason).toBe('é'.repeat(512));
  });
});

describe('header validation', () => {
  const good = () => encodeRoundStart(3, false, 0);

  test.each([
    ['shorter than the header', 'PRECOPY_ERR_TRUNCATED', (f: Buffer) => f.subarray(0, 10)],
    ['wrong magic', 'PRECOPY_ERR_BAD_MAGIC', (f: Buffer) => (f.writeUInt32LE(MAGIC ^ 1, 0), f)],
    ['another version', 'PRECOPY_ERR_BAD_VERSION', (f: Buffer) => (f.writeUInt8(VERSION + 1, 4), f)],
    ['unknown type', 'PRECOPY_ERR_BAD_TYPE', (f: Buffer) => (f.writeUInt8(99, 5), f)],
    ['flags set', 'PRECOPY_ERR_BAD_FLAGS', (f: Buffer) => (f.writeUInt16LE(1, 6), f)],
    ['body cut short', 'PRECOPY_ERR_TRUNCATED', (f: Buffer) => f.subarray(0, f.length - 1)],
    ['trailing bytes', 'PRECOPY_ERR_BAD_LENGTH', (f: Buffer) => Buffer.concat([f, Buffer.from([0])])],
    ['flipped body bit', 'PRECOPY_ERR_BAD_CHECKSUM', (f: Buffer) => ((f[HEADER_SIZE] ^= 4), f)],
  ])('%s → %s', (_name, code, mutate) => {
    expect(codeOf(() => decodeFrame(mutate(good())))).toBe(code);
  });

  test('a checksum error closes with 1007, a framing error with 1002', () => {
    const flipped = good();
    flipped[HEADER_SIZE] ^= 1;
    const e1 = (() => {
      try {
        decodeFrame(flipped);
      } catch (e) {
        return e as WireError;
      }
    })();
    expect(e1?.closeCode).toBe(CloseCode.INVALID_DATA);
    const e2 = (() => {
      try {
        decodeFrame(Buffer.alloc(4));
      } catch (e) {
        return e as WireError;
      }
    })();
    expect(e2?.closeCode).toBe(CloseCode.PROTOCOL_ERROR);
  });
});

describe('body validation names the field', () => {
  const hello = { pages: 100, pageSize: 4096, edgeFirstPage: 0, edgePages: 0, encodings: 0b11, token: 't' };

  test.each([
    ['page size', { pageSize: 8192 }, /pageSize must be 4096/],
    ['zero pages', { pages: 0 }, /pages must be in \[1,/],
    ['edge region outside the guest', { edgeFirstPage: 90, edgePages: 20 }, /edge region \[90, 110\)/],
    ['unknown encoding bit', { encodings: 0x12 }, /encodings 0x12/],
    ['raw missing', { encodings: 0b1 }, /include raw/],
  ])('HELLO with %s', (_name, change, message) => {
    const frame = encodeHello({ ...hello, ...change });
    expect(() => decodeFrame(frame)).toThrow(message);
  });

  test('HELLO.image must name bytes or digests', () => {
    const frame = encodeHello(hello);
    frame.writeUInt8(2, HEADER_SIZE + 17);
    expect(() => decodeFrame(resealed(frame))).toThrow(/HELLO.image 2 must be 0 \(bytes\) or 1 \(digests\)/);
  });

  test('HELLO token length that disagrees with the body', () => {
    const frame = encodeHello(hello);
    frame.writeUInt8(5, HEADER_SIZE + 19);
    expect(codeOf(() => decodeFrame(resealed(frame)))).toBe('PRECOPY_ERR_BAD_LENGTH');
  });

  test('HELLO.channels beyond multifd-channels range is refused by the encoder', () => {
    expect(codeOf(() => encodeHello({ ...hello, channels: 256 }))).toBe('PRECOPY_ERR_USAGE');
  });

  test('SYNC carries a channel round, its pages and its running hash', () => {
    fc.assert(
      fc.property(u32, u32, u32, (round, pages, hash) => {
        expect(decodeFrame(encodeSync(round, pages, hash))).toEqual({
          type: 'SYNC',
          round,
          pages,
          runningHash: hash,
        });
      }),
      run,
    );
  });

  test('ROUND_START final flag must be 0 or 1', () => {
    const frame = encodeRoundStart(1, true, 0);
    frame.writeUInt8(2, HEADER_SIZE + 4);
    expect(() => decodeFrame(resealed(frame))).toThrow(/final must be 0 or 1/);
  });

  test('fixed-size bodies with the wrong size', () => {
    for (const type of [
      FrameType.HELLO_ACK,
      FrameType.ROUND_START,
      FrameType.ROUND_END,
      FrameType.VERIFY,
      FrameType.PREPARE,
      FrameType.READY,
      FrameType.GO,
      FrameType.RESUMED,
    ]) {
      expect(codeOf(() => decodeFrame(seal(allocFrame(type, 3).fill(0, HEADER_SIZE))))).toBe(
        'PRECOPY_ERR_BAD_LENGTH',
      );
    }
  });

  test('an empty or oversized vCPU state', () => {
    expect(codeOf(() => decodeFrame(seal(allocFrame(FrameType.VCPU_STATE, 0))))).toBe(
      'PRECOPY_ERR_BAD_LENGTH',
    );
    expect(
      codeOf(() =>
        decodeFrame(seal(allocFrame(FrameType.VCPU_STATE, MAX_VCPU_STATE + 1).fill(1, HEADER_SIZE))),
      ),
    ).toBe('PRECOPY_ERR_BAD_LENGTH');
  });

  test.each([NaN, -1, Infinity])('a timestamp of %s is refused, naming the frame', (value) => {
    const frame = encodeHandshake('GO', 0);
    frame.writeDoubleLE(value, HEADER_SIZE);
    expect(() => decodeFrame(resealed(frame))).toThrow(/GO\.at must be a finite time ≥ 0 ms/);
    expect(() => encodeHandshake('GO', value)).toThrow(/at must be a finite time/);
  });

  test('a CONFIG that breaks its schema, or is no JSON', () => {
    for (const body of ['{"clock":"sundial","latencyMs":0,"postRunMs":0,"guest":null}', '{"clock":', '[]']) {
      const json = Buffer.from(body);
      const frame = allocFrame(FrameType.CONFIG, json.length);
      json.copy(frame, HEADER_SIZE);
      expect(codeOf(() => decodeFrame(seal(frame)))).toBe('PRECOPY_ERR_BAD_FIELD');
    }
  });

  test('text that is not UTF-8', () => {
    const frame = allocFrame(FrameType.CANCEL, 2);
    frame.set([0xc3, 0x28], HEADER_SIZE);
    expect(() => decodeFrame(seal(frame))).toThrow(/CANCEL.reason is not valid UTF-8/);
  });

  test('a verdict that breaks its schema', () => {
    const json = Buffer.from(JSON.stringify({ passed: 'yes' }));
    const frame = allocFrame(FrameType.VERDICT, json.length);
    json.copy(frame, HEADER_SIZE);
    expect(() => decodeFrame(seal(frame))).toThrow(/VERDICT:/);
  });

  test('an ERROR frame with a bad close code or code text', () => {
    const bad = encodeError({ code: 'X', message: 'm', closeCode: 1000 });
    bad.writeUInt16LE(999, HEADER_SIZE);
    expect(() => decodeFrame(resealed(bad))).toThrow(/closeCode must be in \[1000, 4999\]/);
    expect(() => decodeFrame(encodeError({ code: 'lower case', message: '', closeCode: 1002 }))).toThrow(
      /A-Z/,
    );
  });

  test('encoders refuse values the wire cannot carry', () => {
    expect(() => encodeRoundStart(-1, false, 0)).toThrow(/round must be an integer/);
    expect(() => encodeVerify('abc', 0)).toThrow(/64 lowercase hex/);
    expect(() => encodeVcpuState(new Uint8Array(0))).toThrow(/vCPU state must be/);
  });

  test('the header checksum is XXH32 (seed 0) of the body', () => {
    const frame = encodeRoundEnd(1, 2, 3, 4);
    expect(frame.readUInt32LE(12)).toBe(frameChecksum(frame.subarray(HEADER_SIZE)));
  });
});
