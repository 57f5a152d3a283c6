/**
 * The WebSocket link against a live destination server on loopback: a whole migration, and
 * each way a peer can misbehave. Every test closes what it opens.
 */
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { Destination } from '../../src/dest/destination';
import { startDestinationServer, type DestinationServer } from '../../src/dest/server';
import { connectSource } from '../../src/link/index';
import { Session } from '../../src/link/session';
import { connectWs } from '../../src/link/ws-client';
import { listenWs } from '../../src/link/ws-server';
import type { WsTransport } from '../../src/link/ws-transport';
import { wallClock } from '../../src/util/clock';
import { decodeFrame } from '../../src/wire/frames';
import { TOKEN, allPages, makeGuest, migrate } from './helpers';
import { nonReadingDestination, rawHello, rawSession } from './peers';

let server: DestinationServer;

beforeEach(async () => {
  server = await startDestinationServer({ token: TOKEN, keepaliveMs: 200 });
});

afterEach(async () => {
  await server.close();
});

/** A raw authorised client that records what the destination says. */
function rawClient(url: string) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  const frames: string[] = [];
  ws.on('message', (data: Buffer) => {
    const f = decodeFrame(data);
    frames.push(f.type === 'ERROR' ? f.code : f.type);
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const opened = new Promise<void>((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  return { ws, frames, closed, opened };
}

async function validMigrationSucceeds(): Promise<void> {
  await server.destination.whenIdle();
  const session = await connectSource({ transport: 'ws', url: server.url, token: TOKEN });
  const verdict = await migrate(session, makeGuest(40, 9), 1);
  await session.close();
  expect(verdict.passed).toBe(true);
}

const hello = () => rawHello(16);

describe('WebSocket link', () => {
  test.each([true, false])('a whole migration verifies (zero mask %s)', async (zeroMask) => {
    const session = await connectSource({
      transport: 'ws',
      url: server.url,
      token: TOKEN,
      zeroMask,
      encodings: ['zero', 'lz4', 'xbzrle'],
    });
    const memory = makeGuest(300, 1);
    const verdict = await migrate(session, memory, 3);
    expect(verdict).toMatchObject({ passed: true, destinationHash: memory.imageHash(), rounds: 5 });
    await session.close();
    await server.destination.whenIdle();
    expect(server.destination.lastOutcome).toMatchObject({ kind: 'resumed', verdict: { passed: true } });
  });

  test.each([false, true])(
    'a migration under a tight send bound verifies only if frames are reused after they are written (fault: reuse when queued %s)',
    async (fault) => {
      const transport = await connectWs({
        url: server.url,
        token: TOKEN,
        clock: wallClock(),
        maxBufferedBytes: 64 << 10,
      });
      const session = rawSession(transport, { faults: { releaseWhenQueued: fault } });
      const memory = makeGuest(4096, 12);
      const outcome = migrate(session, memory, 1);
      if (fault)
        await expect(outcome).rejects.toMatchObject({ code: expect.stringMatching(/^PRECOPY_ERR_/) });
      else expect(await outcome).toMatchObject({ passed: true, destinationHash: memory.imageHash() });
      await session.close();
    },
  );

  test('a wrong or missing token is refused at the upgrade with 401', async () => {
    await expect(connectSource({ transport: 'ws', url: server.url, token: 'wrong' })).rejects.toMatchObject({
      code: 'PRECOPY_ERR_TOKEN',
    });
    const anonymous = new WebSocket(server.url);
    anonymous.on('error', () => undefined);
    const status = await new Promise<number>((resolve) =>
      anonymous.on('unexpected-response', (_q, r) => resolve(r.statusCode!)),
    );
    anonymous.terminate();
    expect(status).toBe(401);
    expect(server.destination.served).toBe(0);
    await validMigrationSucceeds();
  });

  test('a second concurrent client gets a BUSY error frame and close code 1013', async () => {
    const first = await connectSource({ transport: 'ws', url: server.url, token: TOKEN });
    await first.hello({ pages: 8, pageSize: 4096 });
    const second = rawClient(server.url);
    await second.opened;
    expect(await second.closed).toBe(1013);
    expect(second.frames).toEqual(['PRECOPY_ERR_BUSY']);
    const viaSession = await connectSource({ transport: 'ws', url: server.url, token: TOKEN });
    await expect(viaSession.hello({ pages: 8, pageSize: 4096 })).rejects.toMatchObject({
      code: 'PRECOPY_ERR_BUSY',
      closeCode: 1013,
    });
    await first.close();
    await validMigrationSucceeds();
  });

  test('garbage before the handshake gets 400, plain HTTP gets 426, and the server stays up', async () => {
    const port = Number(new URL(server.url).port);
    const reply = await new Promise<string>((resolve) => {
      const socket = netConnect(port, '127.0.0.1', () =>
        socket.write(Buffer.from([0, 1, 2, 255, 13, 10, 13, 10])),
      );
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1.1 400/);
    const response = await fetch(server.url.replace('ws:', 'http:'));
    expect(response.status).toBe(426);
    await response.text();
    await validMigrationSucceeds();
  });

  test('an oversized message closes with 1009; a text message and a non-frame each get an error frame', async () => {
    const big = rawClient(server.url);
    await big.opened;
    big.ws.send(Buffer.alloc(2 << 20));
    expect(await big.closed).toBe(1009);
    await server.destination.whenIdle();

    const text = rawClient(server.url);
    await text.opened;
    text.ws.send('hello');
    expect(await text.closed).toBe(1002);
    expect(text.frames).toEqual(['PRECOPY_ERR_NOT_BINARY']);
    await server.destination.whenIdle();

    const junk = rawClient(server.url);
    await junk.opened;
    junk.ws.send(Buffer.from('definitely not a precopy frame'));
    expect(await junk.closed).toBe(1002);
    expect(junk.frames).toEqual(['PRECOPY_ERR_BAD_MAGIC']);
    await validMigrationSucceeds();
  });

  test('a source that stops reading is dropped by keepalive; the destination discards and serves the next', async () => {
    const stalled = rawClient(server.url);
    await stalled.opened;
    stalled.ws.send(hello());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stalled.frames).toEqual(['HELLO_ACK']);
    (stalled.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await server.destination.whenIdle();
    expect(server.destination.lastOutcome).toMatchObject({
      kind: 'discarded',
      error: { code: 'PRECOPY_ERR_TIMEOUT' },
    });
    stalled.ws.terminate();
    await validMigrationSucceeds();
  });

  test('connection lost mid-round at the source: destination discards, source fails with LINK_LOST', async () => {
    const transport = await connectWs({ url: server.url, token: TOKEN, clock: wallClock() });
    const session = new Session(transport, {
      token: TOKEN,
      encodings: ['zero', 'lz4'],
      xbzrleCacheSize: 4096,
      maxBatchPages: 8,
      maxBandwidth: 0,
      clock: wallClock(),
    });
    const memory = makeGuest(64, 2);
    await session.hello({ pages: 64, pageSize: 4096 });
    await session.startRound(0);
    await session.sendPages(allPages(memory), 32, memory);
    transport.ws.terminate();
    await server.destination.whenIdle();
    expect(server.destination.lastOutcome).toMatchObject({
      kind: 'discarded',
      error: { code: 'PRECOPY_ERR_LINK_LOST' },
    });
    await expect(session.sendPages(allPages(memory), 64, memory)).rejects.toMatchObject({
      code: 'PRECOPY_ERR_LINK_LOST',
    });
    await validMigrationSucceeds();
  });
});

describe('WebSocket link against a misbehaving destination', () => {
  test('connection lost mid-round at the destination: the source hears LINK_LOST and the destination discards', async () => {
    const destination = new Destination({ token: TOKEN });
    let destinationEnd: WsTransport | undefined;
    const own = await listenWs({ token: TOKEN }, (t) => {
      destinationEnd = t;
      destination.attach(t);
    });
    try {
      const session = await connectSource({ transport: 'ws', url: own.url, token: TOKEN });
      const failed = new Promise((resolve) => session.onError(resolve));
      const memory = makeGuest(64, 3);
      await session.hello({ pages: 64, pageSize: 4096 });
      await session.startRound(0);
      await session.sendPages(allPages(memory), 32, memory);
      destinationEnd!.ws.terminate();
      expect(await failed).toMatchObject({ code: 'PRECOPY_ERR_LINK_LOST' });
      await expect(session.endRound(0)).rejects.toMatchObject({ code: 'PRECOPY_ERR_LINK_LOST' });
      await destination.whenIdle();
      expect(destination.lastOutcome?.kind).toBe('discarded');
    } finally {
      await own.close();
    }
  });

  test.each([false, true])(
    'a destination that stops reading: the source buffers at most its bound and times out (fault: ignore backpressure %s)',
    async (fault) => {
      const own = await nonReadingDestination();
      try {
        const maxBufferedBytes = 256 << 10;
        const transport = await connectWs({
          url: own.url,
          token: TOKEN,
          clock: wallClock(),
          keepaliveMs: 300,
          maxBufferedBytes,
          faults: { ignoreBackpressure: fault },
        });
        const session = rawSession(transport);
        const memory = makeGuest(16384, 4);
        await session.hello({ pages: 16384, pageSize: 4096 });
        await session.startRound(0);
        let peak = 0;
        const watch = setInterval(() => (peak = Math.max(peak, transport.inflightBytes)), 5);
        const sent = session.sendPages(allPages(memory), 16384, memory);
        const timedOut = new Promise((resolve) => session.onError(resolve));
        if (!fault) await expect(sent).rejects.toMatchObject({ code: 'PRECOPY_ERR_TIMEOUT' });
        expect(await timedOut).toMatchObject({ code: 'PRECOPY_ERR_TIMEOUT' });
        await sent.catch(() => undefined);
        clearInterval(watch);
        const frame = 16 + 8 + 16 * (7 + 4096);
        if (fault) expect(peak).toBeGreaterThan(16 * maxBufferedBytes);
        else {
          expect(peak).toBeGreaterThan(0);
          expect(peak).toBeLessThanOrEqual(maxBufferedBytes + frame);
        }
      } finally {
        await own.close();
      }
    },
  );
});
