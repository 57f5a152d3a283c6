/**
 * Deadlines everywhere (issue 16, item 4), each driven by an injected VirtualClock so the tests
 * are deterministic: the source's HELLO and every reply, the destination's HELLO and silence
 * (VERIFY after RESUMED included), a peer that stops reading. Each error names its deadline, and
 * one millisecond before it nothing has happened.
 */
import WebSocket from 'ws';
import { Destination } from '../../src/dest/destination';
import { startDestinationServer } from '../../src/dest/server';
import { connectSource, type SourceSession } from '../../src/link/index';
import { inprocPair, type InprocEndpoint } from '../../src/link/inproc';
import { Session } from '../../src/link/session';
import { connectWs } from '../../src/link/ws-client';
import { listenWs } from '../../src/link/ws-server';
import type { Transport } from '../../src/link/index';
import { VirtualClock, wallClock } from '../../src/util/clock';
import { CloseCode } from '../../src/wire/constants';
import {
  decodeFrame,
  encodeConfig,
  encodeRoundEnd,
  encodeRoundStart,
  type FrameName,
} from '../../src/wire/frames';
import { BARE_CONFIG } from '../../src/wire/config';
import { createSource, migrate as migrateScenario, type DestinationLink } from '../../src/migration/index';
import { parseScenario } from '../../src/migration/scenario';
import { TOKEN, allPages, makeGuest, migrate } from './helpers';
import { nonReadingDestination, rawHello, rawSession } from './peers';

const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A destination transport that never lets a reply of type `mute` (and anything after it) out. */
function muted(transport: InprocEndpoint, mute: FrameName): Transport {
  let silent = false;
  return {
    get bufferedAmount() {
      return 0;
    },
    deliversSealedFrames: true,
    send(frame, onWritten) {
      silent ||= decodeFrame(frame, { verifyChecksum: false }).type === mute;
      return silent ? Promise.resolve() : transport.send(frame, onWritten);
    },
    setHandlers: (h) => transport.setHandlers(h),
    close: (code, reason) => (silent ? undefined : transport.close(code, reason)),
  };
}

/** A session to a real in-process destination whose `mute` reply never comes. */
function sessionWithSilent(
  mute: FrameName,
  clock: VirtualClock,
): { session: Session; destination: Destination } {
  const [source, destinationEnd] = inprocPair();
  const destination = new Destination({ token: TOKEN, clock: new VirtualClock() });
  destination.attach(muted(destinationEnd, mute));
  const session = new Session(source, {
    token: TOKEN,
    encodings: ['zero', 'lz4'],
    xbzrleCacheSize: 4096,
    maxBatchPages: 16,
    maxBandwidth: 0,
    clock: wallClock(),
    deadlines: { clock },
    reopen: async () => {
      const [query, queryEnd] = inprocPair();
      destination.attachQuery(queryEnd);
      return query;
    },
  });
  return { session, destination };
}

/** Run a whole migration on `session` until it settles (resolved or rejected). */
function settle(p: Promise<unknown>): { state: () => string; error: () => unknown } {
  let state = 'pending';
  let error: unknown;
  p.then(
    () => (state = 'resolved'),
    (e) => ((state = 'rejected'), (error = e)),
  );
  return { state: () => state, error: () => error };
}

