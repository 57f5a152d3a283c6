/** Shared set-up for the guest tests: a guest on a virtual clock, and a recorder of its writes. */
import { Guest, parseGuestSpec, type GuestOptions } from '../../src/guest';
import { SparseMemory } from '../../src/guest/sparse-memory';
import { virtualClock, type VirtualClock } from '../../src/util/clock';

export function makeGuest(input: object, options: GuestOptions = {}): { guest: Guest; clock: VirtualClock } {
  const clock = virtualClock();
  const guest = Guest.create(parseGuestSpec(input), clock, options);
  return { guest, clock };
}

/**
 * Every write the guest makes from now on, per vCPU, as [page, offset, source] triples in order.
 * (Batches interleave vCPUs per tick, so only each vCPU's own order is meaningful.)
 */
export function recordWrites(guest: Guest): number[][] {
  const out: number[][] = guest.vm.vcpus.map(() => []);
  guest.batches$.subscribe((b) => {
    for (let v = 0; v < b.vcpus; v++)
      for (let i = b.segments[v]!; i < b.segments[v + 1]!; i++)
        out[v]!.push(b.page[i]!, b.offset[i]!, b.source[i]!);
  });
  return out;
}

/** A byte-for-byte copy of guest memory (for diffing and for a destination image). */
export function copyMemory(memory: SparseMemory): SparseMemory {
  const copy = new SparseMemory(memory.pages);
  for (const page of memory.allocatedPageNumbers()) copy.writePage(page, memory.read(page));
  return copy;
}

/** Pages whose bytes differ between two memories of the same size. */
export function changedPages(before: SparseMemory, after: SparseMemory): number[] {
  const out: number[] = [];
  for (let p = 0; p < after.pages; p++) {
    const a = before.read(p);
    const b = after.read(p);
    if (a !== b && Buffer.compare(a, b) !== 0) out.push(p);
  }
  return out;
}
