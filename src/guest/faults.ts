/**
 * The fault plan's guest parts (src/config/faults.ts), applied by wrapping the objects the guest
 * writes through when a fault is on: its vCPUs, its owed-writes queue, the page-state table.
 * Nothing on the guest's write path tests a fault switch.
 */
import type { GuestFaults, PageStateFaults } from '../config/faults';
import type { Vm } from '../mmu/api';
import { PAGE_SIZE } from '../util/units';
import { type PageStates, ZERO } from './page-states';
import type { SparseMemory } from './sparse-memory';

/** What the wrappers reach of a Guest (guest.ts), named here so this module does not import it back. */
export interface FaultableGuest {
  readonly vm: Vm;
  /** The stored bytes, if the backing keeps them. */
  readonly bytes: SparseMemory | undefined;
  owe(...args: unknown[]): void;
}

export function applyGuestFaults(guest: FaultableGuest, faults: GuestFaults): void {
  if (faults.sideDoor) sideDoor(guest.vm, guest.bytes);
  if (faults.dropOwedWrites) guest.owe = () => {};
}

/**
 * Every vCPU writes straight into memory, behind the MMU's back: no TLB, no fault, no dirty log,
 * never blocked. A backing without bytes gets nothing (its records still note the write).
 */
function sideDoor(vm: Vm, bytes: SparseMemory | undefined): void {
  const writeU32 = (gpa: number, value: number): void => {
    bytes?.writeU32(Math.floor(gpa / PAGE_SIZE), gpa & (PAGE_SIZE - 1), value);
  };
  for (const vcpu of vm.vcpus) {
    vcpu.write = (gpa, data) => {
      bytes?.write(Math.floor(gpa / PAGE_SIZE), gpa & (PAGE_SIZE - 1), data);
      return 'ok';
    };
    vcpu.writeU32 = (gpa, value) => {
      writeU32(gpa, value);
      return 'ok';
    };
    vcpu.writeWords = (gpa, words, start, count) => {
      for (let k = 0; k < count; k++) writeU32(gpa + 4 * k, words[start + k]!);
      return 'ok';
    };
  }
}

/** Wrap the page-state table of a generated or metadata backing; returns it. */
export function applyPageStateFaults(states: PageStates, faults: PageStateFaults): PageStates {
  if (faults.forgetZeroToNonzero) forgetZeroToNonzero(states);
  return states;
}

/** A non-zero partial write or an increment on a ZERO page leaves it ZERO (a whole-page write still lands). */
function forgetZeroToNonzero(states: PageStates): void {
  const write = states.write.bind(states);
  states.write = (gfn, offset, size, kind) => {
    if (size !== PAGE_SIZE && kind !== 'zero' && states.states[gfn] === ZERO) return;
    write(gfn, offset, size, kind);
  };
  const increment = states.increment.bind(states);
  states.increment = (gfn) => {
    if (states.states[gfn] !== ZERO) increment(gfn);
  };
}