describe('source deadlines (injected clock)', () => {
  it.each([
    ['HELLO_ACK', 10_000, /no HELLO_ACK within 10000 ms of HELLO \(the hello deadline\)/],
    ['ROUND_ACK', 30_000, /no ROUND_ACK within 30000 ms of ROUND_END 0 \(the reply deadline\)/],
    ['READY', 30_000, /no READY within 30000 ms of PREPARE \(the reply deadline\)/],
    ['RESUMED', 30_000, /no RESUMED within 30000 ms of GO \(the reply deadline\)/],
    ['VERDICT', 30_000, /no VERDICT within 30000 ms of VERIFY \(the verdict deadline\)/],
  ] as const)(
    'a destination that never sends %s: fails after exactly %i ms, naming it',
    async (mute, ms, message) => {
      const clock = new VirtualClock();
      const { session, destination } = sessionWithSilent(mute, clock);
      const run = settle(migrate(session, makeGuest(24, 5), 0));
      // Let every earlier request be answered and the silent one be sent.
      for (let i = 0; i < 20; i++) await flush();
      const waitingSince = clock.now();
      clock.advanceTo(waitingSince + ms - 1);
      await flush();
      expect(run.state()).toBe('pending');
      clock.advanceBy(1);
      await flush();
      expect(run.state()).toBe('rejected');
      expect(run.error()).toMatchObject({
        code: 'PRECOPY_ERR_TIMEOUT',
        closeCode: CloseCode.DEADLINE,
        message: expect.stringMatching(message),
      });
      expect(session.failure).toBe(run.error());
      await destination.whenIdle();
      // Before GO the destination discards; after it the guest runs there, unverified.
      expect(destination.lastOutcome?.kind).toBe(
        mute === 'VERDICT' || mute === 'RESUMED' ? 'resumed' : 'discarded',
      );
      // No RESUMED in time: the recovery query tells the source the guest runs there.
      if (mute === 'RESUMED') expect(await session.recover()).toEqual({ outcome: 'resumed', attempts: 1 });
    },
  );

  it('a destination that accepts the WebSocket and never answers HELLO: the migration fails at the hello deadline', async () => {
    const silent = await listenWs({ token: TOKEN, keepaliveMs: 0 }, (t) =>
      t.setHandlers({ message: () => undefined, close: () => undefined }),
    );
    try {
      const clock = new VirtualClock();
      const session = await connectSource({
        transport: 'ws',
        url: silent.url,
        token: TOKEN,
        deadlineClock: clock,
      });
      const hello = settle(session.hello({ pages: 16, pageSize: 4096 }));
      await flush();
      clock.advanceBy(9_999);
      await flush();
      expect(hello.state()).toBe('pending');
      clock.advanceBy(1);
      await flush();
      expect(hello.error()).toMatchObject({ message: expect.stringMatching(/the hello deadline/) });
    } finally {
      await silent.close();
    }
  });

  it('the whole migration: a silent destination fails it at the hello deadline, the source guest running', async () => {
    const silent = await listenWs({ token: TOKEN, keepaliveMs: 0 }, (t) =>
      t.setHandlers({ message: () => undefined, close: () => undefined }),
    );
    try {
      const scenario = parseScenario({
        guest: { memory: '4MiB', seed: 3, workload: { kind: 'uniform', rate: '1MiB/s' } },
        run: { transport: 'ws', dest: silent.url, token: TOKEN },
      });
      const source = createSource(scenario);
      const deadlines = new VirtualClock();
      const link: DestinationLink = {
        connect: () =>
          connectSource({
            transport: 'ws',
            url: silent.url,
            token: TOKEN,
            clock: source.clock,
            keepaliveMs: 0,
            deadlineClock: deadlines,
          }),
        close: async () => undefined,
      };
      const result = migrateScenario(scenario, source, link);
      while (deadlines.pending === 0) await flush();
      deadlines.advanceBy(10_000);
      const r = await result;
      expect(r.status).toBe('failed');
      expect(r['error-desc']).toMatch(/no HELLO_ACK within 10000 ms of HELLO \(the hello deadline\)/);
      expect(r.precopy.guestRunsOn).toBe('source');
      expect(source.guest.paused).toBe(false);
      source.stop();
    } finally {
      await silent.close();
    }
  });
});

