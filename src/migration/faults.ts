/**
 * The fault plan's tracker part (src/config/faults.ts), applied by wrapping the dirty tracker
 * and the modelled link its pages go out on, when a fault is on; neither has a fault switch.
 */
import type { TrackerFaults } from '../config/faults';
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
