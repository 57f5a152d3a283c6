/**
 * The fault plan's tracker and engine parts (src/config/faults.ts), applied by wrapping the
 * dirty tracker, the modelled link its pages go out on and the guest the engine drives, when a
 * fault is on; none of them has a fault switch. The engine itself reads two faults, each a
 * decision of its own made once per round or per lost link (resumeOnOrphan, mmuBaselineStuck).
 */
import type { EngineFaults, TrackerFaults } from '../config/faults';
import type { ModelledLink } from '../link/modelled';
import type { DirtyTracker } from './dirty-tracker';

export function applyTrackerFaults(
  tracker: DirtyTracker,
  link: ModelledLink,
  faults: TrackerFaults,
): DirtyTracker {
  if (faults.clearAfterSend && tracker.mode === 'manual') clearAfterSend(tracker, link);
  return tracker;
}

/**
 * manual dirty log: a batch's chunks are cleared and re-protected once the link has carried its
 * pages, not before they are read: a write between the read and the clear is lost, the order
 * QEMU's clear_bmap prevents.
 */
function clearAfterSend(tracker: DirtyTracker, link: ModelledLink): void {
  const clearChunk = tracker.clearChunk.bind(tracker);
  let read: number[] = [];
  tracker.clearChunk = (page) => {
    read.push(page);
  };
  const carryPages = link.carryPages.bind(link);
  link.carryPages = (bytesWire, threads) => {
    carryPages(bytesWire, threads);
    for (const page of read) clearChunk(page);
    read = [];
  };
}

/** What the engine asks of its guest, as far as the engine faults wrap it (engine.ts's MigratableGuest). */
interface DrivenGuest {
  resumeAll(): void;
  setVcpuPenalty?(vcpu: number, usPerRingFull: number): void;
}

/**
 * The guest as the engine sees it with the engine faults on: resumeAll does nothing
 * (noResumeOnRollback: rollback is its one caller), penalties never reach the vCPUs
 * (dirtyLimitUnserved). Everything else is the guest itself.
 */
export function applyEngineFaults<G extends DrivenGuest>(guest: G, faults: EngineFaults): G {
  const overrides: Partial<DrivenGuest> = {};
  if (faults.noResumeOnRollback) overrides.resumeAll = () => {};
  if (faults.dirtyLimitUnserved && guest.setVcpuPenalty) overrides.setVcpuPenalty = () => {};
  if (Object.keys(overrides).length === 0) return guest;
  return new Proxy(guest, {
    get: (target, key) => (key in overrides ? overrides[key as keyof DrivenGuest] : Reflect.get(target, key)),
  });
}
