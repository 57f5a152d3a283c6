/**
 * Host memory that stores nothing, for metadata-only guests (sweeps' fast mode): the MMU runs
 * its full write path (TLB, faults, dirty logging) and the bytes go nowhere. What the pages
 * would hold is kept as PageStates instead. Reads see zeros.
 */
import type { HostMemory } from '../mmu/api';
import { PAGE_SIZE } from '../util/units';

export class NullHostMemory implements HostMemory {
  /** One page every write lands in and nobody reads: no allocation per write. */
  private readonly sink = new Uint8Array(PAGE_SIZE);
  private readonly zero = new Uint8Array(PAGE_SIZE);

  constructor(readonly pages: number) {}

  writable(): Uint8Array {
    return this.sink;
  }

  read(): Uint8Array {
    return this.zero;
  }

  writeU32(): void {}
}
