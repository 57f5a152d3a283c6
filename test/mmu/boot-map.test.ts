/**
 * The boot mapping (Vm.mapBootMemory): a running guest's memory is mapped before a migration
 * starts. Against the reference, a VM whose vCPU wrote every page of the same ranges and so
 * faulted it in (§2.1-2.3), it must leave exactly the same leaves (level, PFN, present/W/A/D,
 * host- and MMU-writable), the same page counts and tables, and take no fault, log nothing and
 * owe no flush. Then the slot-level behaviours that follow from the SPTEs (eager split on enable,
 * §3.2) come out the same too.
 */
import fc from 'fast-check';
import { NullHostMemory } from '../../src/guest/null-memory';
import { KvmError, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY, KvmVm, type VmOptions } from '../../src/mmu';
import { leaves, PAGE } from './helpers';

interface Layout {
  /** Slot 1's first GFN, its pages and its first host page. */
  baseGfn: number;
  pages: number;
  memOffset: number;
  hostLevel: 1 | 2 | 3;
  readonly?: boolean;
}

function vmWith(layout: Layout, options: VmOptions = {}): KvmVm {
  const vm = new KvmVm(options);
  vm.createVcpu();
  vm.setUserMemoryRegion({
    slot: 1,
    flags: layout.readonly ? KVM_MEM_READONLY : 0,
    guestPhysAddr: layout.baseGfn * PAGE,
    memorySize: layout.pages * PAGE,
    memory: new NullHostMemory(layout.memOffset + layout.pages),
    memoryOffsetPages: layout.memOffset,
    hostMappingLevel: layout.hostLevel,
  });
  return vm;
}

/** The reference: vCPU 0 writes (or, read-only slot, reads) every page of the ranges. */
function faultIn(vm: KvmVm, layout: Layout, ranges: number[]): void {
  const vcpu = vm.vcpus[0]!;
  for (let r = 0; r < ranges.length; r += 2)
    for (let p = ranges[r]!; p < ranges[r + 1]!; p++) {
      const gpa = (layout.baseGfn + p) * PAGE;
      if (layout.readonly) vcpu.read(gpa, 8);
      else expect(vcpu.writeU32(gpa, p)).toBe('ok');
    }
}

function state(vm: KvmVm) {
  const s = vm.stats();
  return {
    leaves: leaves(vm),
    pages: [s.pages4k, s.pages2m, s.pages1g],
    tables: s.pageTables,
    warnings: s.warnings,
  };
}

/** Ascending disjoint [start, end) page offsets inside `pages`: runs of up to 1000 pages from arbitrary starts. */
function rangesFrom(runs: [number, number][], pages: number): number[] {
  const sorted = runs.map(([at, length]) => [at % pages, length] as const).sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  for (const [at, length] of sorted) {
    const start = Math.max(at, out[out.length - 1] ?? 0);
    const end = Math.min(pages, start + length);
    if (start >= end) continue;
    if (out[out.length - 1] === start) out[out.length - 1] = end;
    else out.push(start, end);
  }
  return out;
}

const arbLayout = fc.record({
  // Regions of 1 GiB and around it, slots that start and end off huge-page boundaries, and
  // host offsets that break GFN/PFN congruence.
  baseGfn: fc.constantFrom(0, 512, 512 * 511, 1 << 18, (1 << 18) - 512, 3),
  pages: fc.constantFrom(1, 700, 4096, (1 << 18) + 1024),
  memOffset: fc.constantFrom(0, 512, 1 << 18, 7),
  hostLevel: fc.constantFrom(1 as const, 2 as const, 3 as const),
  readonly: fc.boolean(),
});

