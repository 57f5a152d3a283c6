/**
 * Over a simulated minute each workload makes exactly the writes its rate asks for (to the
 * floor of rate × time) and touches the number of distinct pages its parameters predict: for
 * random writes the birthday expectation N·(1 − (1 − 1/N)^W), within 2 %.
 */
import { checkEdgeRule } from '../../src/guest';
import { makeGuest } from './helpers';

const MINUTE = 60_000;

/** Expected distinct pages after `writes` uniform random writes over `pages`. */
function expectedDistinct(pages: number, writes: number): number {
  return pages * (1 - Math.pow(1 - 1 / pages, writes));
}

function runMinute(input: object, regionPages = 0) {
  const { guest, clock } = makeGuest({ fill: { populated: '0%' }, ...input });
  const minute = guest.meter.open({ regionPages });
  const second = guest.meter.open();
  const perSecond: { writes: number; distinct: number }[] = [];
  guest.start();
  for (let t = 1000; t <= MINUTE; t += 1000) {
    clock.advanceTo(t);
    perSecond.push(second.reset());
  }
  const stats = guest.stats();
  guest.stop();
  return { guest, minute: minute.sample(), perSecond, stats };
}

describe('workload rates over a simulated minute', () => {
  it('idle makes a few writes per second (8 by default)', () => {
    const { stats } = runMinute({ memory: '64MiB' });
    expect(stats.writes).toBe(480);
    expect(stats.achievedRate).toBeCloseTo(8 * 4096, 6);
    expect(stats.keepingUp).toBe(true);
  });

  it('uniform: rate exact, distinct pages as the birthday expectation', () => {
    const { stats, minute } = runMinute({ memory: '1GiB', workload: { kind: 'uniform', rate: '1MiB/s' } });
    expect(stats.writes).toBe(256 * 60);
    expect(stats.requestedRate).toBe(stats.achievedRate);
    expect(stats.achievedRate).toBeCloseTo(1024 ** 2, 3);
    expect(minute.distinct / expectedDistinct(262144, 256 * 60)).toBeCloseTo(1, 1.7);
  });

  it('hotcold: the writable working set saturates at the hot set', () => {
    const hotOnly = runMinute({
      memory: '64MiB',
      workload: {
        kind: 'hotcold',
        rate: '4MiB/s',
        hot: '4MiB',
        hotShare: 1,
        layout: 'contiguous',
        offset: '8MiB',
      },
    });
    expect(hotOnly.stats.writes).toBe(1024 * 60);
    expect(hotOnly.minute.distinct).toBe(1024);
    // A 1 s window holds 1024 writes to 1024 hot pages: the birthday expectation, 647.
    const meanSecond = hotOnly.perSecond.reduce((n, s) => n + s.distinct, 0) / 60;
    expect(meanSecond / expectedDistinct(1024, 1024)).toBeCloseTo(1, 1.7);
    for (let p = 0; p < 16384; p++) if (hotOnly.guest.bytes.has(p)) expect(p >= 2048 && p < 3072).toBe(true);

    // With 10 % cold writes the set grows past the hot pages only by the cold writes' spread.
    const mixed = runMinute({ memory: '64MiB', workload: { kind: 'hotcold', rate: '4MiB/s', hot: '4MiB' } });
    const coldWrites = 0.1 * 1024 * 60;
    const expected = 1024 + (16384 - 1024) * (1 - Math.pow(1 - 1 / 16384, coldWrites));
    expect(mixed.minute.distinct / expected).toBeCloseTo(1, 1.7);
  });

  it('sequential sweeps its buffer: distinct = writes until it wraps, then the buffer', () => {
    const { stats, perSecond, minute } = runMinute({
      memory: '64MiB',
      vcpus: 2,
      workload: { kind: 'sequential', rate: '4MiB/s', size: '16MiB' },
    });
    expect(stats.writes).toBe(1024 * 60);
    for (const s of perSecond) expect(s.distinct).toBe(1024);
    expect(minute.distinct).toBe(4096);
  });

  it('phased alternates idle and burst seconds', () => {
    const { stats, perSecond } = runMinute({
      memory: '64MiB',
      workload: {
        kind: 'phased',
        phases: [
          { duration: '1s', workload: { kind: 'idle' } },
          { duration: '1s', workload: { kind: 'uniform', rate: '4MiB/s' } },
        ],
      },
    });
    expect(Math.abs(stats.writes - 30 * (8 + 1024))).toBeLessThanOrEqual(1);
    perSecond.forEach((s, i) => expect(Math.abs(s.writes - (i % 2 === 0 ? 8 : 1024))).toBeLessThanOrEqual(1));
  });

  it('phased without repeat goes quiet after its schedule', () => {
    const { stats } = runMinute({
      memory: '64MiB',
      workload: {
        kind: 'phased',
        repeat: false,
        phases: [{ duration: '2s', workload: { kind: 'uniform', rate: '4MiB/s' } }],
      },
    });
    expect(stats.writes).toBe(2048);
  });

  it('incrementer rewrites its region in a loop and keeps the edge rule', () => {
    const { guest, stats, minute } = runMinute({
      memory: '64MiB',
      workload: { kind: 'incrementer', rate: '1MiB/s', offset: '1MiB', size: '1MiB' },
    });
    expect(stats.writes).toBe(256 * 60);
    expect(minute.distinct).toBe(256);
    expect(checkEdgeRule(guest.bytes, 256, 256).passed).toBe(true);
    // 60 full passes: every counter byte is 60.
    expect(guest.bytes.read(256)[0]).toBe(60);
  });

  it('replay writes exactly the trace, repeating every period', () => {
    const { stats, perSecond } = runMinute({
      memory: '64MiB',
      workload: { kind: 'replay', trace: '# t gfns\n0 7\n250 100-199\n900.5, 0x1000+50', period: '2s' },
    });
    expect(stats.writes).toBe(30 * 151 + 1); // the 31st cycle's record at time 0 is due at exactly 60 s
    expect(perSecond[0]!.writes).toBe(151);
    expect(perSecond[1]!.writes).toBe(1); // nothing in (1 s, 2 s) but the next cycle's first record, due at 2 s
    expect(perSecond[2]!.writes).toBe(150);
  });

  it('per-region counts add up to the distinct pages (the heatmap row)', () => {
    const { minute } = runMinute({ memory: '64MiB', workload: { kind: 'uniform', rate: '4MiB/s' } }, 1024);
    expect(minute.byRegion).toHaveLength(16);
    expect(minute.byRegion.reduce((a, b) => a + b, 0)).toBe(minute.distinct);
  });
});
