/**
 * Nothing a peer sends can throw (issue 16, items 2 and 3): close codes a peer supplies are mapped
 * to ones a close frame can carry, reasons are cut by bytes, every close path really closes (a
 * peer that never finishes the handshake is terminated after the grace period), and a handler
 * that throws fails the link with 1011 instead of crashing the process.
 */
import { join, dirname } from 'node:path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { startDestinationServer, type DestinationServer } from '../../src/dest/server';
import { connectSource } from '../../src/link/index';
import { inprocPair } from '../../src/link/inproc';
import { connectWs } from '../../src/link/ws-client';
import { listenWs, type WsServer } from '../../src/link/ws-server';
import type { WsTransport } from '../../src/link/ws-transport';
import { VirtualClock, wallClock } from '../../src/util/clock';
import { MAX_CLOSE_REASON, closeReason, isSendableCloseCode, peerCloseCode } from '../../src/wire/close';
import { CloseCode } from '../../src/wire/constants';
import {
  decodeFrame,
  encodeCancel,
  encodeConfig,
  encodeError,
  encodeHello,
  encodeRoundStart,
} from '../../src/wire/frames';
import { BARE_CONFIG } from '../../src/wire/config';
import { TOKEN } from './helpers';

/** ws's own rule for the codes it will send (not exported by the package: loaded by path). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const wsValidation = require(join(dirname(require.resolve('ws')), 'lib', 'validation.js')) as {
  isValidStatusCode(code: number): boolean;
};

const hello = () =>
  encodeHello({ pages: 16, pageSize: 4096, edgeFirstPage: 0, edgePages: 0, encodings: 0b111, token: TOKEN });

const MULTIBYTE = '迁移'.repeat(300); // 3 bytes a character: 1800 bytes

describe('close codes and reasons a close frame can carry', () => {
  it('every code maps to one ws accepts; an error code from a peer is never 1000', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1, max: 70000 }), (code) => {
        const mapped = peerCloseCode(code);
        expect(wsValidation.isValidStatusCode(mapped)).toBe(true);
        expect(mapped).not.toBe(CloseCode.NORMAL);
        if (code !== CloseCode.NORMAL && wsValidation.isValidStatusCode(code)) expect(mapped).toBe(code);
        expect(isSendableCloseCode(code)).toBe(wsValidation.isValidStatusCode(code));
      }),
      { seed: 16, numRuns: 2000 },
    );
    expect([1005, 1006, 2500, 1000, 5000].map(peerCloseCode)).toEqual([4002, 4002, 4002, 4002, 4002]);
  });

  it('a reason is cut to at most 123 bytes, at a character boundary, as a prefix of the original', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (reason) => {
        const cut = closeReason(reason);
        expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(MAX_CLOSE_REASON);
        const whole = Buffer.from(reason);
        expect(whole.subarray(0, Buffer.byteLength(cut)).equals(Buffer.from(cut))).toBe(true);
        if (whole.length <= MAX_CLOSE_REASON) expect(cut).toBe(Buffer.from(reason).toString());
        else expect(Buffer.byteLength(cut)).toBeGreaterThan(MAX_CLOSE_REASON - 4);
      }),
      { seed: 17, numRuns: 300 },
    );
    expect(Buffer.byteLength(closeReason(MULTIBYTE))).toBe(123);
  });
});

/** A fake destination that answers the first frame with `reply` and records how the link closed. */
async function fakeDestination(reply: Buffer): Promise<{ server: WsServer; closed: Promise<number> }> {
  let onClosed: (code: number) => void = () => undefined;
  const closed = new Promise<number>((resolve) => (onClosed = resolve));
  const server = await listenWs({ token: TOKEN, keepaliveMs: 0 }, (t) => {
    t.ws.on('close', (code: number) => onClosed(code));
    t.setHandlers({ message: () => void t.send(reply).catch(() => undefined), close: () => undefined });
  });
  return { server, closed };
}

describe('a destination that sends what ws refuses', () => {
  it.each([2500, 1005, 1006, 1000, 3999])(
    'an ERROR with close code %i after HELLO: hello rejects naming it, the link closes with a valid code',
    async (closeCode) => {
      const fake = await fakeDestination(
        encodeError({ code: 'PRECOPY_ERR_BAD_FIELD', message: 'no', closeCode }),
      );
      try {
        const session = await connectSource({ transport: 'ws', url: fake.server.url, token: TOKEN });
        await expect(session.hello({ pages: 16, pageSize: 4096 })).rejects.toMatchObject({
          code: 'PRECOPY_ERR_BAD_FIELD',
          message: expect.stringContaining(`close code ${closeCode}`),
        });
        const seen = await fake.closed;
        expect(seen).toBe(closeCode === 3999 ? 3999 : CloseCode.PEER_ERROR);
      } finally {
        await fake.server.close();
      }
    },
  );
});

describe('closing with what ws refuses', () => {
  it.each([false, true])(
    'close(2500, an 1800-byte reason) closes with 4002 and a cut reason (fault: hand them to ws unchecked %s)',
    async (fault) => {
      let onClosed: (c: { code: number; reason: number }) => void = () => undefined;
      const closed = new Promise<{ code: number; reason: number }>((resolve) => (onClosed = resolve));
      const server = await listenWs({ token: TOKEN, keepaliveMs: 0 }, (t) => {
        t.ws.on('close', (code: number, reason: Buffer) => onClosed({ code, reason: reason.length }));
        t.setHandlers({ message: () => undefined, close: () => undefined });
      });
      try {
        const transport = await connectWs({
          url: server.url,
          token: TOKEN,
          clock: wallClock(),
          keepaliveMs: 0,
          faults: { rawClose: fault },
        });
        if (fault) {
          expect(() => transport.close(2500, MULTIBYTE)).toThrow(TypeError);
          transport.ws.terminate();
          expect((await closed).code).toBe(1006);
        } else {
          transport.close(2500, MULTIBYTE);
          expect(await closed).toEqual({ code: CloseCode.PEER_ERROR, reason: 123 });
        }
      } finally {
        await server.close();
      }
    },
  );
});

