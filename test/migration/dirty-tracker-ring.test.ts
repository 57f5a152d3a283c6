/**
 * Ring mode under D-bit (PML) tracking: a write that left its GFN only in a vCPU's PML buffer
 * reaches the ring when the vCPU exits. QEMU's reaper kicks every vCPU before harvesting; a
 * sync that does not would miss the page until the vCPU happens to exit.
 */
import { createVm } from '../../src/mmu';
import { DirtyTracker } from '../../src/migration/dirty-tracker';
import { SparseMemory } from '../../src/guest/sparse-memory';

function setup(tracking: 'wrprot' | 'dbit') {
  const vm = createVm({ tracking });
  vm.enableDirtyRing(1024);
  const vcpu = vm.createVcpu();
  const pages = 256;
  const region = {
    slot: 0,
    flags: 0,
    guestPhysAddr: 0,
    memorySize: pages * 4096,
    memory: new SparseMemory(pages),
  };
  vm.setUserMemoryRegion(region);
  const tracker = new DirtyTracker(vm, region, pages, 'ring');
  tracker.enable();
  return { vcpu, tracker };
}

describe('ring mode harvest', () => {
  it.each(['wrprot', 'dbit'] as const)('reports a page written since the last sync (%s)', (tracking) => {
    const { vcpu, tracker } = setup(tracking);
    // Drain the bulk round's bitmap so only new writes count.
    tracker.sync();
    vcpu.writeU32(77 * 4096, 1);
    tracker.sync();
    // First touch of 140 faults (an exit); the rewrite of 77 after its reset only sets D through
    // the hardware walk, which under PML logs to the buffer and stays there until an exit.
    vcpu.writeU32(140 * 4096, 3);
    vcpu.writeU32(77 * 4096, 2);
    const { reported } = tracker.sync();
    expect(reported).toBe(2);
  });
});
