/**
 * Postcopy over the wire (src/migration/postcopy.ts PostcopySource, src/dest/postcopy-receiver.ts):
 * the same run over an in-process link and a loopback WebSocket gives the same figures (the
 * virtual-time lockstep); a link loss over ws pauses both sides and a recovery on a fresh
 * connection completes, verified. Negatives: a request answered with the wrong page fails
 * verification; a frame dropped on the way is caught by the next CLOCK's tally (close 1007); a
 * source that loses its link for good leaves the destination paused, never verified.
 */
import fc from 'fast-check';
import { Destination } from '../../src/dest/destination';
import { inprocPair } from '../../src/link/inproc';
import { Postcopy } from '../../src/migration/postcopy';
import { wallClock } from '../../src/util/clock';
import { BARE_CONFIG } from '../../src/wire/config';
import { CloseCode } from '../../src/wire/constants';
import {
  decodeFrame,
  encodeBitmap,
  encodeClock,
  encodeConfig,
  encodeRecover,
  type Frame,
} from '../../src/wire/frames';
import { TOKEN } from '../link/helpers';
import { rawHello } from '../link/peers';
import { lossCase, options, SWEEP } from './postcopy-fixture';

/** What must agree across transports: everything measured (times to the ns: sums of 0.1 ms ticks carry float dust). */
function figures(r: Awaited<ReturnType<Postcopy['run']>>) {
  const { verdict, ...rest } = r;
  const all = { ...rest, placed: verdict?.postcopy?.pagesPlaced, hash: verdict?.destinationHash };
  return JSON.parse(
    JSON.stringify(all, (_, v: unknown) => (typeof v === 'number' ? Math.round(v * 1e6) / 1e6 : v)),
  );
}

describe('postcopy over the wire', () => {
  it('inproc and ws give identical figures for one seed (the lockstep), both verified', async () => {
    const inproc = await new Postcopy(options()).run();
    const ws = await new Postcopy(options({ transport: 'ws' })).run();
    expect(inproc.status).toBe('completed');
    expect(inproc.verification.passed).toBe(true);
    expect(inproc['postcopy-requests']).toBeGreaterThan(0);
    expect(figures(ws)).toEqual(figures(inproc));
  });

  it('a link loss over ws pauses both sides; recovery on a fresh connection completes, nothing lost, verified', async () => {
    const seen: string[] = [];
    const plan = {
      linkLoss: [
        { at: 8, recoverAfter: 50 },
        { at: 120, recoverAfter: 20 },
      ],
    };
    const r = await new Postcopy(options({ ...plan, transport: 'ws', onState: (s) => seen.push(s) })).run();
    expect(r.status).toBe('completed');
    expect(r.verification.passed).toBe(true);
    expect(r.recoveries).toBe(2);
    expect(seen.filter((s) => s === 'postcopy-paused')).toHaveLength(2);
    expect(seen.filter((s) => s === 'postcopy-recover')).toHaveLength(2);
    // The same plan in process: the same figures.
    const inproc = await new Postcopy(options(plan)).run();
    expect(figures(r)).toEqual(figures(inproc));
  });

  it('property: for any seed, discard set and losses, ws gives the in-process figures', async () => {
    await fc.assert(
      fc.asyncProperty(lossCase, async ({ seed, every, linkLoss }) => {
        const spec = { ...SWEEP, seed, workload: { kind: 'uniform', rate: '16MiB/s' } };
        const dirty = (g: number) => g % every === 0;
        const inproc = await new Postcopy(options({ linkLoss }, spec, dirty)).run();
        const ws = await new Postcopy(options({ linkLoss, transport: 'ws' }, spec, dirty)).run();
        expect(inproc.verification.passed).toBe(true);
        expect(figures(ws)).toEqual(figures(inproc));
      }),
      { seed: 7, numRuns: 6 },
    );
  });

  it('negative: a request answered with the wrong page fails verification (the page as it arrived is checked)', async () => {
    for (const transport of ['inproc', 'ws'] as const) {
      const r = await new Postcopy(options({ transport, faults: { wrongAnswer: true } })).run();
      expect(r.status).toBe('failed');
      expect(r.verification.passed).toBe(false);
      // The first request is vCPU 0's first fault, in its slice (pages 512..767).
      expect(r.verification.firstBadPage).toBeGreaterThanOrEqual(512);
      expect(r['error-desc']).toMatch(/verification failed: the image as it arrived/);
    }
  });

  it('negative: a PAGES frame dropped on the way is caught by the next CLOCK tally (ROUND_MISMATCH, 1007)', async () => {
    for (const transport of ['inproc', 'ws'] as const) {
      const r = await new Postcopy(options({ transport, faults: { dropFrame: 3 } })).run();
      expect(r.status).toBe('failed');
      expect(r['error-desc']).toMatch(
        /destination reported PRECOPY_ERR_ROUND_MISMATCH: CLOCK at [\d.]+ ms: the source sent \d+ frames \(hash \d+\); \d+ arrived/,
      );
      expect(r.verdict).toBeUndefined();
    }
  });
});

