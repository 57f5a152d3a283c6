/**
 * multifd: pages over N channels (each its own queue in process, its own WebSocket over ws), a
 * sync per round at the destination, zero-page detection where QEMU does it, and the sender CPU
 * model. The barrier's negative test: with it off, a slow channel's older copy of a page lands
 * after a newer copy from another channel, and the image no longer verifies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Destination } from '../../src/dest/destination';
import { connectSource, type Transport, type TransportHandlers } from '../../src/link/index';
import { connectWs } from '../../src/link/ws-client';
import { listenWs } from '../../src/link/ws-server';
import { runSweepLocal } from '../../src/sweep/local';
import { expandSweep } from '../../src/sweep/points';
import { ENGINE_RUNNER } from '../../src/sweep/runner';
import { parseSweepSpec } from '../../src/sweep/spec';
import { ResultsStore } from '../../src/sweep/store';
import { decodeFrame } from '../../src/wire/frames';
import { createSource, migrate, runScenario, type DestinationLink } from '../../src/migration/index';
import type { MigrationResult } from '../../src/migration/result';
import { parseScenario, ScenarioError } from '../../src/migration/scenario';

const hotcold = {
  guest: {
    memory: '16MiB',
    seed: 7,
    fill: { populated: '60%', content: 'random' },
    workload: { kind: 'hotcold', rate: '24MiB/s', hot: '2MiB' },
  },
  migration: { 'max-bandwidth': '64MiB/s', 'downtime-limit': '20ms', multifd: true, 'multifd-channels': 3 },
  run: { latency: '1ms', 'post-run': '0ms' },
};

/** A channel transport whose frames reach the destination one macrotask late (a slow connection). */
function lagging(inner: Transport): Transport {
  return {
    send: (frame, onWritten) => {
      // The source may reuse the buffer once written: the copy travels late.
      const copy = Buffer.from(frame);
      onWritten?.();
      setImmediate(() => void inner.send(copy).catch(() => undefined));
      return Promise.resolve();
    },
    setHandlers: (h: TransportHandlers) => inner.setHandlers(h),
    close: (code, reason) => setImmediate(() => inner.close(code, reason)),
    get bufferedAmount() {
      return inner.bufferedAmount;
    },
  };
}

async function runWith(
  input: unknown,
  options: { faultNoBarrier?: boolean; slowChannel?: number } = {},
): Promise<{ result: MigrationResult; destination: Destination }> {
  const scenario = parseScenario(input);
  const token = 'multifd-test';
  const destination = new Destination({ token, faults: { noBarrier: options.faultNoBarrier } });
  const link: DestinationLink = {
    destination,
    connect: () =>
      connectSource({
        transport: 'inproc',
        token,
        destination,
        channels: scenario.migration['multifd-channels'],
        faults: { channel: (i, t) => (i === options.slowChannel ? lagging(t) : t) },
      }),
    close: async () => undefined,
  };
  const source = createSource(scenario);
  try {
    return { result: await migrate(scenario, source, link), destination };
  } finally {
    source.stop();
  }
}

