/**
 * VmOptions.userfault (postcopy's missing pages): an EPT violation on a missing page blocks the
 * faulting vCPU without making the access or mapping the page; another vCPU keeps running;
 * wakeUserfault lets the waiters re-execute. Without the option nothing changes.
 */
import { PAGE, setup } from './helpers';

describe('userfault', () => {
  it('a missing page blocks only the vCPU that touched it, until woken', () => {
    const missing = new Set([3]);
    const asked: [number, number][] = [];
    const s = setup(8, {
      userfault: (vcpu, gfn) => {
        asked.push([vcpu, gfn]);
        return missing.has(gfn);
      },
    });
    const other = s.vm.createVcpu();
    expect(s.vcpu.writeU32(3 * PAGE, 7)).toBe('blocked');
    expect(s.vcpu.faultedOn).toBe(3);
    expect(s.memory.read(3)[0]).toBe(0); // the access was not made
    expect(s.vcpu.writeU32(4 * PAGE, 1)).toBe('blocked'); // a blocked vCPU does nothing
    expect(other.writeU32(4 * PAGE, 9)).toBe('ok');
    expect(other.faultedOn).toBe(-1);
    expect(s.vm.wakeUserfault(2)).toBe(0);
    // The page is placed, then the waiter woken: its write re-executes and maps the page.
    missing.delete(3);
    expect(s.vm.wakeUserfault(3)).toBe(1);
    expect(s.vcpu.faultedOn).toBe(-1);
    expect(s.vcpu.writeU32(3 * PAGE, 7)).toBe('ok');
    expect(s.memory.read(3)[0]).toBe(7);
    expect(asked).toEqual([
      [0, 3],
      [1, 4],
      [0, 3],
    ]);
  });

  it('negative: a vCPU never woken stays blocked whatever it touches', () => {
    const s = setup(8, { userfault: (_v, gfn) => gfn === 1 });
    expect(s.vcpu.writeU32(PAGE, 1)).toBe('blocked');
    for (let g = 0; g < 8; g++) expect(s.vcpu.writeU32(g * PAGE, 1)).toBe('blocked');
    expect(s.vcpu.faultedOn).toBe(1);
  });
});
