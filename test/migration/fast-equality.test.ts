/**
 * The three page backings against each other, same seed: where every page's size is exact (raw,
 * zero pages, lz4 over random data, the incrementer's byte-0 pages), stored bytes, generated
 * contents and fast mode's metadata give identical round statistics — rounds, per-round pages,
 * zero pages, bytes, durations, MMU counters, downtime, totals, status. On text-like memory under
 * lz4 fast mode's sizes are estimates: the byte error is bounded.
 */
import { runScenario } from '../../src/migration/index';
import type { MigrationResult } from '../../src/migration/result';

/**
 * Everything a sweep reads, without what only full mode has (the verification, the resumed
 * guest's post-run) or the markers saying it is missing.
 */
function statistics(r: MigrationResult) {
  const {
    verification: _v,
    metadataOnly: _m,
    resumed: _r,
    postRun: _p,
    postRunSkipped: _s,
    memory: _memory,
    ...precopy
  } = r.precopy;
  const { run: _run, ...scenario } = precopy.scenario as Record<string, unknown>;
  return { ...r, precopy: { ...precopy, scenario } };
}

function withBacking(input: ReturnType<typeof scenario>, backing: 'stored' | 'generated') {
  return { ...input, run: { ...input.run, backing } };
}

function scenario(seed: number, over: { guest?: object; migration?: object; run?: object }) {
  return {
    guest: {
      memory: '16MiB',
      seed,
      fill: { populated: '50%', content: 'random' },
      workload: { kind: 'uniform', rate: '100MiB/s' },
      ...over.guest,
    },
    migration: { 'max-bandwidth': '256MiB/s', 'downtime-limit': '30ms', 'max-rounds': 12, ...over.migration },
    run: { bandwidth: '1Gbit/s', ...over.run },
  };
}

const EXACT: [string, ReturnType<typeof scenario>][] = [
  ['uniform, raw, wrprot', scenario(1, { migration: { encodings: ['raw'] } })],
  [
    'hotcold, zero pages, dbit',
    scenario(2, {
      guest: { workload: { kind: 'hotcold', rate: '150MiB/s', hot: '2MiB' } },
      migration: { encodings: ['zero'], tracking: 'dbit' },
    }),
  ],
  [
    'sequential, lz4 over random memory, dirty ring',
    scenario(3, {
      guest: {
        fill: { populated: '100%', content: 'random' },
        workload: { kind: 'sequential', rate: '80MiB/s' },
      },
      migration: { encodings: ['zero', 'lz4'], 'dirty-log': 'ring' },
    }),
  ],
  [
    // 64 pages at 100 MiB/s: each byte 0 wraps every 0.64 s; the unfilled ones turn zero again.
    'incrementer, zero pages + lz4, manual dirty log',
    scenario(4, {
      guest: {
        fill: { populated: '25%', content: 'random' },
        workload: { kind: 'incrementer', size: '256KiB' },
      },
      migration: {
        encodings: ['zero', 'lz4'],
        'dirty-log': 'manual',
        'max-bandwidth': '8MiB/s',
        'downtime-limit': '10ms',
      },
    }),
  ],
  [
    'uniform, zero pages, auto-converge',
    scenario(5, {
      guest: { workload: { kind: 'uniform', rate: '200MiB/s', size: '4MiB' } },
      migration: { encodings: ['zero'], 'auto-converge': true, 'max-bandwidth': '64MiB/s', 'max-rounds': 60 },
    }),
  ],
  [
    'uniform on 2 vCPUs, raw, dirty ring, dirty-limit',
    scenario(6, {
      guest: {
        memory: '64MiB',
        vcpus: 2,
        fill: { populated: '100%' },
        workload: { kind: 'uniform', rate: '192MiB/s' },
      },
      migration: {
        encodings: ['raw'],
        'dirty-log': 'ring',
        'dirty-limit': true,
        'max-bandwidth': '128MiB/s',
        'max-rounds': 30,
      },
    }),
  ],
];