describe('multifd', () => {
  it('spreads the pages over the channels and verifies the image', async () => {
    const r = await runScenario(hotcold);
    expect(r.status).toBe('completed');
    expect(r.precopy.verification?.passed).toBe(true);
    const sender = r.precopy.sender!;
    expect(sender).toMatchObject({ multifd: true, channels: 3, 'zero-page-detection': 'multifd' });
    expect(sender.perChannel).toHaveLength(3);
    const pages = sender.perChannel.map((c) => c.pages);
    const total = pages.reduce((a, b) => a + b, 0);
    // Every page went over a channel (zero detection is the channels' own), spread nearly evenly.
    expect(sender.migrationThread.pages).toBe(0);
    expect(total).toBe(r.precopy.rounds.reduce((a, x) => a + x.pagesSent, 0));
    for (const p of pages) expect(p).toBeGreaterThan(total / 3 - 256);
    expect(r.ram['multifd-bytes']).toBe(sender.perChannel.reduce((a, c) => a + c.bytes, 0));
    expect(sender.migrationThread.bytes).toBe(0);
    expect(r.ram['multifd-bytes']).toBe(r.precopy.rounds.reduce((a, x) => a + x.bytesWire, 0));
    expect(sender.encodeRateSource).toBe('default');
  });

  it('keeps the round order with a slow channel: the barrier holds the fast ones (verified)', async () => {
    const { result } = await runWith(hotcold, { slowChannel: 1 });
    expect(result.status).toBe('completed');
    expect(result.precopy.verification?.passed).toBe(true);
    expect(result.precopy.rounds.length).toBeGreaterThan(2);
  });

  it('negative: without the barrier an older copy from the slow channel overwrites a newer one', async () => {
    const { result } = await runWith(hotcold, { slowChannel: 1, faultNoBarrier: true });
    // Counts and hashes per channel still match (each channel's own order is intact) ...
    expect(result.status).toBe('completed');
    // ... but the image does not: a page of round N+1 was overwritten by round N's copy.
    expect(result.precopy.verification?.passed).toBe(false);
    expect(result.precopy.verification?.reason).toMatch(/hash/i);
  });

  it('without the slow channel the missing barrier goes unnoticed (the negative test needs the lag)', async () => {
    const { result } = await runWith(hotcold, { faultNoBarrier: true });
    expect(result.precopy.verification?.passed).toBe(true);
  });

  it('legacy zero-page detection keeps zero pages on the migration thread and the main link', async () => {
    const zeros = { ...hotcold, guest: { ...hotcold.guest, fill: { populated: '30%', content: 'random' } } };
    const legacy = await runScenario({
      ...zeros,
      migration: { ...zeros.migration, 'zero-page-detection': 'legacy' },
    });
    expect(legacy.precopy.verification?.passed).toBe(true);
    const s = legacy.precopy.sender!;
    expect(s.migrationThread.zeroPages).toBeGreaterThan(1000);
    expect(s.migrationThread.zeroPages).toBe(s.migrationThread.pages);
    expect(s.perChannel.every((c) => c.zeroPages === 0)).toBe(true);
    const none = await runScenario({
      ...zeros,
      migration: { ...zeros.migration, 'zero-page-detection': 'none' },
    });
    expect(none.precopy.verification?.passed).toBe(true);
    expect(none.ram.duplicate).toBe(0);
    expect(none.ram.transferred).toBeGreaterThan(legacy.ram.transferred);
  });

  it('validates its fields like the others, naming them', () => {
    const bad = (migration: object) => () => parseScenario({ ...hotcold, migration });
    expect(bad({ multifd: true, 'multifd-channels': 0 })).toThrow(
      /migration\.multifd-channels: 0 is outside the allowed range: an integer in \[1, 255\]/,
    );
    expect(bad({ 'zero-page-detection': 'auto' })).toThrow(
      /migration\.zero-page-detection: must be one of none, legacy, multifd/,
    );
    expect(bad({ 'encode-rate': '0' })).toThrow(ScenarioError);
    expect(bad({ multifd: true, xbzrle: true })).toThrow(
      /migration\.multifd: multifd and xbzrle exclude each other/,
    );
    const flags = parseScenario(hotcold, { multifd: 'on', 'multifd-channels': '8', 'encode-rate': '2GiB/s' });
    expect(flags.migration).toMatchObject({
      multifd: true,
      'multifd-channels': 8,
      'encode-rate': 2 * 1024 ** 3,
    });
  });
});

describe('the sender CPU model', () => {
  // Scaled down (64 MiB/s per thread, a 256 MiB/s link): the same ratios as 1 GiB/s on 32 Gbit/s,
  // at rates the in-run predictor steps through quickly.
  const RATE = 64 * 1024 ** 2;
  /** A nearly idle guest, all random: the bulk round is every page, raw, so page rate = throughput. */
  const bulk = (migration: object) =>
    runScenario({
      guest: {
        memory: '32MiB',
        seed: 3,
        fill: { populated: '100%', content: 'random' },
        workload: { kind: 'uniform', rate: '1MiB/s' },
      },
      migration: { 'max-bandwidth': '256MiB/s', encodings: 'raw', 'encode-rate': '64MiB/s', ...migration },
      run: { bandwidth: '256MiB/s', 'post-run': '0ms' },
    });
  const pagesPerSecond = (r: MigrationResult) => {
    const round = r.precopy.rounds[0]!;
    return round.pagesSent / (round.duration / 1000);
  };

  it('one channel is CPU-bound; N channels scale until the link is the limit', async () => {
    const rate: Record<number, number> = {};
    for (const channels of [1, 2, 4, 8]) {
      const r = await bulk({ multifd: true, 'multifd-channels': channels });
      expect(r.precopy.verification?.passed).toBe(true);
      rate[channels] = pagesPerSecond(r);
      const cpu = r.precopy.sender!.perChannel.map((c) => c.cpuTime!);
      // Each channel's CPU time is its pages at the encode rate.
      r.precopy.sender!.perChannel.forEach((c, i) =>
        expect(cpu[i]).toBeCloseTo(((c.pages * 4096) / RATE) * 1000, 6),
      );
    }
    const cpuBound = RATE / 4096;
    expect(rate[1]! / cpuBound).toBeCloseTo(1, 2);
    expect(rate[2]! / (2 * cpuBound)).toBeCloseTo(1, 2);
    // At 4 channels the link (4 × the rate, framing included) is the limit: 8 channels gain nothing.
    const linkBound = (4 * RATE) / (4096 + 7 + (16 + 8) / 64);
    expect(rate[4]! / linkBound).toBeCloseTo(1, 2);
    expect(rate[8]! / linkBound).toBeCloseTo(1, 2);
  });

  it('without multifd the one migration thread is unmodelled unless encode-rate says so', async () => {
    const free = await bulk({ 'encode-rate': undefined });
    expect(free.precopy.sender).toBeUndefined();
    const linkBound = (4 * RATE) / (4096 + 7 + (16 + 8) / 64);
    expect(pagesPerSecond(free) / linkBound).toBeCloseTo(1, 2);
    const one = await bulk({});
    expect(one.precopy.sender).toMatchObject({
      multifd: false,
      encodeRate: RATE,
      encodeRateSource: 'scenario',
    });
    expect(pagesPerSecond(one) / (RATE / 4096)).toBeCloseTo(1, 2);
  });
});

