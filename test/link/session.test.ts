import fc from 'fast-check';
import { Destination } from '../../src/dest/destination';
import {
  connectSource,
  type EncodingName,
  type Transport,
  type TransportHandlers,
} from '../../src/link/index';
import { inprocPair } from '../../src/link/inproc';
import { Session } from '../../src/link/session';
import { Rng } from '../../src/util/rng';
import { VirtualClock } from '../../src/util/clock';
import { FrameType, HEADER_SIZE, PAGES_BODY_HEADER, PAGE_ENTRY_HEADER } from '../../src/wire/constants';
import { TOKEN, allPages, dirty, makeGuest, migrate, switchover } from './helpers';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function sessionOptions(encodings: EncodingName[] = ['zero', 'lz4']) {
  return {
    token: TOKEN,
    encodings,
    xbzrleCacheSize: 1 << 20,
    maxBatchPages: 16,
    maxBandwidth: 0,
    clock: new VirtualClock(),
  };
}

describe('a migration over the in-process link', () => {
  test('rebuilds and verifies the guest for any encoding set', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray<EncodingName>(['zero', 'raw', 'lz4', 'xbzrle'], { minLength: 1 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer(),
        async (encodings, pages, liveRounds, seed) => {
          const destination = new Destination({ token: TOKEN });
          const session = await connectSource({
            transport: 'inproc',
            token: TOKEN,
            destination,
            encodings,
            maxBatchPages: 7,
          });
          const memory = makeGuest(pages, seed);
          const verdict = await migrate(session, memory, liveRounds, seed);
          expect(verdict).toMatchObject({
            passed: true,
            destinationHash: memory.imageHash(),
            rounds: liveRounds + 2,
          });
          await session.close();
          await destination.whenIdle();
          expect(destination.lastOutcome).toMatchObject({ kind: 'resumed', verdict: { passed: true } });
        },
      ),
      { seed: 7, numRuns: 40 },
    );
  });

  test('a destination that closes right after its verdict is a normal end, not a link failure', async () => {
    const destination = new Destination({ token: TOKEN });
    const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    const errors: string[] = [];
    session.onError((e) => errors.push(e.code));
    const verdict = await migrate(session, makeGuest(30, 4));
    await settle();
    expect(verdict.passed).toBe(true);
    expect(errors).toEqual([]);
    expect(session.failure).toBeUndefined();
  });

  test('negative: a link lost before the verdict arrives is still a failure', async () => {
    const destination = new Destination({ token: TOKEN });
    const [sourceEnd, destinationEnd] = inprocPair();
    // The destination crashes on VERIFY: it closes without a verdict.
    const crashOnVerify: Transport = {
      bufferedAmount: 0,
      send: (frame, onWritten) => destinationEnd.send(frame, onWritten),
      close: (code, reason) => destinationEnd.close(code, reason),
      setHandlers: (handlers: TransportHandlers) =>
        destinationEnd.setHandlers({
          ...handlers,
          message: (frame) =>
            frame[5] === FrameType.VERIFY ? destinationEnd.close(1011, 'crashed') : handlers.message(frame),
        }),
    };
    destination.attach(crashOnVerify);
    const session = new Session(sourceEnd, sessionOptions());
    const errors: string[] = [];
    session.onError((e) => errors.push(e.code));
    await expect(migrate(session, makeGuest(5, 1), 0)).rejects.toMatchObject({
      code: 'PRECOPY_ERR_LINK_LOST',
    });
    expect(errors).toEqual(['PRECOPY_ERR_LINK_LOST']);
    // GO went out before the crash: the guest resumed there, and that is what the destination says.
    await destination.whenIdle();
    expect(destination.lastOutcome).toMatchObject({ kind: 'resumed', verdict: undefined });
  });

  test('measures destination downtime in the run clock: the source timestamps plus latency', async () => {
    const clock = new VirtualClock();
    // The destination keeps its own (wall) clock: in virtual time it must not read it.
    const destination = new Destination({ token: TOKEN });
    const session = await connectSource({ transport: 'inproc', token: TOKEN, destination, clock });
    const memory = makeGuest(10, 1);
    await session.hello(
      { pages: 10, pageSize: 4096 },
      { clock: 'virtual', latencyMs: 5, postRunMs: 0, guest: null },
    );
    await session.startRound(0);
    await session.sendPages(allPages(memory), 10, memory);
    clock.advanceTo(10);
    await session.endRound(0); // the last live page: 10 + 5
    clock.advanceTo(1000);
    await session.startRound(1, { final: true }); // 1005
    await settle();
    clock.advanceTo(1042);
    await session.endRound(1); // 1047
    await session.sendVcpuState(Uint8Array.of(1));
    clock.advanceTo(1100);
    expect(await session.prepare()).toEqual({ readyAt: 1105 });
    clock.advanceTo(1110);
    expect(await session.go()).toEqual({ resumedAt: 1115 });
    clock.advanceTo(1300);
    const verdict = await session.verify(memory.imageHash());
    expect(verdict).toMatchObject({
      passed: true,
      destinationDowntimeMs: 1100,
      downtimeBreakdown: { stop: 990, finalRound: 42, vcpuState: 58, prepare: 0, commit: 10, resume: 0 },
      resumedAt: 1115,
      verifyMs: 0,
      postRun: null,
    });
    const parts = Object.values(verdict.downtimeBreakdown).reduce((a, b) => a + b, 0);
    expect(parts).toBe(verdict.destinationDowntimeMs);
    await destination.whenIdle();
    expect(destination.lastOutcome).toMatchObject({
      kind: 'resumed',
      vcpuStateBytes: 1,
      pagesPerRound: [10, 0],
    });
  });

  test('measures the rate written to the link over 100 ms windows of its clock', async () => {
    const clock = new VirtualClock();
    const destination = new Destination({ token: TOKEN, clock });
    const session = await connectSource({
      transport: 'inproc',
      token: TOKEN,
      destination,
      clock,
      encodings: ['raw'],
    });
    const memory = makeGuest(10, 1);
    await session.hello({ pages: 10, pageSize: 4096 });
    await session.startRound(0);
    const stats = await session.sendPages(allPages(memory), 10, memory);
    await settle();
    expect(session.measuredRate()).toBe(0); // the first window has not closed
    clock.advanceBy(100);
    const controlFrames = 200; // HELLO and ROUND_START
    expect(session.measuredRate() / 10).toBeGreaterThanOrEqual(stats.bytesWire);
    expect(session.measuredRate() / 10).toBeLessThan(stats.bytesWire + controlFrames);
  });

  test('negative: a destination that corrupts what it applies (fault switch) fails verification', async () => {
    for (const fault of [false, true]) {
      const destination = new Destination({ token: TOKEN, faults: { corruptAppliedPage: fault } });
      const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
      const verdict = await migrate(session, makeGuest(50, 3));
      expect(verdict.passed).toBe(!fault);
      if (fault) expect(verdict.reason).toMatch(/image hash .* differs/);
    }
  });

  test('reports the edge rule when the HELLO names an incrementer region', async () => {
    const memory = makeGuest(40, 2);
    for (let gfn = 10; gfn < 30; gfn++) memory.writable(gfn)[0] = gfn < 17 ? 6 : 5;
    const destination = new Destination({
      token: TOKEN,
      edgeChecker: (m, first, pages) => {
        let bad = 0;
        for (let g = first + 1; g < first + pages; g++) if (m.byte0(g) !== m.byte0(g - 1) && g !== 17) bad++;
        return { passed: bad === 0, badPages: bad };
      },
    });
    const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    await session.hello({ pages: 40, pageSize: 4096, edgeRegion: { firstPage: 10, pages: 20 } });
    await session.startRound(0, { final: true });
    await session.sendPages(allPages(memory), 40, memory);
    await session.endRound(0);
    await session.sendVcpuState(Uint8Array.of(0));
    const verdict = await switchover(session, memory);
    expect(verdict).toMatchObject({ passed: true, edgeCheck: { passed: true, badPages: 0 } });
  });
});

