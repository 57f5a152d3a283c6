import { Tlb, TLB_D, TLB_VALID, TLB_W, TLB_WRITE_OK } from '../../src/mmu/tlb';

describe('the per-vCPU TLB', () => {
  it('a flush invalidates every entry, across generation wrap-arounds', () => {
    const tlb = new Tlb();
    tlb.grow(10000);
    let stale = 0;
    for (let round = 0; round < 100; round++) {
      tlb.fill(round, TLB_WRITE_OK);
      tlb.fill(9000, TLB_VALID | TLB_W);
      expect(tlb.lookup(round)).toBe(TLB_WRITE_OK);
      tlb.flush();
      for (let p = 0; p <= round; p++) if (tlb.lookup(p) !== 0) stale++;
      if (tlb.lookup(9000) !== 0) stale++;
    }
    expect(stale).toBe(0);
  });

  it("the hot path's write-ok bit: set only for a writable, dirty entry, cleared by refill, invalidate and flush", () => {
    const tlb = new Tlb();
    tlb.grow(40000);
    const lins = [1, 2, 3, 4, 39999];
    tlb.fill(1, TLB_WRITE_OK);
    tlb.fill(2, TLB_VALID | TLB_W);
    tlb.fill(3, TLB_VALID | TLB_D);
    tlb.fill(39999, TLB_WRITE_OK);
    expect(lins.map((lin) => tlb.writeOk(lin))).toEqual([true, false, false, false, true]);
    tlb.fill(1, TLB_VALID | TLB_W); // refilled clean (after a D-bit clear): no longer write-ok
    tlb.invalidate(39999);
    expect(lins.map((lin) => tlb.writeOk(lin))).toEqual([false, false, false, false, false]);
    tlb.fill(4, TLB_WRITE_OK);
    tlb.fill(39999, TLB_WRITE_OK);
    tlb.flush();
    expect(lins.map((lin) => tlb.writeOk(lin))).toEqual([false, false, false, false, false]);
    expect(tlb.lookup(4)).toBe(0);
    // Bits set after a flush belong to the next one: chunks are listed again.
    tlb.fill(39999, TLB_WRITE_OK);
    expect(tlb.writeOk(39999)).toBe(true);
    tlb.flush();
    expect(tlb.writeOk(39999)).toBe(false);
  });

  it('untouched memory costs only the chunk directory', () => {
    const tlb = new Tlb();
    tlb.grow(16 * 1024 * 1024);
    // One directory slot per 4096-page byte chunk and per 32768-page bit chunk, and a flag per bit chunk.
    const directory = (4096 + 512) * 8 + 512;
    expect(tlb.bytes).toBe(directory);
    tlb.fill(5, TLB_WRITE_OK);
    expect(tlb.bytes).toBe(directory + 4096 + 4096);
  });
});
