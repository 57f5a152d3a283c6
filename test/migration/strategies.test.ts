import fc from 'fast-check';
import { rampedLimit } from '../../src/migration/downtime-ramp';
import { runScenario } from '../../src/migration/index';
import type { MigrationResult, MmuCounters } from '../../src/migration/result';
import { StallDetector, xenRule, XEN_MAX_ITERS, type RoundClose } from '../../src/migration/stop-rule';

/** 32 MiB of random memory, raw pages, a uniform writer; a 30-round cap as in the examples. */
function scenario(migration: Record<string, unknown>, rate = '32MiB/s', vcpus = 1) {
  return {
    guest: {
      memory: '32MiB',
      vcpus,
      seed: 3,
      fill: { populated: '100%', content: 'random' },
      workload: { kind: 'uniform', rate },
    },
    migration: {
      'max-bandwidth': '128MiB/s',
      'downtime-limit': '30ms',
      'max-rounds': 30,
      encodings: ['raw'],
      ...migration,
    },
    run: { bandwidth: '1Gbit/s' },
  };
}

function sumRounds(r: MigrationResult): MmuCounters {
  const sum: MmuCounters = {
    faults: { fast: 0, slow: 0, spurious: 0 },
    exits: { pmlFull: 0, ringFull: 0 },
    harvest: { syncs: 0, bitmapWords: 0, ringEntries: 0, clearCalls: 0 },
    ringStalls: 0,
    ringStallMs: 0,
  };
  for (const { mmu } of r.precopy.rounds) {
    for (const k of ['fast', 'slow', 'spurious'] as const) sum.faults[k] += mmu!.faults[k];
    for (const k of ['pmlFull', 'ringFull'] as const) sum.exits[k] += mmu!.exits[k];
    for (const k of ['syncs', 'bitmapWords', 'ringEntries', 'clearCalls'] as const)
      sum.harvest[k] += mmu!.harvest[k];
    sum.ringStalls += mmu!.ringStalls;
    sum.ringStallMs += mmu!.ringStallMs;
  }
  return sum;
}

describe('MMU counters in the result', () => {
  it.each([['get'], ['manual'], ['ring']])(
    '%s: the rounds add up to the total, and only that mode pays its harvest',
    async (mode) => {
      const r = await runScenario(scenario({ 'dirty-log': mode }));
      const total = r.precopy.mmu!;
      // Round 0 holds the sync that enabling dirty logging did; the final round, the last one.
      expect(sumRounds(r)).toEqual(total);
      expect(total.harvest.syncs).toBe(r.ram['dirty-sync-count']);
      expect(total.harvest.bitmapWords > 0).toBe(mode !== 'ring');
      expect(total.harvest.ringEntries > 0).toBe(mode === 'ring');
      expect(total.harvest.clearCalls > 0).toBe(mode === 'manual');
    },
  );

  it('negative: a round baseline that never moves double-counts, and the sum test catches it', async () => {
    const r = await runScenario(scenario({}), { faults: { engine: { mmuBaselineStuck: true } } });
    expect(r.precopy.rounds.length).toBeGreaterThan(2);
    expect(sumRounds(r).faults.fast).toBeGreaterThan(r.precopy.mmu!.faults.fast);
  });

  it('write protection takes a fault per first write; D-bit tracking takes none and exits on a full PML buffer', async () => {
    const wrprot = (await runScenario(scenario({ tracking: 'wrprot' }))).precopy.mmu!;
    const dbit = (await runScenario(scenario({ tracking: 'dbit' }))).precopy.mmu!;
    expect(wrprot.faults.fast).toBeGreaterThan(1000);
    expect(wrprot.exits.pmlFull).toBe(0);
    expect(dbit.faults.fast).toBe(0);
    expect(dbit.exits.pmlFull).toBeGreaterThan(0);
  });

  it('ring: a writer faster than the reaper fills the ring and stalls; a slow one never does', async () => {
    // 4096 entries reaped every 100 ms: about 160 MiB/s per vCPU fills it.
    const hot = (await runScenario(scenario({ 'dirty-log': 'ring', 'max-rounds': 5 }, '1GiB/s'))).precopy
      .mmu!;
    const cool = (await runScenario(scenario({ 'dirty-log': 'ring' }, '32MiB/s'))).precopy.mmu!;
    expect(hot.exits.ringFull).toBeGreaterThan(0);
    expect(hot.ringStalls).toBeGreaterThan(0);
    expect(hot.ringStalls).toBeLessThanOrEqual(hot.exits.ringFull);
    // Each stall costs the vCPU at most one reaper period (100 ms) of run time; one vCPU here.
    expect(hot.ringStallMs).toBeGreaterThan(0);
    expect(hot.ringStallMs).toBeLessThanOrEqual(hot.exits.ringFull * 100);
    expect(cool.exits.ringFull).toBe(0);
    expect(cool.ringStalls).toBe(0);
    expect(cool.ringStallMs).toBe(0);
  });
});

const close = (over: Partial<RoundClose>): RoundClose => ({
  rounds: 3,
  remainingPages: 1000,
  pagesSent: 800,
  previousPagesSent: 900,
  totalPagesSent: 10_000,
  guestPages: 8192,
  bandwidth: 100,
  remainingBytes: 1000 * 4096,
  ...over,
});

