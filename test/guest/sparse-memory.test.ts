import fc from 'fast-check';
import { SparseMemory, isZeroPage } from '../../src/guest/sparse-memory';

describe('SparseMemory', () => {
  it('reads untouched pages as zero and allocates on first write only', () => {
    const m = new SparseMemory(16 * 1024 * 1024); // 64 GiB of guest-physical space
    expect(isZeroPage(m.read(12345))).toBe(true);
    expect(m.allocatedPages).toBe(0);
    m.write(12345, 8, Uint8Array.of(1, 2, 3));
    expect(m.allocatedPages).toBe(1);
    expect(Array.from(m.read(12345).subarray(8, 11))).toEqual([1, 2, 3]);
  });
  it('hashes by content, not by allocation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(63), fc.nat(4095), fc.integer({ min: 1, max: 255 }))),
        (writes) => {
          const a = new SparseMemory(64);
          const b = new SparseMemory(64);
          for (const [page, off, v] of writes) a.write(page, off, Uint8Array.of(v));
          for (const page of a.allocatedPageNumbers()) b.writePage(page, a.read(page));
          b.write(63, 0, Uint8Array.of(0)); // allocation of a zero page must not change the hash
          if (!a.has(63)) expect(b.imageHash()).toBe(a.imageHash());
        },
      ),
      { seed: 7, numRuns: 50 },
    );
  });
  it('changes the hash when one byte differs', () => {
    const a = new SparseMemory(8);
    const b = new SparseMemory(8);
    a.write(3, 100, Uint8Array.of(9));
    b.write(3, 100, Uint8Array.of(9));
    expect(a.imageHash()).toBe(b.imageHash());
    b.write(3, 101, Uint8Array.of(1));
    expect(a.imageHash()).not.toBe(b.imageHash());
  });
  it('rejects out-of-range pages and page-crossing writes', () => {
    const m = new SparseMemory(4);
    expect(() => m.write(4, 0, Uint8Array.of(1))).toThrow(/outside \[0, 4\)/);
    expect(() => m.write(0, 4095, Uint8Array.of(1, 2))).toThrow(/crosses the page/);
  });
});
