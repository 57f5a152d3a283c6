/**
 * §7.25 iterator progress and §1.2's yield rules: a walk that yields resumes at
 * next_last_level_gfn, never yields twice at the same GFN, and visits every SPTE of its range.
 */
import { Rng } from '../../src/util/rng';
import { isLastSpte, isShadowPresent } from '../../src/mmu/spte';
import { leaves, PAGE, setup } from './helpers';

describe('§7.25 iterator progress', () => {
  it.each([1, 2, 3, 7, 20])(
    'yielding every %i visits, with vCPUs faulting in new tables meanwhile',
    (every) => {
      const pages = 512 * 40;
      const s = setup(pages, { yieldEvery: every, hostLevel: 2, onYield: () => touch() });
      const rng = new Rng(every);
      const touch = () => s.vcpu.writeU32(rng.int(pages) * PAGE, 1);
      for (let i = 0; i < 300; i++) touch();
      const before = leaves(s.vm).map((l) => l.gfn);
      const visited = new Set<number>();
      const yieldedAt: number[] = [];
      const it = s.vm.mmu.iter();
      for (it.start(s.vm.mmu.root, 4, 1, 0, pages); it.inRange; it.next()) {
        if (s.vm.mmu.condResched(it, false)) {
          yieldedAt.push(it.nextLastLevelGfn);
          continue;
        }
        if (isShadowPresent(it.oldLo) && isLastSpte(it.oldLo, it.level)) visited.add(it.gfn);
      }
      expect(yieldedAt.length).toBeGreaterThan(0);
      expect(yieldedAt.filter((gfn, i) => i > 0 && gfn <= yieldedAt[i - 1]!)).toEqual([]);
      expect(before.filter((gfn) => !visited.has(gfn))).toEqual([]);
    },
  );

  it('a walk that may not yield (yieldEvery 0) visits each SPTE exactly once, in GFN order', () => {
    const s = setup(4096);
    for (let p = 0; p < 4096; p += 3) s.vcpu.writeU32(p * PAGE, p);
    const gfns = leaves(s.vm).map((l) => l.gfn);
    expect(gfns).toEqual([...Array(Math.ceil(4096 / 3)).keys()].map((i) => i * 3));
  });

  it('a yield while zapping flushes first: no vCPU keeps a translation for a zapped page', () => {
    let checks = 0;
    let stale = 0;
    const s = setup(4096, {
      yieldEvery: 5,
      onYield: () => {
        for (let p = 0; p < 4096; p += 61)
          if (s.vm.mmu.leafFor(p) === null) {
            checks++;
            if (s.vcpu.tlb.lookup(p) !== 0) stale++;
          }
      },
    });
    for (let p = 0; p < 4096; p++) s.vcpu.writeU32(p * PAGE, p);
    const flushes = s.vm.stats().tlbFlushes;
    expect(s.vm.mmu.zapLeafs(0, 4096)).toBe(true);
    expect(checks).toBeGreaterThan(0);
    expect(stale).toBe(0);
    expect(s.vm.stats().tlbFlushes).toBeGreaterThan(flushes);
  });

  it('a slot-wide walk that yields still write-protects every page (enable logging with yields)', () => {
    let yields = 0;
    const s = setup(4096, { yieldEvery: 3, onYield: () => yields++ });
    for (let p = 0; p < 4096; p++) s.vcpu.writeU32(p * PAGE, p);
    s.vm.setUserMemoryRegion({
      slot: 1,
      flags: 1,
      guestPhysAddr: 0,
      memorySize: 4096 * PAGE,
      memory: s.memory,
    });
    expect(yields).toBeGreaterThan(0);
    expect(leaves(s.vm).filter((l) => l.lo & 2)).toEqual([]);
  });
});