describe('destination deadlines (injected clock)', () => {
  /** A raw source end attached to a Destination on `clock`; records what the destination says. */
  function attachRaw(clock: VirtualClock) {
    const destination = new Destination({ token: TOKEN, clock });
    const [source, destinationEnd] = inprocPair();
    const said: string[] = [];
    let closed: string | undefined;
    source.setHandlers({
      message: (f) => {
        const frame = decodeFrame(f);
        said.push(frame.type === 'ERROR' ? `${frame.code} ${frame.closeCode}: ${frame.message}` : frame.type);
      },
      close: (e) => (closed = e ? String(e.closeCode) : 'normal'),
    });
    destination.attach(destinationEnd);
    return { destination, source, said, closed: () => closed };
  }

  const hello = () => rawHello(8);

  it('no HELLO within 10 s of connecting: ERROR and close 4003, the destination is free again', async () => {
    const clock = new VirtualClock();
    const raw = attachRaw(clock);
    clock.advanceBy(9_999);
    await flush();
    expect(raw.destination.busy).toBe(true);
    clock.advanceBy(1);
    await flush();
    expect(raw.said).toEqual([
      'PRECOPY_ERR_TIMEOUT 4003: no HELLO within 10000 ms of connecting (the hello deadline)',
    ]);
    expect(raw.closed()).toBe('4003');
    expect(raw.destination.busy).toBe(false);
    expect(raw.destination.lastOutcome).toMatchObject({
      kind: 'discarded',
      error: { code: 'PRECOPY_ERR_TIMEOUT' },
    });
  });

  it('a source silent mid-round for 60 s is cut, naming the state', async () => {
    const clock = new VirtualClock();
    const raw = attachRaw(clock);
    for (const f of [hello(), encodeConfig(BARE_CONFIG), encodeRoundStart(0, false, 0)])
      await raw.source.send(f);
    await flush();
    clock.advanceBy(59_999);
    await flush();
    expect(raw.said).toEqual(['HELLO_ACK']);
    expect(raw.destination.busy).toBe(true);
    clock.advanceBy(1);
    await flush();
    expect(raw.said).toEqual([
      'HELLO_ACK',
      'PRECOPY_ERR_TIMEOUT 4003: no frame from the source for 60000 ms in migrating.receiving.inRound (the silence deadline)',
    ]);
    expect(raw.closed()).toBe('4003');
    expect(raw.destination.busy).toBe(false);
  });

  it('frames in time keep a migration alive: no deadline passes while the source talks', async () => {
    const clock = new VirtualClock();
    const raw = attachRaw(clock);
    for (const f of [hello(), encodeConfig(BARE_CONFIG)]) await raw.source.send(f);
    await flush();
    for (let round = 0; round < 5; round++) {
      clock.advanceBy(59_999);
      await raw.source.send(encodeRoundStart(round, false, round));
      await flush();
      expect(raw.destination.busy).toBe(true);
      // An empty round: start, then end with 0 pages and the running hash 0.
      clock.advanceBy(59_999);
      await raw.source.send(encodeRoundEnd(round, 0, 0, round));
      await flush();
    }
    expect(raw.said).toEqual(['HELLO_ACK', 'ROUND_ACK', 'ROUND_ACK', 'ROUND_ACK', 'ROUND_ACK', 'ROUND_ACK']);
    expect(raw.closed()).toBeUndefined();
    raw.source.close(CloseCode.NORMAL, 'done');
  });

  it('a source silent after RESUMED: the guest runs here, unverified, and the error says so', async () => {
    const clock = new VirtualClock();
    const destination = new Destination({ token: TOKEN, clock });
    const [source, destinationEnd] = inprocPair();
    destination.attach(destinationEnd);
    const session = new Session(source, {
      token: TOKEN,
      encodings: ['zero', 'lz4'],
      xbzrleCacheSize: 4096,
      maxBatchPages: 16,
      maxBandwidth: 0,
      clock: wallClock(),
    });
    const memory = makeGuest(24, 3);
    await session.hello({ pages: 24, pageSize: 4096 });
    await session.startRound(0, { final: true });
    await session.sendPages(allPages(memory), 24, memory);
    await session.endRound(0);
    await session.sendVcpuState(Uint8Array.of(1));
    await session.prepare();
    await session.go();
    const failed = new Promise((resolve) => session.onError(resolve));
    clock.advanceBy(59_999);
    await flush();
    expect(destination.busy).toBe(true);
    clock.advanceBy(1);
    await destination.whenIdle();
    expect(destination.lastOutcome).toMatchObject({
      kind: 'resumed',
      verdict: undefined,
      reason: expect.stringMatching(
        /no VERIFY within 60000 ms .*\(the silence deadline\): the guest runs here, unverified/,
      ),
    });
    expect(await failed).toMatchObject({ closeCode: CloseCode.DEADLINE });
  });

  it('over ws: of 30 authorised sockets that never send HELLO, 29 get BUSY and the one served is cut at the hello deadline', async () => {
    const clock = new VirtualClock();
    const server = await startDestinationServer({ token: TOKEN, keepaliveMs: 0, clock });
    const open = async () => {
      const ws = new WebSocket(server.url, { headers: { authorization: `Bearer ${TOKEN}` } });
      const closed = new Promise<number>((resolve) => ws.on('close', resolve));
      await new Promise((resolve) => ws.once('open', resolve));
      return { closed };
    };
    try {
      const first = await open();
      const rest = await Promise.all(Array.from({ length: 29 }, () => open().then((s) => s.closed)));
      expect(new Set(rest)).toEqual(new Set([CloseCode.TRY_AGAIN_LATER]));
      clock.advanceBy(9_999);
      await new Promise((r) => setTimeout(r, 20));
      expect(server.destination.busy).toBe(true);
      clock.advanceBy(1);
      expect(await first.closed).toBe(CloseCode.DEADLINE);
      await server.destination.whenIdle();
      expect(server.destination.busy).toBe(false);
    } finally {
      await server.close();
    }
  });
});