describe('failures end the migration cleanly', () => {
  test('cancel: the destination discards and serves the next migration', async () => {
    const destination = new Destination({ token: TOKEN });
    const memory = makeGuest(64, 4);
    const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    await session.hello({ pages: 64, pageSize: 4096 });
    await session.startRound(0);
    await session.sendPages(allPages(memory), 32, memory);
    await settle();
    expect(destination.image?.bytes?.allocatedPages).toBeGreaterThan(0);
    await session.cancel('operator asked');
    await destination.whenIdle();
    expect(destination.lastOutcome).toMatchObject({
      kind: 'discarded',
      reason: expect.stringMatching(/cancelled by the source: operator asked/),
      pagesPerRound: [32],
    });
    expect(destination.image).toBeUndefined();
    await expect(session.endRound(0)).rejects.toMatchObject({ code: 'PRECOPY_ERR_CANCELLED' });
    const next = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    expect((await migrate(next, memory)).passed).toBe(true);
  });

  test.each(['source', 'destination'] as const)(
    'link lost mid-round at the %s end: source fails with LINK_LOST, destination discards',
    async (end) => {
      const destination = new Destination({ token: TOKEN });
      const [sourceEnd, destinationEnd] = inprocPair();
      destination.attach(destinationEnd);
      const session = new Session(sourceEnd, sessionOptions());
      const errors: string[] = [];
      session.onError((e) => errors.push(e.code));
      const memory = makeGuest(64, 5);
      await session.hello({ pages: 64, pageSize: 4096 });
      await session.startRound(0);
      await session.sendPages(allPages(memory), 20, memory);
      (end === 'source' ? sourceEnd : destinationEnd).drop();
      await expect(session.sendPages(allPages(memory), 64, memory)).rejects.toMatchObject({
        code: 'PRECOPY_ERR_LINK_LOST',
      });
      await destination.whenIdle();
      expect(destination.lastOutcome?.kind).toBe('discarded');
      expect(errors).toEqual(['PRECOPY_ERR_LINK_LOST']);
    },
  );

  test('a page corrupted after sealing: the checksum catches it on a link that needs it, the image hash on the in-process link', async () => {
    for (const verifies of [true, false]) {
      const destination = new Destination({ token: TOKEN });
      const [sourceEnd, destinationEnd] = inprocPair();
      // In-process frames skip the crc32; the same endpoint behind a wrapper is an ordinary link.
      destination.attach(
        verifies
          ? {
              bufferedAmount: 0,
              send: (frame, onWritten) => destinationEnd.send(frame, onWritten),
              close: (code, reason) => destinationEnd.close(code, reason),
              setHandlers: (handlers) => destinationEnd.setHandlers(handlers),
            }
          : destinationEnd,
      );
      const corrupting: Transport = {
        bufferedAmount: 0,
        send: (frame, onWritten) => {
          if (frame[5] === FrameType.PAGES)
            frame[HEADER_SIZE + PAGES_BODY_HEADER + PAGE_ENTRY_HEADER + 9] ^= 1;
          return sourceEnd.send(frame, onWritten);
        },
        close: (code, reason) => sourceEnd.close(code, reason),
        setHandlers: (handlers) => sourceEnd.setHandlers(handlers),
      };
      const session = new Session(corrupting, sessionOptions(['raw']));
      const memory = makeGuest(6, 5);
      if (verifies) {
        await expect(migrate(session, memory, 0)).rejects.toMatchObject({ code: 'PRECOPY_ERR_BAD_CHECKSUM' });
        await destination.whenIdle();
        expect(destination.lastOutcome).toMatchObject({ kind: 'discarded' });
      } else {
        const verdict = await migrate(session, memory, 0);
        expect(verdict.passed).toBe(false);
        expect(verdict.reason).toMatch(/image hash .* differs/);
      }
    }
  });

  test('a lost page frame: ROUND_END counts disagree and both ends fail with ROUND_MISMATCH', async () => {
    const destination = new Destination({ token: TOKEN });
    const [sourceEnd, destinationEnd] = inprocPair();
    destination.attach(destinationEnd);
    let pagesFrames = 0;
    // A transport that loses the second PAGES frame, as a broken multi-channel barrier would.
    const lossy: Transport = {
      get bufferedAmount() {
        return 0;
      },
      send: (frame) =>
        frame[5] === FrameType.PAGES && ++pagesFrames === 2 ? Promise.resolve() : sourceEnd.send(frame),
      setHandlers: (h: TransportHandlers) => sourceEnd.setHandlers(h),
      close: (code, reason) => sourceEnd.close(code, reason),
    };
    const session = new Session(lossy, sessionOptions());
    const memory = makeGuest(64, 6);
    await session.hello({ pages: 64, pageSize: 4096 });
    await session.startRound(0);
    await session.sendPages(allPages(memory), 64, memory);
    await expect(session.endRound(0)).rejects.toMatchObject({ code: 'PRECOPY_ERR_ROUND_MISMATCH' });
    await destination.whenIdle();
    expect(destination.lastOutcome).toMatchObject({
      kind: 'discarded',
      error: { code: 'PRECOPY_ERR_ROUND_MISMATCH' },
    });
  });

  test('a wrong token in HELLO is refused with a typed error', async () => {
    const destination = new Destination({ token: TOKEN });
    const session = await connectSource({ transport: 'inproc', token: 'not-it', destination });
    await expect(session.hello({ pages: 4, pageSize: 4096 })).rejects.toMatchObject({
      code: 'PRECOPY_ERR_TOKEN',
      closeCode: 1008,
    });
  });

  test('a second migration while one runs gets BUSY; the first is unharmed', async () => {
    const destination = new Destination({ token: TOKEN });
    const first = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    await first.hello({ pages: 8, pageSize: 4096 });
    const second = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    await expect(second.hello({ pages: 8, pageSize: 4096 })).rejects.toMatchObject({
      code: 'PRECOPY_ERR_BUSY',
      closeCode: 1013,
    });
    const memory = makeGuest(8, 1);
    await first.startRound(0, { final: true });
    await first.sendPages(allPages(memory), 8, memory);
    await first.endRound(0);
    await first.sendVcpuState(Uint8Array.of(1));
    expect((await switchover(first, memory)).passed).toBe(true);
  });

  test('batches shrink to fit the destination maxPayload', async () => {
    const destination = new Destination({ token: TOKEN, maxPayload: 64 << 10 });
    const session = await connectSource({
      transport: 'inproc',
      token: TOKEN,
      destination,
      encodings: ['raw'],
      maxBatchPages: 64,
    });
    const memory = makeGuest(60, 1);
    await session.hello({ pages: 60, pageSize: 4096 });
    await session.startRound(0);
    const stats = await session.sendPages(allPages(memory), 60, memory);
    expect(stats.frames).toBe(4); // 15 raw pages fit in 64 KiB
  });

  test('misuse is a PRECOPY_ERR_USAGE naming the call, and does not break the link', async () => {
    const destination = new Destination({ token: TOKEN });
    const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
    const memory = makeGuest(8, 1);
    await expect(session.startRound(0)).rejects.toThrow(/startRound: not allowed in phase 'connected'/);
    await expect(
      session.hello({ pages: 8, pageSize: 4096, edgeRegion: { firstPage: 6, pages: 4 } }),
    ).rejects.toThrow(/edgeRegion \[6, 10\)/);
    await session.hello({ pages: 8, pageSize: 4096 });
    await expect(session.startRound(1)).rejects.toThrow(/round 1 out of order, expected 0/);
    await session.startRound(0);
    await expect(session.sendPages([9], 1, memory)).rejects.toThrow(
      /gfns\[0\] = 9 is outside the guest \[0, 8\)/,
    );
    await expect(connectSource({ transport: 'ws', token: TOKEN })).rejects.toThrow(/needs `url`/);
    await expect(
      connectSource({ transport: 'inproc', token: TOKEN, destination, maxBatchPages: 999 }),
    ).rejects.toThrow(/maxBatchPages/);
    expect(session.failure).toBeUndefined();
    await session.sendPages(allPages(memory), 8, memory);
    await session.endRound(0);
  });

  test('dirty rounds after the bulk round send only what changed', async () => {
    const destination = new Destination({ token: TOKEN });
    const session = await connectSource({
      transport: 'inproc',
      token: TOKEN,
      destination,
      encodings: ['zero', 'xbzrle'],
    });
    const memory = makeGuest(90, 8);
    const rng = new Rng(8);
    await session.hello({ pages: 90, pageSize: 4096 });
    for (let round = 0; round < 3; round++) {
      await session.startRound(round);
      await session.sendPages(round === 0 ? allPages(memory) : allPages(memory), 90, memory);
      await session.endRound(round);
    }
    await session.startRound(3, { final: true });
    const gfns = dirty(memory, 5, rng);
    const stats = await session.sendPages(allPages(memory), 90, memory);
    expect(stats.xbzrlePages).toBe(gfns.filter((g) => g % 3 !== 0).length);
    expect(stats.unchangedPages).toBe(60 - stats.xbzrlePages);
    await session.endRound(3);
    await session.sendVcpuState(Uint8Array.of(1));
    expect((await switchover(session, memory)).passed).toBe(true);
  });
});
