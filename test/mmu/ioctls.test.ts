/**
 * The facade's ioctls: KVM's errno for each bad input, nothing half-applied, slot deletion and
 * moves, 5-level roots, and vCPU accesses that never throw.
 */
import { SparseMemory } from '../../src/guest/sparse-memory';
import {
  createVm,
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KvmError,
  KvmVm,
} from '../../src/mmu';
import { getDirty, PAGE, setup, SLOT } from './helpers';

function errno(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KvmError) return e.errno;
    throw e;
  }
  return 'ok';
}

describe('KVM_SET_USER_MEMORY_REGION', () => {
  const memory = new SparseMemory(1024);
  const region = { slot: 0, flags: 0, guestPhysAddr: 0, memorySize: 64 * PAGE, memory };

  it('rejects bad slots, flags, alignment, sizes and backing with EINVAL; overlaps with EEXIST', () => {
    const vm = createVm();
    expect(errno(() => vm.setUserMemoryRegion({ ...region, slot: -1 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, slot: 40000 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, flags: 4 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, guestPhysAddr: 100 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, memorySize: 100 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, memorySize: 2048 * PAGE }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, guestPhysAddr: 2 ** 48 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, memorySize: 0 }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion(region))).toBe('ok');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, slot: 1, guestPhysAddr: 32 * PAGE }))).toBe(
      'EEXIST',
    );
    expect(errno(() => vm.setUserMemoryRegion({ ...region, memorySize: 32 * PAGE }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, flags: KVM_MEM_READONLY }))).toBe('EINVAL');
    expect(errno(() => vm.setUserMemoryRegion({ ...region, memoryOffsetPages: 1 }))).toBe('EINVAL');
    // Nothing of the failed calls was applied: the one slot is there, unlogged.
    expect(errno(() => vm.getDirtyLog(0, new Uint32Array(2)))).toBe('ENOENT');
    expect(errno(() => vm.getDirtyLog(1, new Uint32Array(2)))).toBe('ENOENT');
  });

  it('deleting a slot zaps its mappings: its GFNs become MMIO', () => {
    const s = setup(64);
    s.vcpu.writeU32(3 * PAGE, 1);
    s.vm.setUserMemoryRegion({ slot: SLOT, flags: 0, guestPhysAddr: 0, memorySize: 0, memory: s.memory });
    expect(s.vm.stats().pages4k).toBe(0);
    expect(s.vcpu.writeU32(3 * PAGE, 2)).toBe('mmio');
    expect(s.memory.read(3)[0]).toBe(1);
  });

  it('moving a slot remaps its pages at the new address', () => {
    const s = setup(64, { log: true });
    s.vcpu.writeU32(3 * PAGE, 1);
    s.vm.setUserMemoryRegion({
      slot: SLOT,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: 1 << 30,
      memorySize: 64 * PAGE,
      memory: s.memory,
    });
    expect(s.vcpu.writeU32(3 * PAGE, 2)).toBe('mmio');
    expect(s.vcpu.writeU32((1 << 30) + 3 * PAGE, 5)).toBe('ok');
    expect(s.memory.read(3)[0]).toBe(5);
    const bm = new Uint32Array(2);
    s.vm.getDirtyLog(SLOT, bm);
    expect(bm[0]).toBe(1 << 3);
  });
});