describe('Xen’05 last-round rules', () => {
  it('fires on each of its four conditions and on none otherwise', () => {
    expect(xenRule(close({}))).toBeNull();
    expect(xenRule(close({ remainingPages: 49 }))).toBe('xen-pages');
    expect(xenRule(close({ remainingPages: 50 }))).toBeNull();
    expect(xenRule(close({ rounds: XEN_MAX_ITERS }))).toBe('xen-iterations');
    expect(xenRule(close({ totalPagesSent: 3 * 8192 + 1 }))).toBe('xen-factor');
    expect(xenRule(close({ totalPagesSent: 3 * 8192 }))).toBeNull();
    expect(xenRule(close({ pagesSent: 901 }))).toBe('xen-rate');
    expect(xenRule(close({ rounds: 1, pagesSent: 901, previousPagesSent: 0 }))).toBeNull();
  });

  it('ends a divergent migration early, where the threshold rule runs to the round cap', async () => {
    const xen = await runScenario(scenario({ 'stop-rule': 'xen' }, '160MiB/s'));
    const round = await runScenario(scenario({ 'stop-rule': 'round' }, '160MiB/s'));
    expect(round.precopy.stopReason).toBe('max-rounds');
    expect(xen.precopy.stopReason).toMatch(/^xen-(factor|rate)$/);
    expect(xen.precopy.converged).toBe(false);
    expect(xen.precopy.rounds.length).toBeLessThan(round.precopy.rounds.length);
  });

  it('agrees with the threshold when the migration converges anyway', async () => {
    const xen = await runScenario(scenario({ 'stop-rule': 'xen' }, '8MiB/s'));
    expect(xen.precopy.converged).toBe(true);
    expect(['threshold', 'xen-pages']).toContain(xen.precopy.stopReason);
  });
});

describe('the stall detector (KubeVirt VEP 248)', () => {
  const MiB = 2 ** 20;
  const at = (mib: number) => close({ remainingBytes: mib * MiB, bandwidth: 128 * 1024 });

  it('acts when remaining stops falling within the margin of the best, never while it falls', () => {
    const detector = new StallDetector(0.1, () => 300);
    expect(detector.decide(at(30))).toBeNull(); // the first figure is the best so far
    expect(detector.decide(at(20))).toBeNull(); // still falling
    expect(detector.decide(at(21))).toBe('stall'); // a local minimum passed, within 10 %
  });

  it('does not act beyond the margin, nor when the best would not fit the downtime budget', () => {
    const wide = new StallDetector(0.1, () => 300);
    wide.decide(at(20));
    expect(wide.decide(at(23))).toBeNull(); // 15 % above the best
    const tight = new StallDetector(0.1, () => 100); // 20 MiB at 128 MiB/s is 156 ms
    tight.decide(at(20));
    expect(tight.decide(at(21))).toBeNull();
  });

  it('never fires on a new minimum, and fires exactly when a stalled figure is within the margin and the best fits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 600 }),
        (mibs, margin, budget) => {
          const detector = new StallDetector(margin, () => budget);
          let best = Infinity;
          for (const mib of mibs) {
            const bytes = mib * MiB;
            const expected =
              bytes >= best && bytes <= best * (1 + margin) && best / (128 * 1024) <= budget ? 'stall' : null;
            expect(detector.decide(at(mib))).toBe(expected);
            best = Math.min(best, bytes);
          }
        },
      ),
      { seed: 248, numRuns: 200 },
    );
  });

  it('switches over a stalled migration at a local minimum, where the threshold rule hits the cap', async () => {
    const rate = '160MiB/s';
    const stall = await runScenario(scenario({ 'stop-rule': 'stall', 'stall-downtime': '500ms' }, rate));
    const round = await runScenario(scenario({ 'stop-rule': 'round' }, rate));
    expect(stall.precopy.stopReason).toBe('stall');
    expect(stall.precopy.rounds.length).toBeLessThan(round.precopy.rounds.length);
    expect(stall.status).toBe('completed');
    // Contrast: a budget no local minimum fits leaves only the cap.
    const strict = await runScenario(scenario({ 'stop-rule': 'stall', 'stall-downtime': '1ms' }, rate));
    expect(strict.precopy.stopReason).toBe('max-rounds');
  });
});

describe('a ramped downtime limit', () => {
  const p = { limit: 300, steps: 10, interval: 1000 };

  it('rises from limit / steps to the limit, per round (linear) or in time (nova)', () => {
    expect(rampedLimit({ ...p, ramp: 'linear' }, 99_999, 0)).toBe(30);
    expect(rampedLimit({ ...p, ramp: 'linear' }, 0, 4)).toBe(150);
    expect(rampedLimit({ ...p, ramp: 'linear' }, 0, 50)).toBe(300);
    expect(rampedLimit({ ...p, ramp: 'nova' }, 999, 99)).toBe(30);
    expect(rampedLimit({ ...p, ramp: 'nova' }, 2000, 0)).toBe(90);
    expect(rampedLimit({ ...p, ramp: 'none' }, 0, 0)).toBe(300);
  });

  it('lets a migration the full limit would stop early run longer, then converge as the limit rises', async () => {
    const rate = '96MiB/s';
    const ramped = await runScenario(
      scenario(
        { 'downtime-limit': '300ms', 'downtime-limit-ramp': 'linear', 'downtime-ramp-steps': 10 },
        rate,
      ),
    );
    const flat = await runScenario(scenario({ 'downtime-limit': '300ms' }, rate));
    const limits = ramped.precopy.rounds.filter((r) => !r.final).map((r) => r.downtimeLimit!);
    expect(limits[0]).toBe(30);
    for (let i = 1; i < limits.length; i++) expect(limits[i]).toBeGreaterThan(limits[i - 1]!);
    expect(ramped.precopy.converged).toBe(true);
    expect(ramped.precopy.rounds.length).toBeGreaterThan(flat.precopy.rounds.length);
    expect(ramped.downtime).toBeLessThan(flat.downtime);
    expect(flat.precopy.rounds.every((r) => r.downtimeLimit === 300)).toBe(true);
  });
});
