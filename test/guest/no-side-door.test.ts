/**
 * No side door: every byte the guest changes while dirty logging is on is reported by the next
 * harvest, in bitmap mode (KVM_GET_DIRTY_LOG) and ring mode (harvest + KVM_RESET_DIRTY_RINGS).
 * The negative tests break the path on purpose — the guest writing behind the MMU, the MMU
 * skipping its TLB flush or its fast-path log — and the same check catches each.
 */
import fc from 'fast-check';
import type { Guest, GuestOptions } from '../../src/guest';
import { changedPages, copyMemory, makeGuest } from './helpers';

type Mode = 'bitmap' | 'ring';

/** One harvest: the set of pages reported dirty since the previous one. */
function harvest(guest: Guest, mode: Mode): Set<number> {
  const dirty = new Set<number>();
  if (mode === 'bitmap') {
    const bitmap = new Uint32Array(Math.ceil(guest.pages / 64) * 2);
    guest.vm.getDirtyLog(guest.slot, bitmap);
    for (let p = 0; p < guest.pages; p++) if (bitmap[p >>> 5]! & (1 << (p & 31))) dirty.add(p);
  } else {
    // Kick every vCPU out first, as QEMU's ring reaper does: an exit drains its PML buffer into its ring.
    for (const vcpu of guest.vm.vcpus) vcpu.exit();
    for (const vcpu of guest.vm.vcpus) for (const gfn of vcpu.harvestDirtyRing()) dirty.add(gfn.offset);
    guest.vm.resetDirtyRings();
  }
  return dirty;
}

interface Scenario {
  mode: Mode;
  /** Write protection (default) or D-bit clearing with PML. */
  tracking?: 'wrprot' | 'dbit';
  seed: number;
  vcpus: number;
  workload: object;
  /** Clock ms to run before each harvest. */
  steps: number[];
  options?: GuestOptions;
}

/** Run the scenario; returns pages whose bytes changed but that no harvest reported, and the guest. */
function unreported({ mode, tracking = 'wrprot', seed, vcpus, workload, steps, options = {} }: Scenario) {
  const { guest, clock } = makeGuest(
    { memory: '16MiB', vcpus, seed, fill: { populated: '4MiB' }, workload },
    { ...options, vm: { tracking, ...options.vm }, dirtyRing: mode === 'ring' ? 1024 : undefined },
  );
  guest.setDirtyLogging(true);
  let before = copyMemory(guest.bytes);
  const missed: number[] = [];
  let ringFilled = false;
  guest.start();
  for (const ms of steps) {
    clock.advanceBy(ms);
    guest.catchUp();
    ringFilled ||= guest.vm.vcpus.some((v) => v.ringFull);
    const dirty = harvest(guest, mode);
    missed.push(...changedPages(before, guest.bytes).filter((p) => !dirty.has(p)));
    before = copyMemory(guest.bytes);
  }
  guest.stop();
  return { missed, guest, ringFilled };
}

const workloads = fc.constantFrom<object>(
  { kind: 'uniform', rate: '512MiB/s' }, // fills the ring's 960-entry soft limit in long steps
  { kind: 'hotcold', rate: '64MiB/s', hot: '64KiB' },
  { kind: 'sequential', rate: '32MiB/s', writeSize: 4096 },
  { kind: 'incrementer', rate: '64MiB/s', offset: 0, size: '1MiB' },
);

describe.each([
  ['bitmap', 'wrprot', 11],
  ['bitmap', 'dbit', 13],
  ['ring', 'wrprot', 12],
  ['ring', 'dbit', 14],
] as const)('no side door (%s mode, %s tracking)', (mode, tracking, seed) => {
  it('every changed page is in the next harvest, whatever the workload and timing', () => {
    let ringFilled = 0;
    fc.assert(
      fc.property(
        fc.nat(1000),
        fc.integer({ min: 1, max: 3 }),
        workloads,
        fc.array(
          fc.integer({ min: 1, max: 160 }).map((quarters) => quarters / 4),
          { minLength: 1, maxLength: 8 },
        ),
        (seed, vcpus, workload, steps) => {
          const run = unreported({ mode, tracking, seed, vcpus, workload, steps });
          if (run.ringFilled) ringFilled++;
          expect(run.missed).toEqual([]);
          // Nothing lost on the way either: every owed write was made or is still owed by a blocked vCPU.
          const stats = run.guest.stats();
          expect(stats.writes + stats.pending).toBe(stats.requested);
        },
      ),
      // Plus one run sure to stall on a full ring: one vCPU writing 512 MiB/s for 40 ms between harvests.
      { seed, numRuns: 10, examples: [[1, 1, { kind: 'uniform', rate: '512MiB/s' }, [40, 40]]] },
    );
    // The runs include vCPUs stalled on a full ring (ring mode), not just easy ones.
    if (mode === 'ring') expect(ringFilled).toBeGreaterThan(0);
  });

  const hot = { kind: 'hotcold', rate: '64MiB/s', hot: '64KiB' };
  const base = { mode, tracking, seed: 1, vcpus: 2, workload: hot, steps: [5, 5, 5, 5, 5] };

  it('the check itself holds on the faultless path (control for the negatives below)', () => {
    expect(unreported(base).missed).toEqual([]);
  });

  it('catches a guest that writes behind the MMU (fault: sideDoor)', () => {
    expect(
      unreported({ ...base, options: { faults: { guest: { sideDoor: true } } } }).missed.length,
    ).toBeGreaterThan(0);
  });

  it('catches an MMU that skips the TLB flush after re-protecting (fault: skipFlushAfterReprotect)', () => {
    const options = { faults: { mmu: { skipFlushAfterReprotect: true } } };
    expect(unreported({ ...base, options }).missed.length).toBeGreaterThan(0);
  });
});

describe('ring full', () => {
  it('a vCPU whose ring fills stops, owes its writes, and makes them after the reset', () => {
    const { guest, clock } = makeGuest(
      { memory: '8MiB', fill: { populated: '0%' }, workload: { kind: 'uniform', rate: '256MiB/s' } },
      { dirtyRing: 1024 },
    );
    guest.setDirtyLogging(true);
    guest.start();
    clock.advanceTo(40); // 2621 writes over 2048 pages: more distinct pages than the ring's soft limit (960)
    expect(guest.vm.vcpus[0]!.ringFull).toBe(true);
    const stalled = guest.stats();
    expect(stalled.pending).toBeGreaterThan(0);
    clock.advanceTo(80);
    expect(guest.stats().writes).toBe(stalled.writes); // stuck in the ring-full exit
    harvest(guest, 'ring');
    clock.advanceTo(81);
    guest.stop();
    const after = guest.stats();
    expect(after.writes).toBeGreaterThan(stalled.writes);
    expect(after.writes + after.pending).toBe(after.requested);
  });

  it('catches a guest that forgets the writes a blocked vCPU owes (fault: dropOwedWrites)', () => {
    const { guest, clock } = makeGuest(
      { memory: '8MiB', fill: { populated: '0%' }, workload: { kind: 'uniform', rate: '256MiB/s' } },
      { dirtyRing: 1024, faults: { guest: { dropOwedWrites: true } } },
    );
    guest.setDirtyLogging(true);
    guest.start();
    clock.advanceTo(40);
    harvest(guest, 'ring');
    clock.advanceTo(41);
    guest.stop();
    const stats = guest.stats();
    expect(stats.writes + stats.pending).toBeLessThan(stats.requested);
  });
});