describe('capabilities', () => {
  it('KVM_CAP_DIRTY_LOG_RING: power of two, at least a page and the reserved entries, at most 64 Ki, before vCPUs', () => {
    expect(errno(() => createVm().enableDirtyRing(1000))).toBe('EINVAL');
    expect(errno(() => createVm().enableDirtyRing(128))).toBe('EINVAL');
    expect(errno(() => createVm({ tracking: 'dbit' }).enableDirtyRing(512))).toBe('EINVAL');
    expect(errno(() => createVm().enableDirtyRing(1 << 17))).toBe('E2BIG');
    const vm = createVm();
    vm.createVcpu();
    expect(errno(() => vm.enableDirtyRing(1024))).toBe('EINVAL');
    const twice = createVm();
    twice.enableDirtyRing(1024);
    expect(errno(() => twice.enableDirtyRing(1024))).toBe('EINVAL');
  });

  it('the ring replaces the bitmap: GET and CLEAR give ENXIO; RESET without a ring gives EINVAL', () => {
    const s = setup(64, { log: true, ring: 1024 });
    expect(errno(() => s.vm.getDirtyLog(SLOT, new Uint32Array(2)))).toBe('ENXIO');
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 0, 64, new Uint32Array(2)))).toBe('ENXIO');
    expect(errno(() => createVm().resetDirtyRings())).toBe('EINVAL');
    expect(errno(() => setup(64).vcpu.harvestDirtyRing())).toBe('ENXIO');
  });

  it('KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 accepts only its two flags', () => {
    expect(errno(() => createVm().enableManualDirtyLogProtect(4))).toBe('EINVAL');
    expect(errno(() => createVm().enableManualDirtyLogProtect(KVM_DIRTY_LOG_INITIALLY_SET | 1))).toBe('ok');
  });

  it('bad VM options name the field', () => {
    expect(() => createVm({ tracking: 'dbit', adBits: false })).toThrow(/adBits/);
    expect(() => createVm({ yieldEvery: -1 })).toThrow(/yieldEvery/);
    expect(() => createVm({ rootLevel: 3 as never })).toThrow(/rootLevel/);
  });

  it('GET needs a large enough bitmap (EFAULT)', () => {
    const s = setup(200, { log: true });
    expect(errno(() => s.vm.getDirtyLog(SLOT, new Uint32Array(7)))).toBe('EFAULT');
  });
});

describe('5-level roots', () => {
  it('map and log GPAs above 2^48', () => {
    const vm = new KvmVm({ rootLevel: 5 });
    const vcpu = vm.createVcpu();
    const memory = new SparseMemory(64);
    const base = 2 ** 50;
    vm.setUserMemoryRegion({
      slot: 0,
      flags: KVM_MEM_LOG_DIRTY_PAGES,
      guestPhysAddr: base,
      memorySize: 64 * PAGE,
      memory,
    });
    expect(vcpu.writeU32(base + 5 * PAGE, 9)).toBe('ok');
    expect(memory.read(5)[0]).toBe(9);
    const bm = new Uint32Array(2);
    vm.getDirtyLog(0, bm);
    expect(bm[0]).toBe(1 << 5);
    expect(vcpu.writeU32(base + 5 * PAGE, 10)).toBe('ok');
    expect(vm.stats().faults.fast).toBe(1);
  });
});

describe('vCPU accesses never throw', () => {
  it('bad GPAs and page-crossing accesses WARN and return blocked', () => {
    const s = setup(16, { log: true });
    expect(s.vcpu.writeU32(-4, 1)).toBe('blocked');
    expect(s.vcpu.writeU32(Number.NaN, 1)).toBe('blocked');
    expect(s.vcpu.write(PAGE - 2, new Uint8Array(4))).toBe('blocked');
    expect(s.vcpu.read(PAGE - 2, 4)).toEqual(new Uint8Array(0));
    expect(s.vm.stats().warnings['bad guest access']).toBe(4);
    expect(getDirty(s)).toEqual([]);
  });

  it('write() and a misaligned writeU32 land in memory and are logged', () => {
    const s = setup(16, { log: true });
    expect(s.vcpu.write(2 * PAGE + 10, Uint8Array.of(1, 2, 3))).toBe('ok');
    expect(s.vcpu.writeU32(3 * PAGE + 1, 0x04030201)).toBe('ok');
    expect(Array.from(s.memory.read(2).subarray(10, 13))).toEqual([1, 2, 3]);
    expect(Array.from(s.memory.read(3).subarray(1, 5))).toEqual([1, 2, 3, 4]);
    expect(Array.from(s.vcpu.read(3 * PAGE + 1, 4))).toEqual([1, 2, 3, 4]);
    expect(getDirty(s)).toEqual([2, 3]);
  });
});