describe('postcopy frames on a pre-copy link', () => {
  it('are refused by the pre-copy destination, naming the frame; BITMAP(discard) without a guest to run too (ERROR, close 1002, image discarded)', async () => {
    for (const frame of [
      encodeClock(1, 0, 0),
      encodeBitmap('discard', 1, Buffer.from([1])),
      encodeRecover('00000000000000ec', 1, TOKEN),
    ]) {
      const destination = new Destination({ token: TOKEN, clock: wallClock() });
      const [source, end] = inprocPair();
      destination.attach(end);
      const replies: Frame[] = [];
      const closed = new Promise<number | undefined>((resolve) =>
        source.setHandlers({
          message: (b) => void replies.push(decodeFrame(b)),
          close: (e) => resolve(e?.closeCode),
        }),
      );
      await source.send(rawHello(8));
      await source.send(encodeConfig(BARE_CONFIG));
      await source.send(frame);
      expect(await closed).toBe(CloseCode.PROTOCOL_ERROR);
      const type = decodeFrame(frame).type;
      expect(replies.at(-1)).toMatchObject({
        type: 'ERROR',
        code: 'PRECOPY_ERR_UNEXPECTED_FRAME',
        // BITMAP(discard) between rounds is the switch, refused here for want of a guest to run.
        message:
          type === 'BITMAP'
            ? 'BITMAP(discard): postcopy needs a virtual-time run with a guest in CONFIG and an image of bytes (this one: wall clock, no guest, bytes image)'
            : `${type} is a postcopy frame; this migration has not entered postcopy`,
      });
      await destination.whenIdle();
      expect(destination.lastOutcome?.kind).toBe('discarded');
    }
  });
});

describe('a loss no plan foresaw', () => {
  it('the destination drops the link: both pause, the source recovers by itself after autoRecoverMs, verified', async () => {
    for (const transport of ['inproc', 'ws'] as const) {
      const seen: string[] = [];
      const r = await new Postcopy(
        options({
          transport,
          autoRecoverMs: 30,
          faults: { destDropsLinkAfter: 40 },
          onState: (s) => seen.push(s),
        }),
      ).run();
      expect([transport, r.status, r.verification.passed]).toEqual([transport, 'completed', true]);
      expect(r.recoveries).toBe(1);
      expect(seen).toEqual([
        'postcopy-active',
        'postcopy-paused',
        'postcopy-recover',
        'postcopy-active',
        'completed',
      ]);
    }
  });

  it('negative: without autoRecoverMs or recover() it stays paused (QEMU waits for migrate-recover)', async () => {
    let paused: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (paused = resolve));
    const pc = new Postcopy(
      options({ faults: { destDropsLinkAfter: 40 }, onState: (s) => s === 'postcopy-paused' && paused() }),
    );
    const run = pc.run();
    await reached;
    await new Promise((resolve) => setImmediate(resolve));
    expect(pc.state).toBe('postcopy-paused');
    pc.recover();
    expect((await run).verification.passed).toBe(true);
  });
});
