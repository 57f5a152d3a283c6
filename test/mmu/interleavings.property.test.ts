/**
 * Seeded property tests: random interleavings of guest writes and reads on two vCPUs, log
 * collections, TLB flushes, huge-page splits, aging and VM exits, in every log mode, over a
 * slot that starts out mapped with 2M pages. After every step the model checks precision; at
 * the end (vCPUs paused) completeness and quiescence; throughout, the permission lattice.
 */
import fc from 'fast-check';
import { KVM_DIRTY_LOG_INITIALLY_SET } from '../../src/mmu';
import { HI_HOST_WRITABLE, HI_MMU_WRITABLE, SPTE_W } from '../../src/mmu/spte';
import type { MmuFaults } from '../../src/mmu';
import type { LogMode, Setup } from './helpers';
import { collect, leaves, LOG_MODES, PAGE, setLogging, setup } from './helpers';

const PAGES = 2048;

type Op =
  | { kind: 'write'; vcpu: number; page: number }
  | { kind: 'read'; vcpu: number; page: number }
  | { kind: 'collect' }
  | { kind: 'flush' }
  | { kind: 'split'; page: number; len: number }
  | { kind: 'age'; page: number; len: number }
  | { kind: 'exit'; vcpu: number };

const page = fc.integer({ min: 0, max: PAGES - 1 });
const vcpu = fc.integer({ min: 0, max: 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('write' as const), vcpu, page }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), vcpu, page }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('collect' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('split' as const),
      page,
      len: fc.integer({ min: 1, max: 600 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('age' as const), page, len: fc.integer({ min: 1, max: 600 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('exit' as const), vcpu }) },
);

/** What the log may and must report, from the guest's accesses alone. */
class Model {
  /** Written since last reported: must be reported eventually. */
  readonly pending = new Set<number>();
  /** Accessed since last reported (a read fault may map writable and log): may be reported. */
  readonly mayReport = new Set<number>();
  /** INITIALLY_SET bits not yet collected. */
  readonly initial = new Set<number>();
  violations: string[] = [];

  reported(pages: number[]): void {
    for (const p of pages) {
      if (!this.mayReport.has(p) && !this.initial.has(p))
        this.violations.push(`page ${p} reported but not accessed`);
      this.pending.delete(p);
      this.mayReport.delete(p);
      this.initial.delete(p);
    }
  }
}

function run(mode: LogMode, eagerSplit: boolean, ops: Op[], faults: MmuFaults = {}): void {
  const s: Setup = setup(PAGES, {
    tracking: mode.tracking,
    manual: mode.manual,
    ring: mode.ring,
    hostLevel: 2,
    eagerSplit,
    faults,
  });
  const vcpus = [s.vcpu, s.vm.createVcpu()];
  // Mapped huge before logging starts, so splits and huge write-protection get exercised.
  for (let p = 0; p < PAGES; p += 256) s.vcpu.writeU32(p * PAGE, p);
  setLogging(s, true);
  const model = new Model();
  if (mode.manual !== undefined && mode.manual & KVM_DIRTY_LOG_INITIALLY_SET)
    for (let p = 0; p < PAGES; p++) model.initial.add(p);
  const doCollect = () => {
    // Kick the vCPUs first so the PML buffers are in the log (GET does this itself; rings do not).
    for (const v of vcpus) v.exit();
    model.reported(collect(s, mode));
  };
  const access = (i: number, f: () => boolean) => {
    for (let tries = 0; !f(); tries++) {
      expect(vcpus[i]!.ringFull).toBe(true);
      doCollect();
      expect(tries).toBeLessThan(2);
    }
  };
  for (const o of ops) {
    switch (o.kind) {
      case 'write':
        model.pending.add(o.page);
        model.mayReport.add(o.page);
        access(o.vcpu, () => vcpus[o.vcpu]!.writeU32(o.page * PAGE, o.page) === 'ok');
        break;
      case 'read':
        model.mayReport.add(o.page);
        access(o.vcpu, () => vcpus[o.vcpu]!.read(o.page * PAGE, 4).length === 4);
        break;
      case 'collect':
        doCollect();
        break;
      case 'flush':
        s.vm.flushRemoteTlbs();
        break;
      case 'split':
        s.vm.mmu.splitHugePages(o.page, Math.min(PAGES, o.page + o.len), 1);
        break;
      case 'age':
        s.vm.clearYoung(o.page * PAGE, o.len * PAGE);
        break;
      case 'exit':
        vcpus[o.vcpu]!.exit();
        break;
    }
  }
  for (const v of vcpus) v.pause();
  doCollect();
  expect(model.violations).toEqual([]);
  expect([...model.pending]).toEqual([]);
  expect(collect(s, mode)).toEqual([]);
  const broken = leaves(s.vm).filter(
    (l) =>
      (l.lo & SPTE_W && !(l.hi & HI_MMU_WRITABLE)) || (l.hi & HI_MMU_WRITABLE && !(l.hi & HI_HOST_WRITABLE)),
  );
  expect(broken).toEqual([]);
  expect(s.vm.stats().warnings).toEqual({});
}

describe('seeded interleavings of writes, reads, collections, flushes, splits and aging', () => {
  LOG_MODES.forEach((mode, i) =>
    it(mode.name, () => {
      fc.assert(
        fc.property(fc.boolean(), fc.array(op, { minLength: 1, maxLength: 150 }), (eagerSplit, ops) =>
          run(mode, eagerSplit, ops),
        ),
        { seed: 3100 + i, numRuns: 60 },
      );
    }),
  );
});

describe('the same properties catch a broken MMU', () => {
  const property = (mode: LogMode, faults: MmuFaults) =>
    fc.property(fc.boolean(), fc.array(op, { minLength: 1, maxLength: 150 }), (eagerSplit, ops) =>
      run(mode, eagerSplit, ops, faults),
    );
  it.each([
    ['no flush after reprotect', LOG_MODES[0]!.name, LOG_MODES[0]!, { skipFlushAfterReprotect: true }],
    ['no flush after reprotect', LOG_MODES[6]!.name, LOG_MODES[6]!, { skipFlushAfterReprotect: true }],
    ['reprotect marks the bitmap', LOG_MODES[2]!.name, LOG_MODES[2]!, { markBitmapOnReprotect: true }],
    ['fast path does not log', LOG_MODES[5]!.name, LOG_MODES[5]!, { dropFastPathLog: true }],
  ] as const)('%s (%s)', (_name, _mode, mode, faults) => {
    expect(() => fc.assert(property(mode, faults), { seed: 3200, numRuns: 60 })).toThrow(/Property failed/);
  });
});
