/**
 * The stored and metadata backings (memory.ts), and the one place a guest's memory is made.
 * The generated backing lives in generated-memory.ts.
 */
import type { HostMemory } from '../mmu/api';
import type { ContentViews } from './content';
import { GeneratedMemory } from './generated-memory';
import type { Backing, GuestMemory } from './memory';
import { NullHostMemory } from './null-memory';
import { PageStates } from './page-states';
import { anyFault, type PageStateFaults } from '../config/faults';
import { applyPageStateFaults } from './faults';
import { SparseMemory } from './sparse-memory';

/** `stored`: the bytes themselves; the MMU writes them, so there is nothing to record. */
export class StoredMemory implements GuestMemory {
  readonly backing = 'stored';
  readonly destinationImage = 'bytes';
  readonly states = undefined;
  readonly host: HostMemory;

  constructor(readonly bytes: SparseMemory) {
    this.host = bytes;
  }

  get pages(): number {
    return this.bytes.pages;
  }

  peek(gfn: number): Uint8Array | undefined {
    return this.bytes.peek(gfn);
  }

  byte0(gfn: number): number {
    return this.bytes.byte0(gfn);
  }

  recordFill(): void {}
  recordWrite(): void {}
  recordIncrement(): void {}

  imageHash(): string {
    return this.bytes.imageHash();
  }
}

/** `metadata` (fast mode): content states only; nothing to read, nothing to hash, no destination. */
export class MetadataMemory implements GuestMemory {
  readonly backing = 'metadata';
  readonly destinationImage = undefined;
  readonly bytes = undefined;
  readonly host: HostMemory;
  readonly states: PageStates;

  constructor(readonly pages: number) {
    this.host = new NullHostMemory(pages);
    this.states = new PageStates(pages);
  }

  peek(): undefined {
    return undefined;
  }

  byte0(gfn: number): number {
    return this.states.byte0Of(gfn);
  }

  recordFill(gfn: number, kind: Parameters<PageStates['fill']>[1]): void {
    this.states.fill(gfn, kind);
  }

  recordWrite(gfn: number, offset: number, size: number, kind: Parameters<PageStates['write']>[3]): void {
    this.states.write(gfn, offset, size, kind);
  }

  recordIncrement(gfn: number): void {
    this.states.increment(gfn);
  }

  imageHash(): undefined {
    return undefined;
  }
}

export interface BackingOptions {
  backing: Backing;
  pages: number;
  seed: number;
  content: ContentViews;
  edge: { firstPage: number; pages: number } | undefined;
  /** Start from these bytes (a destination resuming): stored only. */
  bytes?: SparseMemory;
  /** The fault plan's page-state part, applied to a generated or metadata backing's states. */
  faults?: PageStateFaults;
}

export function createGuestMemory(o: BackingOptions): GuestMemory {
  const memory = backingMemory(o);
  if (anyFault(o.faults) && memory.states) applyPageStateFaults(memory.states, o.faults!);
  return memory;
}

function backingMemory(o: BackingOptions): GuestMemory {
  if (o.bytes && o.backing !== 'stored')
    throw new RangeError(
      `Guest: a given memory image is stored bytes; backing ${o.backing} cannot start from it`,
    );
  switch (o.backing) {
    case 'stored':
      return new StoredMemory(o.bytes ?? new SparseMemory(o.pages));
    case 'generated':
      return new GeneratedMemory(
        o.pages,
        o.seed,
        { random: o.content.pool('random'), text: o.content.pool('text') },
        o.edge,
      );
    case 'metadata':
      return new MetadataMemory(o.pages);
  }
}
