/**
 * The fault plan is applied by wrappers only when a fault is on (src/config/faults.ts): with no
 * fault, or every fault named off, each seam is the object itself and nothing on it is replaced,
 * so the production path runs no fault code. What each fault breaks is the negative tests' to
 * show (test/mmu, test/guest, test/migration, test/link, test/dest); here, that it is wired.
 */
import { anyFault } from '../../src/config/faults';
import { applyOutcomeFaults, applySink } from '../../src/dest/faults';
import { createImage } from '../../src/dest/image';
import { OutcomeTable } from '../../src/dest/outcomes';
import { Guest, parseGuestSpec } from '../../src/guest';
import { ModelledLink } from '../../src/link/modelled';
import { KvmVm } from '../../src/mmu';
import { DirtyTracker } from '../../src/migration/dirty-tracker';
import { applyEngineFaults, applyTrackerFaults } from '../../src/migration/faults';
import { SparseMemory } from '../../src/guest/sparse-memory';
import { VirtualClock, virtualClock } from '../../src/util/clock';

const PAGE = 4096;

/** The methods an object holds itself: a wrapper's, since a class keeps its own on the prototype. */
const own = (o: object) =>
  Object.keys(o).filter((k) => typeof (o as Record<string, unknown>)[k] === 'function');

describe('the fault plan wraps a seam only when one of its faults is on', () => {
  it('anyFault: absent, empty and all-off parts are no fault', () => {
    expect(anyFault(undefined)).toBe(false);
    expect(anyFault({})).toBe(false);
    expect(anyFault({ skipFlushAfterReprotect: false, dropFastPathLog: false })).toBe(false);
    expect(anyFault({ dropFastPathLog: true })).toBe(true);
  });

  it('MMU: no fault leaves the VM and its MMU as built; each fault replaces its seams', () => {
    const built = new KvmVm();
    // The methods a fault put on the VM and on its MMU, past those a VM is built with.
    const wrapped = (vm: KvmVm) => [
      own(vm).filter((k) => !own(built).includes(k)),
      own(vm.mmu).filter((k) => !own(built.mmu).includes(k)),
    ];
    for (const faults of [undefined, {}, { skipFlushAfterReprotect: false, markBitmapOnReprotect: false }])
      expect(wrapped(new KvmVm({ faults }))).toEqual([[], []]);
    expect(wrapped(new KvmVm({ faults: { skipFlushAfterReprotect: true } }))).toEqual([
      ['flushBeforeConsume'],
      [],
    ]);
    expect(wrapped(new KvmVm({ faults: { markBitmapOnReprotect: true } }))).toEqual([
      [],
      ['wrprotRange', 'clearDirtyRange', 'clearDirtyPtMasked'],
    ]);
    expect(wrapped(new KvmVm({ faults: { dropFastPathLog: true } }))).toEqual([
      ['markPageDirty'],
      ['fastPageFault'],
    ]);
    expect(wrapped(new KvmVm({ faults: { bootMapWithoutWrite: true } }))).toEqual([[], ['mapBoot']]);
  });

  it('guest: no fault leaves its vCPUs and its queue alone; sideDoor wraps the writes, dropOwedWrites the queue', () => {
    const spec = parseGuestSpec({ memory: '4MiB', vcpus: 2 });
    const plain = Guest.create(spec, virtualClock(), { faults: { guest: { sideDoor: false } } });
    expect([own(plain), ...plain.vm.vcpus.map(own)]).toEqual([[], [], []]);
    const side = Guest.create(spec, virtualClock(), { faults: { guest: { sideDoor: true } } });
    for (const vcpu of side.vm.vcpus) expect(own(vcpu).sort()).toEqual(['write', 'writeU32', 'writeWords']);
    expect(own(Guest.create(spec, virtualClock(), { faults: { guest: { dropOwedWrites: true } } }))).toEqual([
      'owe',
    ]);
  });

  it('tracker, engine, destination: the object itself when no fault is on', () => {
    const vm = new KvmVm();
    const region = {
      slot: 0,
      flags: 0,
      guestPhysAddr: 0,
      memorySize: 64 * PAGE,
      memory: new SparseMemory(64),
    };
    vm.setUserMemoryRegion(region);
    vm.createVcpu();
    const tracker = new DirtyTracker(vm, region, 64, 'manual');
    const link = new ModelledLink(new VirtualClock(), { bandwidth: 1e9, latencyMs: 0 }, 0);
    expect(applyTrackerFaults(tracker, link, {})).toBe(tracker);
    expect([own(tracker), own(link)]).toEqual([[], []]);
    // clearAfterSend is a manual dirty log's fault: the other modes have no clear to move.
    applyTrackerFaults(new DirtyTracker(vm, region, 64, 'get'), link, { clearAfterSend: true });
    expect(own(link)).toEqual([]);
    applyTrackerFaults(tracker, link, { clearAfterSend: true });
    expect([own(tracker), own(link)]).toEqual([['clearChunk'], ['carryPages']]);

    const guest = { resumeAll: () => {}, setVcpuPenalty: () => {} };
    expect(applyEngineFaults(guest, {})).toBe(guest);
    expect(applyEngineFaults(guest, { noResumeOnRollback: false })).toBe(guest);
    expect(applyEngineFaults(guest, { noResumeOnRollback: true })).not.toBe(guest);

    const image = createImage('bytes', 8);
    expect(applySink(image, {}, () => true)).toBe(image);
    expect(applySink(image, { noBarrier: true, ignoreQueryCommit: true }, () => true)).toBe(image);
    expect(applySink(image, { corruptAppliedPage: true }, () => true)).not.toBe(image);
    const table = new OutcomeTable({ clock: new VirtualClock() });
    expect(applyOutcomeFaults(table, { corruptAppliedPage: true })).toBe(table);
    expect(own(table)).toEqual([]);
  });
});
