import { KvmError } from '../../src/mmu';
import { getDirty, PAGE, setup } from './helpers';

describe('vCPU writes through the TLB and the fault path', () => {
  it('a first write faults, maps writable and lands in memory', () => {
    const s = setup(1024);
    expect(s.vcpu.writeU32(5 * PAGE + 8, 0xdeadbeef)).toBe('ok');
    expect(new DataView(s.memory.read(5).buffer, s.memory.read(5).byteOffset).getUint32(8, true)).toBe(
      0xdeadbeef,
    );
    expect(s.vm.stats().faults.slow).toBe(1);
    expect(s.vm.stats().pages4k).toBe(1);
    // Warm TLB: no more faults.
    expect(s.vcpu.writeU32(5 * PAGE + 12, 1)).toBe('ok');
    expect(s.vm.stats().faults.slow).toBe(1);
  });

  it('a write outside every memslot is MMIO and never logged', () => {
    const s = setup(64, { log: true });
    expect(s.vcpu.writeU32(1000 * PAGE, 1)).toBe('mmio');
    expect(s.vcpu.writeU32(1000 * PAGE, 1)).toBe('mmio');
    expect(s.vm.stats().faults.mmio).toBe(2);
    expect(getDirty(s)).toEqual([]);
  });

  it('GET_DIRTY_LOG reports written pages once, then write-protects them', () => {
    const s = setup(256, { log: true });
    for (const p of [3, 64, 65, 200]) s.vcpu.writeU32(p * PAGE, p);
    expect(getDirty(s)).toEqual([3, 64, 65, 200]);
    expect(getDirty(s)).toEqual([]);
    s.vcpu.writeU32(65 * PAGE, 7);
    expect(getDirty(s)).toEqual([65]);
    expect(s.vm.stats().faults.fast).toBe(1);
  });

  it('a paused vCPU does not write', () => {
    const s = setup(16, { log: true });
    s.vcpu.pause();
    expect(s.vcpu.writeU32(0, 1)).toBe('blocked');
    s.vcpu.resume();
    expect(s.vcpu.writeU32(0, 1)).toBe('ok');
  });

  it('ioctl errors carry the errno KVM returns', () => {
    const s = setup(16);
    expect(() => s.vm.getDirtyLog(1, new Uint32Array(2))).toThrow(KvmError);
    try {
      s.vm.getDirtyLog(1, new Uint32Array(2));
    } catch (e) {
      expect((e as KvmError).errno).toBe('ENOENT');
    }
  });
});
