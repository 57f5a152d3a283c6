import { SparseMemory } from '../../src/guest/sparse-memory';
import { store32For } from '../../src/mmu/memslot';

describe('the 32-bit store the warm-TLB write uses', () => {
  it('SparseMemory.writeU32 stores little-endian, allocating on first use', () => {
    const m = new SparseMemory(4);
    m.writeU32(2, 8, 0x11223344);
    expect(Array.from(m.read(2).subarray(8, 12))).toEqual([0x44, 0x33, 0x22, 0x11]);
    expect(m.allocatedPages).toBe(1);
    expect(() => m.writeU32(4, 0, 1)).toThrow(RangeError);
  });

  it('falls back to byte stores for memory without writeU32', () => {
    const m = new SparseMemory(2);
    const plain = { pages: 2, writable: (p: number) => m.writable(p), read: (p: number) => m.read(p) };
    store32For(plain)(1, 4, 0xa1b2c3d4);
    expect(Array.from(m.read(1).subarray(4, 8))).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
  });
});