describe('stored, generated and fast mode give the same round statistics where sizes are exact', () => {
  it.each(EXACT)('%s', async (_name, input) => {
    const full = await runScenario(withBacking(input, 'stored'));
    const generated = await runScenario(withBacking(input, 'generated'));
    const fast = await runScenario(input, { mode: 'fast' });
    expect(full.precopy.verification?.passed).toBe(true);
    expect(generated.precopy.verification?.passed).toBe(true);
    expect(fast.precopy.metadataOnly).toBe(true);
    expect(fast.precopy.verification).toBeNull();
    expect([fast.precopy.resumed, fast.precopy.postRun]).toEqual([false, null]);
    expect(fast.precopy.postRunSkipped).toMatch(/fast .* no destination/);
    expect(full.precopy.resumed).toBe(true);
    // Scenarios that say something: several rounds, pages and bytes moved.
    expect(full.precopy.rounds.length).toBeGreaterThan(2);
    expect(statistics(generated)).toEqual(statistics(full));
    expect(statistics(fast)).toEqual(statistics(full));
  });

  it('covers throttling, dirty-limit penalties and wrapping counters (the scenarios exercise what they claim)', async () => {
    const auto = await runScenario(EXACT[4]![1], { mode: 'fast' });
    expect(Math.max(...auto.precopy.rounds.map((r) => r.throttle))).toBeGreaterThan(0);
    const limited = await runScenario(EXACT[5]![1], { mode: 'fast' });
    expect(Math.max(...limited.precopy.rounds.map((r) => r.dirtyLimitPenalty ?? 0))).toBeGreaterThan(0);
    const incr = await runScenario(EXACT[3]![1], { mode: 'fast' });
    // Live rounds resend incrementer pages, and some of them as zero pages (a wrapped byte 0).
    expect(incr.precopy.rounds.slice(1).some((r) => r.pagesZero > 0 && r.pagesZero < r.pagesSent)).toBe(true);
  });
});

describe('fast mode on text-like memory under lz4 (estimated sizes)', () => {
  // Measured: total bytes within 2.8%, bulk round within 2.6% over seeds 1-3 of this scenario
  // (32 MiB of text). Asserted with room for other seeds and workloads: 8% total, 10% bulk round.
  it.each([1, 2])('bounds the byte error against full mode (seed %i)', async (seed) => {
    const input = scenario(seed, {
      guest: {
        memory: '32MiB',
        fill: { populated: '100%', content: 'text' },
        workload: { kind: 'hotcold', rate: '100MiB/s', hot: '4MiB' },
      },
    });
    const full = await runScenario(input);
    const fast = await runScenario(input, { mode: 'fast' });
    const error = (a: number, b: number) => Math.abs(b - a) / a;
    expect(fast.status).toBe(full.status);
    expect(error(full.ram.transferred, fast.ram.transferred)).toBeLessThan(0.08);
    expect(error(full.precopy.rounds[0]!.bytesWire, fast.precopy.rounds[0]!.bytesWire)).toBeLessThan(0.1);
    // Page counts of the bulk round do not depend on sizes: exact.
    expect(fast.precopy.rounds[0]!.pagesSent).toBe(full.precopy.rounds[0]!.pagesSent);
    expect(fast.precopy.rounds[0]!.pagesZero).toBe(full.precopy.rounds[0]!.pagesZero);
  });
});

describe('negative: metadata that forgets zero → non-zero transitions', () => {
  it('is caught by the same comparison', async () => {
    const input = EXACT[1]![1];
    const full = await runScenario(input);
    const broken = await runScenario(input, {
      mode: 'fast',
      faults: { pageStates: { forgetZeroToNonzero: true } },
    });
    expect(statistics(broken)).not.toEqual(statistics(full));
    // The symptom: written pages that were zero still go out as zero pages.
    const zeros = (r: MigrationResult) => r.precopy.rounds.reduce((n, round) => n + round.pagesZero, 0);
    expect(zeros(broken)).toBeGreaterThan(zeros(full));
  });
});

describe('fast mode refuses what it cannot model, naming the field', () => {
  it.each([
    [{ run: { clock: 'wall' } }, /run\.clock: .*virtual time only; got wall/],
    [{ run: { transport: 'ws' } }, /run\.transport: .*allowed: transport inproc/],
    [
      { migration: { xbzrle: true, encodings: ['zero', 'xbzrle'] } },
      /migration\.encodings: .*no size model for xbzrle/,
    ],
  ])('%j', async (over, message) => {
    await expect(runScenario(scenario(1, over), { mode: 'fast' })).rejects.toThrow(message);
  });
});
