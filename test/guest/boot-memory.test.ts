/**
 * A running guest's memory is mapped, not faulted in (Guest option `bootMemory`, default
 * 'mapped'). Against the reference guest whose fill faulted every page in through vCPU 0, a
 * boot-mapped guest must be the same guest in everything a migration observes once dirty
 * logging is on: the page sizes after the eager split, the pages each round harvests (the dirty
 * bitmap, ring or manual log, in order), and the faults, exits and harvest counts of each round.
 * Its boot takes no fault at all, so the migration's MMU counters start from zero.
 */
import fc from 'fast-check';
import type { Backing } from '../../src/guest/memory';
import { Guest, parseGuestSpec, type GuestOptions } from '../../src/guest';
import type { MmuFaults } from '../../src/mmu';
import { DIRTY_RING_ENTRIES, DirtyTracker, type DirtyLogMode } from '../../src/migration/dirty-tracker';
import { virtualClock } from '../../src/util/clock';

interface Case {
  tracking: 'wrprot' | 'dbit';
  mode: DirtyLogMode;
  hostMappingLevel: 1 | 2;
  populated: string;
  seed: number;
  backing: Backing;
}

const ROUNDS = 4;
const ROUND_MS = 40;

/** What one guest showed: MMU page sizes after enable, then per round the pages to send and the MMU's counts. */
function observe(c: Case, boot: 'mapped' | 'faulted', faults: MmuFaults = {}) {
  const clock = virtualClock();
  const spec = parseGuestSpec({
    memory: '48MiB',
    vcpus: 2,
    seed: c.seed,
    fill: { populated: c.populated, content: 'text' },
    workload: { kind: 'hotcold', rate: '200MiB/s', hot: '4MiB' },
  });
  const options: GuestOptions = {
    vm: { tracking: c.tracking },
    faults: { mmu: faults },
    dirtyRing: c.mode === 'ring' ? DIRTY_RING_ENTRIES : undefined,
    hostMappingLevel: c.hostMappingLevel,
    bootMemory: boot,
    backing: c.backing,
  };
  const guest = Guest.create(spec, clock, options);
  const atStart = guest.vm.stats();
  const tracker = new DirtyTracker(guest.vm, guest.memoryRegion(), guest.pages, c.mode);
  tracker.enable();
  const { pages4k, pages2m, pages1g, pageTables } = guest.vm.stats();
  const rounds: unknown[] = [];
  const out = new Uint32Array(guest.pages);
  guest.start();
  let previous = guest.vm.stats();
  for (let r = 0; r < ROUNDS; r++) {
    const sent = Array.from(out.subarray(0, tracker.nextBatch(out, out.length)));
    clock.advanceBy(ROUND_MS);
    guest.catchUp();
    tracker.reapRings();
    const synced = tracker.sync();
    const now = guest.vm.stats();
    rounds.push({
      sent,
      synced,
      faults: {
        fast: now.faults.fast - previous.faults.fast,
        slow: now.faults.slow - previous.faults.slow,
        spurious: now.faults.spurious - previous.faults.spurious,
      },
      exits: {
        pml: now.exits.pmlFull - previous.exits.pmlFull,
        ring: now.exits.ringFull - previous.exits.ringFull,
      },
      pages: [now.pages4k, now.pages2m, now.pages1g],
    });
    previous = now;
  }
  guest.stop();
  return {
    atStart,
    afterEnable: { pages4k, pages2m, pages1g, pageTables },
    rounds,
    cost: { ...tracker.cost },
    hash: guest.memory.imageHash() ?? Array.from(guest.pageStates!.states).join(''),
  };
}

const arbCase = fc.record({
  tracking: fc.constantFrom('wrprot' as const, 'dbit' as const),
  mode: fc.constantFrom('get' as const, 'manual' as const, 'ring' as const),
  hostMappingLevel: fc.constantFrom(1 as const, 2 as const),
  populated: fc.constantFrom('0%', '3%', '50%', '100%'),
  seed: fc.integer({ min: 1, max: 1000 }),
  backing: fc.constantFrom('stored' as const, 'generated' as const, 'metadata' as const),
});

describe('boot memory: mapped as a running guest’s, equal to faulted in', () => {
  it('property: same page sizes after enabling logging, same harvests, faults and exits in every round', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const mapped = observe(c, 'mapped');
        const faulted = observe(c, 'faulted');
        expect(mapped.afterEnable).toEqual(faulted.afterEnable);
        expect(mapped.rounds).toEqual(faulted.rounds);
        expect(mapped.cost).toEqual(faulted.cost);
        expect(mapped.hash).toBe(faulted.hash);
        // The boot took no fault: the MMU's counters start at zero, the boot mapping's apart.
        expect(mapped.atStart.faults).toEqual({ fast: 0, slow: 0, spurious: 0, mmio: 0, retry: 0 });
        expect(mapped.atStart.bootMap.leaves).toBe(
          faulted.atStart.pages4k + faulted.atStart.pages2m + faulted.atStart.pages1g,
        );
        if (c.populated !== '0%') expect(faulted.atStart.faults.slow).toBeGreaterThan(0);
      }),
      { seed: 13, numRuns: 24 },
    );
  });

  it('the harvests see work: rounds send pages and take faults (the comparison is not of empty rounds)', () => {
    const { rounds } = observe(
      { tracking: 'wrprot', mode: 'get', hostMappingLevel: 1, populated: '50%', seed: 3, backing: 'stored' },
      'mapped',
    );
    const r = rounds as { sent: number[]; faults: { fast: number; slow: number } }[];
    expect(r[0]!.sent.length).toBe(12288);
    expect(r[1]!.sent.length).toBeGreaterThan(500);
    // Writes to populated pages take the fast path (write-protected), to unpopulated ones the slow.
    expect(r.reduce((n, x) => n + x.faults.fast, 0)).toBeGreaterThan(0);
    expect(r.reduce((n, x) => n + x.faults.slow, 0)).toBeGreaterThan(0);
  });

  it('negative: a boot mapping that leaves W clear shows up as faults the running guest never takes (D-bit tracking)', () => {
    const c: Case = {
      tracking: 'dbit',
      mode: 'get',
      hostMappingLevel: 1,
      populated: '50%',
      seed: 5,
      backing: 'metadata',
    };
    const broken = observe(c, 'mapped', { bootMapWithoutWrite: true });
    const faulted = observe(c, 'faulted');
    expect(broken.rounds).not.toEqual(faulted.rounds);
    const fast = (o: typeof broken) => (o.rounds as { faults: { fast: number } }[])[0]!.faults.fast;
    expect(fast(broken)).toBeGreaterThan(fast(faulted));
  });
});