describe('multifd over WebSocket', () => {
  it('opens one connection per channel beside the main link and verifies the image', async () => {
    const token = 'multifd-ws';
    const destination = new Destination({ token });
    const paths: string[] = [];
    const server = await listenWs({ token, keepaliveMs: 0 }, (t, channel) => {
      paths.push(channel === undefined ? 'main' : `channel ${channel}`);
      if (channel === undefined) destination.attach(t);
      else if (typeof channel === 'number') destination.attachChannel(t, channel);
    });
    const scenario = parseScenario(hotcold);
    const source = createSource(scenario);
    try {
      // A channel with no migration to join is turned away.
      const stray = await connectWs({
        url: `${server.url}/channel/0`,
        token,
        clock: source.clock,
        keepaliveMs: 0,
      });
      const refused = await new Promise<string>((resolve) =>
        stray.setHandlers({ message: (f) => resolve(decodeFrame(f).type), close: () => resolve('closed') }),
      );
      expect(refused).toBe('ERROR');
      paths.length = 0;
      const link: DestinationLink = {
        connect: () =>
          connectSource({
            transport: 'ws',
            url: server.url,
            token,
            channels: 3,
            clock: source.clock,
            keepaliveMs: 0,
          }),
        close: async () => undefined,
      };
      const r = await migrate(scenario, source, link);
      expect(paths).toEqual(['main', 'channel 0', 'channel 1', 'channel 2']);
      expect(r.status).toBe('completed');
      expect(r.precopy.verification?.passed).toBe(true);
      expect(r.precopy.sender!.perChannel.every((c) => c.bytes > 0)).toBe(true);
    } finally {
      source.stop();
      await server.close();
    }
  });
});

describe('sweeps over the multifd fields', () => {
  it('expand and run points that vary multifd, channels, zero-page detection and encode rate', async () => {
    const spec = parseSweepSpec({
      base: {
        guest: { memory: '16MiB', workload: { kind: 'uniform', rate: '16MiB/s' } },
        migration: { 'max-bandwidth': '1GiB/s', 'downtime-limit': '30ms', 'max-rounds': 10 },
        run: { bandwidth: '1GiB/s' },
      },
      list: [
        { 'migration.multifd': false },
        { 'migration.multifd': true, 'migration.multifd-channels': 1, 'migration.encode-rate': '256MiB/s' },
        {
          'migration.multifd': true,
          'migration.multifd-channels': 4,
          'migration.encode-rate': '256MiB/s',
          'migration.zero-page-detection': 'legacy',
        },
      ],
      seeds: [2],
      mode: 'fast',
    });
    const dir = mkdtempSync(join(tmpdir(), 'precopy-multifd-'));
    try {
      const store = new ResultsStore(join(dir, 'r.jsonl'));
      const progress = await runSweepLocal(expandSweep(spec), store, { runner: ENGINE_RUNNER, workers: 1 });
      const results = store.all().map((r) => r.result!);
      store.close();
      expect(progress).toMatchObject({ done: 3, total: 3, lost: 0 });
      const [single, one, four] = [false, 1, 4].map((c) =>
        results.find((r) => (r.precopy.sender?.channels ?? false) === (c === false ? false : c))!,
      );
      expect(single!.precopy.sender).toBeUndefined();
      expect(four!.precopy.sender).toMatchObject({ channels: 4, 'zero-page-detection': 'legacy' });
      // A 256 MiB/s channel cannot fill a 1 GiB/s link; four can.
      expect(one!['total-time']).toBeGreaterThan(four!['total-time'] * 1.5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
