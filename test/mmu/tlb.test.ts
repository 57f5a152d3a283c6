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

  it('the hot path compares one byte against writeOk: only a writable, dirty entry of this generation matches', () => {
    const tlb = new Tlb();
    tlb.grow(8);
    tlb.fill(1, TLB_WRITE_OK);
    tlb.fill(2, TLB_VALID | TLB_W);
    tlb.fill(3, TLB_VALID | TLB_D);
    const byte = (lin: number) => tlb.chunks[0]![lin];
    expect([1, 2, 3, 4].map((lin) => byte(lin) === tlb.writeOk)).toEqual([true, false, false, false]);
    tlb.flush();
    expect(byte(1) === tlb.writeOk).toBe(false);
    tlb.invalidate(1);
    expect(tlb.lookup(1)).toBe(0);
  });

  it('untouched memory costs only the chunk directory', () => {
    const tlb = new Tlb();
    tlb.grow(16 * 1024 * 1024);
    expect(tlb.bytes).toBe(4096 * 8);
    tlb.fill(5, TLB_WRITE_OK);
    expect(tlb.bytes).toBe(4096 * 8 + 4096);
  });
});