describe('mapBootMemory: the SPTEs that faulting every page in would leave', () => {
  it('property: same leaves, page counts and tables as write faults, without a fault, log or flush', () => {
    fc.assert(
      fc.property(
        arbLayout,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1000 })), { maxLength: 12 }),
        (layout, runs) => {
          const ranges = rangesFrom(runs, layout.pages);
          const faulted = vmWith(layout);
          faultIn(faulted, layout, ranges);
          const mapped = vmWith(layout);
          const flushes = mapped.stats().tlbFlushes;
          const installed = mapped.mapBootMemory(1, ranges, ranges.length / 2);
          expect(state(mapped)).toEqual(state(faulted));
          const stats = mapped.stats();
          expect(stats.faults).toEqual({ fast: 0, slow: 0, spurious: 0, mmio: 0, retry: 0 });
          expect(stats.tlbFlushes).toBe(flushes);
          expect(stats.bootMap.leaves).toBe(installed);
          expect(stats.bootMap.leaves).toBe(stats.pages4k + stats.pages2m + stats.pages1g);
          expect(stats.bootMap.pages).toBe(stats.pages4k + 512 * stats.pages2m + 512 * 512 * stats.pages1g);
        },
      ),
      { seed: 13, numRuns: 60 },
    );
  });

  it('a huge leaf where the host, the slot bounds and the alignment allow; 4K elsewhere', () => {
    // Slot from GFN 512 (2 MiB) over 1 GiB + 4 MiB: 2M leaves throughout with a 2M host, and
    // with a 1G host still 2M: the slot's 1 GiB regions are not congruent with the host pages.
    const layout: Layout = { baseGfn: 512, pages: (1 << 18) + 1024, memOffset: 0, hostLevel: 3 };
    const vm = vmWith(layout);
    vm.mapBootMemory(1, [0, 1, (1 << 18) + 1023, (1 << 18) + 1024], 2);
    expect(vm.stats()).toMatchObject({ pages4k: 0, pages2m: 2, pages1g: 0 });
    const aligned = vmWith({ baseGfn: 1 << 18, pages: (1 << 18) + 3, memOffset: 1 << 18, hostLevel: 3 });
    aligned.mapBootMemory(1, [5, 6, (1 << 18) + 1, (1 << 18) + 2], 2);
    // The first GFN's leaf is the whole 1 GiB; the slot's tail (3 pages) can only be 4K.
    expect(aligned.stats()).toMatchObject({ pages4k: 1, pages2m: 0, pages1g: 1 });
  });

  it('writable leaves are present, W, A and D, host- and MMU-writable, as make_spte creates them (6.13)', () => {
    const vm = vmWith({ baseGfn: 0, pages: 64, memOffset: 0, hostLevel: 1 });
    vm.mapBootMemory(1, [10, 11], 1);
    const leaf = vm.mmu.leafFor(10)!;
    // R W X (0-2), A (8), D (9), MMU-present (11); host-writable (57) and MMU-writable (58).
    expect(leaf.lo & 0xfff).toBe(0b1011_0000_0111);
    expect(leaf.hi >>> 25).toBe(0b11);
    expect(leaf.lo >>> 12).toBe(10); // PFN
  });

  it('keeps what is already mapped: a second call installs nothing and changes nothing', () => {
    const layout: Layout = { baseGfn: 0, pages: 4096, memOffset: 0, hostLevel: 2 };
    const vm = vmWith(layout);
    vm.vcpus[0]!.writeU32(100 * PAGE, 1); // one page faulted in first
    const first = vm.mapBootMemory(1, [0, 4096], 1);
    const before = state(vm);
    expect(vm.mapBootMemory(1, [0, 4096], 1)).toBe(0);
    expect(state(vm)).toEqual(before);
    expect(first).toBe(7); // 8 regions of 2 MiB, one already mapped by the fault
  });

  it('refuses a dirty-logged slot (its pages must fault in and be logged), a missing slot and bad ranges, changing nothing', () => {
    const vm = vmWith({ baseGfn: 0, pages: 4096, memOffset: 0, hostLevel: 1 });
    const expectErrno = (f: () => unknown, errno: string, text: RegExp) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(KvmError);
        expect((e as KvmError).errno).toBe(errno);
        expect((e as KvmError).message).toMatch(text);
        return;
      }
      throw new Error('expected a KvmError');
    };
    expectErrno(() => vm.mapBootMemory(2, [0, 1], 1), 'ENOENT', /slot 2 does not exist/);
    expectErrno(() => vm.mapBootMemory(1, [5, 6, 2, 3], 2), 'EINVAL', /range 1 \[2, 3\)/);
    expectErrno(() => vm.mapBootMemory(1, [0, 4097], 1), 'EINVAL', /inside slot 1's 4096 pages/);
    expectErrno(() => vm.mapBootMemory(1, [3, 3], 1), 'EINVAL', /non-empty/);
    expectErrno(() => vm.mapBootMemory(1, [0, 1], 2), 'EINVAL', /count must be an integer in \[0, 1\]/);
    expect(vm.stats().pageTables).toBe(1);
    vm.setUserMemoryRegion({
      slot: 1,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: 0,
      memorySize: 4096 * PAGE,
      memory: vm.slotFor(0)!.memory,
    });
    expectErrno(() => vm.mapBootMemory(1, [0, 1], 1), 'EBUSY', /dirty-logged/);
    expect(vm.stats().pageTables).toBe(1);
  });

  it('then enabling dirty logging splits and write-protects exactly as for the faulted-in memory (§3.2)', () => {
    for (const tracking of ['wrprot', 'dbit'] as const)
      for (const hostLevel of [1, 2, 3] as const) {
        const layout: Layout = { baseGfn: 0, pages: (1 << 18) + 4096, memOffset: 0, hostLevel };
        const ranges = [0, 3, 600, 601, 1 << 17, (1 << 17) + 9, 1 << 18, (1 << 18) + 1];
        const faulted = vmWith(layout, { tracking });
        faultIn(faulted, layout, ranges);
        const mapped = vmWith(layout, { tracking });
        mapped.mapBootMemory(1, ranges, ranges.length / 2);
        for (const vm of [faulted, mapped])
          vm.setUserMemoryRegion({
            slot: 1,
            flags: KVM_MEM_LOG_DIRTY_PAGES,
            guestPhysAddr: 0,
            memorySize: layout.pages * PAGE,
            memory: vm.slotFor(0)!.memory,
            hostMappingLevel: hostLevel,
          });
        expect(state(mapped)).toEqual(state(faulted));
        expect(mapped.stats()).toMatchObject({ pages2m: 0, pages1g: 0 });
      }
  });

  it('negative: a boot mapping that leaves W clear is not a faulted-in guest', () => {
    const layout: Layout = { baseGfn: 0, pages: 1024, memOffset: 0, hostLevel: 1 };
    const faulted = vmWith(layout);
    faultIn(faulted, layout, [0, 1024]);
    const broken = vmWith(layout, { faults: { bootMapWithoutWrite: true } });
    broken.mapBootMemory(1, [0, 1024], 1);
    expect(state(broken).leaves).not.toEqual(state(faulted).leaves);
    // A write now takes a fault that the running guest never would.
    expect(broken.vcpus[0]!.writeU32(0, 1)).toBe('ok');
    expect(broken.stats().faults.fast).toBe(1);
  });
});
