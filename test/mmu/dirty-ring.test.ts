/**
 * The dirty ring's reset (kvm_dirty_ring_reset): harvested entries are coalesced into
 * (slot, offset, 64-bit mask) runs, forwards and backwards, and every harvested GFN is covered
 * exactly once by the masks handed to the reprotect step.
 */
import fc from 'fast-check';
import { DirtyRing, KVM_DIRTY_GFN_F_DIRTY } from '../../src/mmu/dirty-ring';

function covered(lo: number, hi: number, offset: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < 64; b++) if ((b < 32 ? lo >>> b : hi >>> (b - 32)) & 1) out.push(offset + b);
  return out;
}

describe('dirty ring reset', () => {
  it('coalesces forward and backward runs of one slot into masks', () => {
    const ring = new DirtyRing(16, 8);
    for (const offset of [100, 101, 163, 90, 95]) ring.push(1, offset);
    ring.harvest(() => {});
    const calls: [number, number, number, number][] = [];
    expect(ring.reset((slot, offset, lo, hi) => calls.push([slot, offset, lo, hi]))).toBe(5);
    // 100, 101, 163 share a mask based at 100 (bits 0, 1, 63). 90 cannot shift that base back
    // (bit 63 would fall off), so the run is handed over and 90 starts the next; 95 joins it.
    expect(calls).toEqual([
      [1, 100, 3, 2 ** 31],
      [1, 90, 1 | (1 << 5), 0],
    ]);
  });

  it('starts a new run when the slot changes or the delta does not fit', () => {
    const ring = new DirtyRing(16, 8);
    for (const [slot, offset] of [
      [1, 10],
      [2, 10],
      [2, 200],
      [2, 137],
    ])
      ring.push(slot!, offset!);
    ring.harvest(() => {});
    const calls: number[][] = [];
    ring.reset((slot, offset, lo, hi) => calls.push([slot, offset, lo, hi]));
    expect(calls).toEqual([
      [1, 10, 1, 0],
      [2, 10, 1, 0],
      [2, 137, 1, 2 ** 31], // 137 shifts the run at 200 back by 63: bits 0 and 63
    ]);
  });

  it('only harvested entries are reset; the rest stay DIRTY for the next harvest', () => {
    const ring = new DirtyRing(16, 8);
    ring.push(1, 1);
    ring.harvest(() => {});
    ring.push(1, 2);
    expect(ring.reset(() => {})).toBe(1);
    expect(ring.flags[1]).toBe(KVM_DIRTY_GFN_F_DIRTY);
    expect(ring.used).toBe(1);
  });

  it('every harvested GFN is covered exactly once by the reset masks (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 300 })), {
          maxLength: 200,
        }),
        (entries) => {
          const ring = new DirtyRing(256, 192);
          for (const [slot, offset] of entries) ring.push(slot, offset);
          const harvested: string[] = [];
          ring.harvest((slot, offset) => harvested.push(`${slot}:${offset}`));
          const reset: string[] = [];
          const count = ring.reset((slot, offset, lo, hi) =>
            covered(lo, hi, offset).forEach((g) => reset.push(`${slot}:${g}`)),
          );
          expect(count).toBe(entries.length);
          expect(new Set(reset)).toEqual(new Set(harvested));
        },
      ),
      { seed: 24, numRuns: 200 },
    );
  });

  it('a backward visit shifts the mask when nothing falls off', () => {
    const ring = new DirtyRing(16, 8);
    for (const offset of [100, 101, 90]) ring.push(1, offset);
    ring.harvest(() => {});
    const calls: number[][] = [];
    ring.reset((slot, offset, lo, hi) => calls.push([slot, offset, lo, hi]));
    expect(calls).toEqual([[1, 90, 1 | (1 << 10) | (1 << 11), 0]]);
  });
});