describe('a source that sends what ws refuses, against a live destination', () => {
  let server: DestinationServer;
  beforeEach(async () => (server = await startDestinationServer({ token: TOKEN, keepaliveMs: 0 })));
  afterEach(() => server.close());

  /** Send `frames` raw; resolve with the close code the destination closed with and what it said. */
  function raw(frames: Buffer[]): Promise<{ code: number; frames: string[] }> {
    const ws = new WebSocket(server.url, { headers: { authorization: `Bearer ${TOKEN}` } });
    const seen: string[] = [];
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data);
      seen.push(f.type === 'ERROR' ? f.code : f.type);
    });
    ws.on('open', () => frames.forEach((f) => ws.send(f)));
    return new Promise((resolve) => ws.on('close', (code) => resolve({ code, frames: seen })));
  }

  const started = () => [hello(), encodeConfig(BARE_CONFIG), encodeRoundStart(0, false, 0)];

  it.each([
    ['an ERROR with close code 1005', encodeError({ code: 'X', message: 'm', closeCode: 1005 })],
    ['an ERROR with close code 2500', encodeError({ code: 'X', message: 'm', closeCode: 2500 })],
    ['an ERROR with close code 1000', encodeError({ code: 'X', message: 'm', closeCode: 1000 })],
    ['an ERROR with a multibyte message', encodeError({ code: 'X', message: MULTIBYTE, closeCode: 1002 })],
    ['a CANCEL with a multibyte reason', encodeCancel(MULTIBYTE)],
  ])('%s: the destination discards and closes with 4000', async (_what, frame) => {
    const outcome = await raw([...started(), frame]);
    expect(outcome).toEqual({ code: CloseCode.CANCELLED, frames: ['HELLO_ACK'] });
    await server.destination.whenIdle();
    expect(server.destination.lastOutcome?.kind).toBe('discarded');
  });
});

describe('every close path closes', () => {
  it('a peer that never finishes the close handshake is terminated after the grace period (injected clock)', async () => {
    const clock = new VirtualClock();
    let serverEnd: WsTransport | undefined;
    let closedWith: string | undefined;
    const server = await listenWs({ token: TOKEN, keepaliveMs: 0, clock }, (t) => {
      serverEnd = t;
      t.setHandlers({ message: () => undefined, close: (e) => (closedWith = e?.code ?? 'normal') });
    });
    try {
      const client = await connectWs({ url: server.url, token: TOKEN, clock: wallClock(), keepaliveMs: 0 });
      while (!serverEnd) await new Promise((r) => setImmediate(r));
      // The client stops reading: it will never answer the close frame.
      (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      serverEnd.close(CloseCode.NORMAL, 'done');
      await new Promise((r) => setTimeout(r, 50));
      expect(closedWith).toBeUndefined();
      clock.advanceBy(1999);
      await new Promise((r) => setTimeout(r, 20));
      expect(closedWith).toBeUndefined();
      clock.advanceBy(1);
      while (closedWith === undefined) await new Promise((r) => setTimeout(r, 5));
      expect(closedWith).toBe('normal');
      client.ws.terminate();
    } finally {
      await server.close();
    }
  });
});

describe('a handler that throws fails the link, not the process', () => {
  it('ws: the peer gets an internal ERROR and close 1011; the thrower hears it too', async () => {
    let heard: string | undefined;
    const server = await listenWs({ token: TOKEN, keepaliveMs: 0 }, (t) =>
      t.setHandlers({
        message: () => {
          throw new TypeError('handler bug');
        },
        close: (e) => (heard = e?.message),
      }),
    );
    try {
      const session = await connectSource({ transport: 'ws', url: server.url, token: TOKEN });
      await expect(session.hello({ pages: 16, pageSize: 4096 })).rejects.toMatchObject({
        closeCode: CloseCode.INTERNAL,
        message: expect.stringMatching(/a frame handler threw: internal: handler bug/),
      });
      while (heard === undefined) await new Promise((r) => setTimeout(r, 5));
      expect(heard).toMatch(/handler bug/);
    } finally {
      await server.close();
    }
  });

  it('inproc: both ends close with the error', async () => {
    const [a, b] = inprocPair();
    const closes: Array<string | undefined> = [];
    a.setHandlers({ message: () => undefined, close: (e) => closes.push(`a ${e?.closeCode} ${e?.message}`) });
    b.setHandlers({
      message: () => {
        throw new Error('handler bug');
      },
      close: (e) => closes.push(`b ${e?.closeCode} ${e?.message}`),
    });
    await a.send(Uint8Array.of(1));
    await new Promise((r) => setImmediate(r));
    expect(closes).toEqual([
      'a 1011 peer failed: a frame handler threw: internal: handler bug',
      'b 1011 a frame handler threw: internal: handler bug',
    ]);
    await expect(a.send(Uint8Array.of(2))).rejects.toMatchObject({ code: 'PRECOPY_ERR_LINK_LOST' });
  });
});