describe('a peer that stops reading (injected clock)', () => {
  it.each([10_000, 0])(
    'a destination that stops reading: the source fails at the stall deadline (%i ms; 0 = off, the NEGATIVE: it waits for ever)',
    async (stallMs) => {
      const own = await nonReadingDestination();
      const clock = new VirtualClock();
      try {
        const transport = await connectWs({
          url: own.url,
          token: TOKEN,
          clock,
          keepaliveMs: 0,
          maxBufferedBytes: 256 << 10,
          stallMs,
        });
        const session: SourceSession = rawSession(transport, { deadlines: { clock } });
        const memory = makeGuest(16384, 4);
        await session.hello({ pages: 16384, pageSize: 4096 });
        await session.startRound(0);
        const sent = settle(session.sendPages(allPages(memory), 16384, memory));
        // Until the socket's buffers are full and the send waits on backpressure.
        let still = 0;
        for (let i = 0; i < 2000 && still < 20; i++) {
          const before = transport.inflightBytes;
          await new Promise((r) => setTimeout(r, 2));
          still = transport.inflightBytes === before && before > 256 << 10 ? still + 1 : 0;
        }
        expect(sent.state()).toBe('pending');
        clock.advanceBy(9_999);
        await flush();
        expect(sent.state()).toBe('pending');
        clock.advanceBy(1);
        await flush();
        if (stallMs === 0) {
          expect(sent.state()).toBe('pending'); // NEGATIVE: without the deadline it waits for ever
          transport.ws.terminate();
          await new Promise((r) => setTimeout(r, 20));
          expect(sent.state()).toBe('rejected');
        } else {
          expect(sent.error()).toMatchObject({
            code: 'PRECOPY_ERR_TIMEOUT',
            closeCode: CloseCode.STALLED,
            message: expect.stringMatching(
              /the peer stopped reading: .* no write completed for 10000 ms \(the stall deadline\)/,
            ),
          });
          clock.advanceBy(2_000); // the close handshake's grace: then terminated
          while (transport.ws.readyState !== transport.ws.CLOSED) await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        await own.close();
      }
    },
  );
});
