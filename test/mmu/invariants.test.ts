/**
 * The invariants of research/kvm-tdp-mmu.md §7, one describe per invariant, named after it.
 */
import { Rng } from '../../src/util/rng';
import {
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KvmError,
  KVM_MEM_READONLY,
} from '../../src/mmu';
import {
  HI_HOST_WRITABLE,
  HI_MMU_WRITABLE,
  isMmioSpte,
  pfnOf,
  SPTE_A,
  SPTE_D,
  SPTE_PS,
  SPTE_RWX,
  SPTE_W,
} from '../../src/mmu/spte';
import { TLB_D, TLB_VALID, TLB_W } from '../../src/mmu/tlb';
import {
  collect,
  getDirty,
  leaves,
  liveDirty,
  LOG_MODES,
  newBitmapFor,
  PAGE,
  setBits,
  setLogging,
  setup,
  setupMode,
  SLOT,
  spteAt,
  writeU32,
} from './helpers';

const MANUAL = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
const INIT_SET = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;

/** Snapshot of every leaf as "gfn:level:lo:hi" for before/after comparisons. */
function snapshot(s: ReturnType<typeof setup>): Map<number, string> {
  return new Map(leaves(s.vm).map((l) => [l.gfn, `${l.level}:${l.lo}:${l.hi}`]));
}

describe('§7.1 completeness: every write after its GFN was last cleared is reported by a later collection', () => {
  for (const mode of LOG_MODES) {
    it(mode.name, () => {
      const pages = 1000;
      const s = setupMode(mode, pages);
      const v2 = s.vm.createVcpu();
      const rng = new Rng(1);
      const pending = new Set<number>();
      const onCollect = (got: number[]) => got.forEach((p) => pending.delete(p));
      for (let round = 0; round < 12; round++) {
        for (let i = 0; i < 300; i++) {
          const p = rng.int(pages);
          writeU32(s, i % 2 ? v2 : s.vcpu, p, round, onCollect, mode);
          pending.add(p);
        }
        onCollect(collect(s, mode));
      }
      for (const v of s.vm.vcpus) v.pause();
      onCollect(collect(s, mode));
      expect([...pending]).toEqual([]);
    });
  }
});

describe('§7.2 quiescence: vCPUs paused, one collection, then a second finds nothing (the seed)', () => {
  for (const mode of LOG_MODES) {
    it(mode.name, () => {
      const s = setupMode(mode, 512);
      const rng = new Rng(2);
      for (let i = 0; i < 200; i++) writeU32(s, s.vcpu, rng.int(512), i, () => {}, mode);
      s.vcpu.pause();
      expect(collect(s, mode).length).toBeGreaterThan(0);
      expect(collect(s, mode)).toEqual([]);
    });
  }
  for (const mode of LOG_MODES.filter((m) => m.kind !== 'dirty-ring'))
    it(`negative (b): when reprotect marks the bitmap the second collection is not empty (${mode.name})`, () => {
      const s = setupMode(mode, 512, { faults: { markBitmapOnReprotect: true } });
      for (let p = 0; p < 512; p += 3) s.vcpu.writeU32(p * PAGE, p);
      s.vcpu.pause();
      collect(s, mode);
      expect(collect(s, mode).length).toBeGreaterThan(0);
    });
});

describe('§7.3 no self-dirtying: wrprot, clear-D, clear-W, aging and splitting never mark the log', () => {
  it.each(['wrprot', 'dbit'] as const)('%s', (tracking) => {
    const s = setup(2048, { log: false, tracking, hostLevel: 2, eagerSplit: true });
    for (let p = 0; p < 2048; p += 7) s.vcpu.writeU32(p * PAGE, p);
    expect(s.vm.stats().pages2m).toBe(4);
    setLogging(s, true); // eager split + wrprot / clear-D
    expect(liveDirty(s)).toEqual([]);
    for (let p = 0; p < 2048; p += 5) s.vcpu.writeU32(p * PAGE, p);
    getDirty(s);
    const end = s.pages;
    s.vm.mmu.wrprotRange(0, end, 1);
    s.vm.mmu.clearDirtyRange(0, end);
    s.vm.mmu.splitHugePages(0, end, 1);
    s.vm.clearYoung(0, end * PAGE);
    s.vm.testYoung(0, end * PAGE);
    expect(liveDirty(s)).toEqual([]);
  });
});

describe('§7.4 precision: a reported GFN was written (or got a writable SPTE) in that iteration', () => {
  for (const mode of LOG_MODES) {
    it(mode.name, () => {
      const s = setupMode(mode, 777);
      const rng = new Rng(4);
      // INITIALLY_SET: the first collection reports everything by design.
      if (mode.manual === INIT_SET) collect(s, mode);
      let written = new Set<number>();
      const onCollect = (got: number[]) => {
        for (const p of got) expect(written.has(p)).toBe(true);
        written = new Set();
      };
      for (let round = 0; round < 8; round++) {
        for (let i = 0; i < 100; i++) {
          const p = rng.int(777);
          written.add(p);
          writeU32(s, s.vcpu, p, round, onCollect, mode);
        }
        s.vcpu.exit(); // PML reaches the log at the latest on an exit
        const got = collect(s, mode);
        expect(got).toEqual([...written].sort((a, b) => a - b));
        onCollect(got);
      }
    });
  }
});

describe('§7.5 write-protect fault: the fast path sets W and logs exactly that GFN once', () => {
  it('returns FIXED through the fast path and changes nothing else', () => {
    const s = setup(600, { log: true });
    for (let p = 0; p < 600; p++) s.vcpu.writeU32(p * PAGE, p);
    getDirty(s);
    const before = snapshot(s);
    const fast = s.vm.stats().faults.fast;
    expect(s.vcpu.writeU32(513 * PAGE, 1)).toBe('ok');
    expect(s.vm.stats().faults.fast).toBe(fast + 1);
    expect(liveDirty(s)).toEqual([513]);
    const after = snapshot(s);
    for (const [gfn, v] of before) if (gfn !== 513) expect(after.get(gfn)).toBe(v);
    expect(spteAt(s, 513)!.lo & SPTE_W).toBe(SPTE_W);
    expect(s.vcpu.writeU32(513 * PAGE, 2)).toBe('ok'); // warm TLB now
    expect(s.vm.stats().faults.fast).toBe(fast + 1);
  });
});

describe('§7.6 a write to a huge SPTE in a logged slot takes the slow path, which splits and maps 4K', () => {
  it('splits and marks only the faulting GFN', () => {
    const s = setup(1024, { hostLevel: 2, eagerSplit: false });
    s.vcpu.writeU32(0, 1);
    s.vcpu.writeU32(600 * PAGE, 1);
    expect(s.vm.stats().pages2m).toBe(2);
    setLogging(s, true);
    const fast = s.vm.stats().faults.fast;
    expect(s.vcpu.writeU32(700 * PAGE, 9)).toBe('ok');
    expect(s.vm.stats().faults.fast).toBe(fast);
    expect(s.vm.stats().pages2m).toBe(1);
    expect(s.vm.stats().pages4k).toBe(512);
    expect(liveDirty(s)).toEqual([700]);
    const writable = leaves(s.vm).filter((l) => l.lo & SPTE_W);
    expect(writable.map((l) => l.gfn)).toEqual([700]);
  });
});

describe('§7.7 no huge writable leaves while logging (without INITIALLY_SET)', () => {
  for (const tracking of ['wrprot', 'dbit'] as const)
    for (const eagerSplit of [true, false])
      it(`${tracking}, eager split ${eagerSplit}`, () => {
        const s = setup(2048, { hostLevel: 2, tracking, eagerSplit });
        for (let p = 0; p < 2048; p += 3) s.vcpu.writeU32(p * PAGE, p);
        setLogging(s, true);
        const hugeWritable = () => leaves(s.vm).filter((l) => l.level > 1 && l.lo & SPTE_W);
        expect(hugeWritable()).toEqual([]);
        for (let p = 0; p < 2048; p += 11) s.vcpu.writeU32(p * PAGE, p);
        expect(hugeWritable()).toEqual([]);
      });
});

describe('§7.8 logging on creation: a writable SPTE created in a logged slot sets the bit at that moment', () => {
  it('by the slow path, the fast path, and a read fault that maps writable', () => {
    const s = setup(256, { log: true });
    s.vcpu.writeU32(3 * PAGE, 1); // slow path
    expect(liveDirty(s)).toEqual([3]);
    getDirty(s);
    s.vcpu.writeU32(3 * PAGE, 2); // fast path
    expect(liveDirty(s)).toEqual([3]);
    getDirty(s);
    s.vcpu.read(9 * PAGE, 4); // read fault: make_spte maps a host-writable page writable
    expect(spteAt(s, 9)!.lo & SPTE_W).toBe(SPTE_W);
    expect(liveDirty(s)).toEqual([9]);
  });
});

describe('§7.9 masked reprotect: set bits lose W (or D), clear bits are untouched', () => {
  it.each(['wrprot', 'dbit'] as const)('%s', (tracking) => {
    const s = setup(256, { log: true, tracking, manual: MANUAL });
    for (let p = 0; p < 256; p++) s.vcpu.writeU32(p * PAGE, p);
    s.vcpu.exit();
    const before = snapshot(s);
    const mask = newBitmapFor(256);
    const chosen = [1, 31, 32, 63, 64, 130, 255];
    for (const p of chosen) mask[p >>> 5] |= 1 << (p & 31);
    s.vm.clearDirtyLog(SLOT, 0, 256, mask);
    const bit = tracking === 'wrprot' ? SPTE_W : SPTE_D;
    for (const l of leaves(s.vm)) {
      if (chosen.includes(l.gfn)) expect(l.lo & bit).toBe(0);
      else expect(`${l.level}:${l.lo}:${l.hi}`).toBe(before.get(l.gfn));
    }
  });
});

describe('§7.10 GET atomicity per word: never lost, never reported twice unless re-dirtied', () => {
  it('each report of a page follows a write to it since its previous report', () => {
    const s = setup(300, { log: true });
    const rng = new Rng(10);
    const dirtySinceReport = new Uint8Array(300);
    for (let i = 0; i < 3000; i++) {
      const p = rng.int(300);
      s.vcpu.writeU32(p * PAGE, i);
      dirtySinceReport[p] = 1;
      if (i % 97 === 0)
        for (const q of getDirty(s)) {
          expect(dirtySinceReport[q]).toBe(1);
          dirtySinceReport[q] = 0;
        }
    }
    s.vcpu.pause();
    for (const q of getDirty(s)) dirtySinceReport[q] = 0;
    expect(dirtySinceReport.every((b) => b === 0)).toBe(true);
  });
});

describe('§7.11 CLEAR only clears what was set; alignment rules give EINVAL', () => {
  it('bits for clean pages change nothing and cause no reprotect or flush', () => {
    const s = setup(200, { log: true, manual: MANUAL });
    s.vcpu.writeU32(5 * PAGE, 1);
    getDirty(s);
    const clean = newBitmapFor(200).fill(0xffffffff);
    clean[0] = ~(1 << 5) >>> 0; // every page but the dirty one
    const before = snapshot(s);
    const flushes = s.vm.stats().tlbFlushes;
    s.vm.clearDirtyLog(SLOT, 0, 200, clean);
    expect(snapshot(s)).toEqual(before);
    expect(s.vm.stats().tlbFlushes).toBe(flushes);
    expect(liveDirty(s)).toEqual([5]);
  });

  it('rejects a misaligned first page, a misaligned count short of the end, and ranges past the slot', () => {
    const s = setup(200, { log: true, manual: MANUAL });
    const bm = newBitmapFor(200);
    const errno = (f: () => void) => {
      try {
        f();
      } catch (e) {
        return (e as KvmError).errno;
      }
      return 'ok';
    };
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 32, 64, bm))).toBe('EINVAL');
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 0, 100, bm))).toBe('EINVAL');
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 64, 200, bm))).toBe('EINVAL');
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 256, 0, bm))).toBe('EINVAL');
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 128, 72, bm))).toBe('ok'); // reaches the end: any count
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 0, 64, bm))).toBe('ok');
    expect(errno(() => s.vm.clearDirtyLog(SLOT, 0, 200, new Uint32Array(4)))).toBe('EFAULT');
    expect(errno(() => s.vm.clearDirtyLog(7, 0, 64, bm))).toBe('ENOENT');
  });
});

describe('§7.12 manual-mode GET is pure: no bitmap change, no SPTE change, no flush', () => {
  it('GET twice returns the same bits and leaves everything alone', () => {
    const s = setup(128, { log: true, manual: MANUAL });
    for (const p of [1, 70, 127]) s.vcpu.writeU32(p * PAGE, p);
    const before = snapshot(s);
    const flushes = s.vm.stats().tlbFlushes;
    expect(getDirty(s)).toEqual([1, 70, 127]);
    expect(getDirty(s)).toEqual([1, 70, 127]);
    expect(snapshot(s)).toEqual(before);
    expect(s.vm.stats().tlbFlushes).toBe(flushes);
  });
});

describe('§7.13 INITIALLY_SET: every bit in [0, npages) is 1, none beyond, nothing write-protected', () => {
  it('1024 + 3 pages, pre-touched writable and huge mappings left alone', () => {
    const pages = 1024 + 3;
    const s = setup(pages, { manual: INIT_SET, hostLevel: 2 });
    for (let p = 0; p < pages; p += 2) s.vcpu.writeU32(p * PAGE, p);
    const before = snapshot(s);
    const huge = s.vm.stats().pages2m;
    expect(huge).toBe(2);
    setLogging(s, true);
    const bits = s.vm.slotFor(0)!.dirtyBitmap!;
    expect(setBits(bits).length).toBe(pages);
    expect(setBits(bits)).toEqual([...Array(pages).keys()]);
    expect(snapshot(s)).toEqual(before);
    expect(s.vm.stats().pages2m).toBe(huge);
  });
});

describe('§7.14 flush before consume: after GET/CLEAR/enable/ring reset no TLB caches a reprotected GFN writable', () => {
  for (const mode of LOG_MODES) {
    it(mode.name, () => {
      const s = setupMode(mode, 256);
      const v2 = s.vm.createVcpu();
      for (let p = 0; p < 256; p++) {
        s.vcpu.writeU32(p * PAGE, p);
        v2.writeU32(p * PAGE, p);
      }
      const reprotected = collect(s, mode);
      expect(reprotected.length).toBeGreaterThan(0);
      const stale = mode.tracking === 'wrprot' ? TLB_VALID | TLB_W : TLB_VALID | TLB_W | TLB_D;
      for (const v of s.vm.vcpus)
        for (const p of reprotected)
          expect(v.tlb.lookup(s.vm.slotFor(0)!.linBase + p) & stale).not.toBe(stale);
    });
  }
  it('also after tens of thousands of cached translations', () => {
    const pages = 70000;
    const s = setup(pages, { log: true, scratch: true });
    let failed = 0;
    for (let p = 0; p < pages; p++) if (s.vcpu.writeU32(p * PAGE, p) !== 'ok') failed++;
    expect(failed).toBe(0);
    expect(getDirty(s).length).toBe(pages);
    let stale = 0;
    for (let p = 0; p < pages; p++) if (s.vcpu.tlb.cachedWritable(p)) stale++;
    expect(stale).toBe(0);
  });
  it('enabling logging flushes too', () => {
    const s = setup(64);
    for (let p = 0; p < 64; p++) s.vcpu.writeU32(p * PAGE, p);
    expect(s.vcpu.tlb.cachedWritable(3)).toBe(true);
    setLogging(s, true);
    for (let p = 0; p < 64; p++) expect(s.vcpu.tlb.cachedWritable(p)).toBe(false);
  });
});

describe('§7.15 negative: without the flush after GET a later write is never reported', () => {
  // Harvest-and-compare: copy every reported page to a destination, then compare images.
  function migrate(skipFlush: boolean, tracking: 'wrprot' | 'dbit'): number {
    const s = setup(512, { log: true, tracking, faults: { skipFlushAfterReprotect: skipFlush } });
    const rng = new Rng(15);
    const dest = new Map<number, number>();
    const copy = (p: number) => dest.set(p, s.memory.read(p)[0]! | (s.memory.read(p)[1]! << 8));
    for (let p = 0; p < 512; p++) s.vcpu.writeU32(p * PAGE, p); // populate
    for (let p = 0; p < 512; p++) copy(p); // bulk pass
    getDirty(s);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 200; i++) s.vcpu.writeU32(rng.int(512) * PAGE, 1000 + round * 200 + i);
      s.vcpu.exit();
      for (const p of getDirty(s)) copy(p);
    }
    s.vcpu.pause();
    for (const p of getDirty(s)) copy(p);
    let mismatches = 0;
    for (let p = 0; p < 512; p++)
      if (dest.get(p) !== (s.memory.read(p)[0]! | (s.memory.read(p)[1]! << 8))) mismatches++;
    return mismatches;
  }
  it.each(['wrprot', 'dbit'] as const)(
    '%s: the comparison passes with the flush and fails without it',
    (tracking) => {
      expect(migrate(false, tracking)).toBe(0);
      expect(migrate(true, tracking)).toBeGreaterThan(0);
    },
  );
});

describe('§7.16 the stale-TLB window is safe: stale writable entries only cover GFNs in the snapshot', () => {
  it('between reprotect and the (deferred) flush', () => {
    const s = setup(256, { log: true, faults: { skipFlushAfterReprotect: true } });
    for (let p = 0; p < 256; p += 2) s.vcpu.writeU32(p * PAGE, p);
    const snap = new Set(getDirty(s));
    for (let p = 0; p < 256; p++) {
      if (!s.vcpu.tlb.cachedWritable(p)) continue;
      if (!snap.has(p)) expect(spteAt(s, p)!.lo & SPTE_W).toBe(SPTE_W);
    }
    for (const p of snap) expect(s.vcpu.tlb.cachedWritable(p)).toBe(true); // the window exists
    s.vm.flushRemoteTlbs();
    s.vcpu.writeU32(2 * PAGE, 9);
    expect(getDirty(s)).toEqual([2]);
  });
});

describe('§7.17 spurious faults change neither SPTE nor bitmap', () => {
  it('a vCPU with a stale read-only TLB entry faults on a page another vCPU already fixed', () => {
    const s = setup(64, { log: true });
    const v2 = s.vm.createVcpu();
    s.vcpu.writeU32(4 * PAGE, 1);
    getDirty(s);
    v2.read(4 * PAGE, 4); // v2 caches a read-only translation
    s.vcpu.writeU32(4 * PAGE, 2); // fast path restores W, logs
    const spte = spteAt(s, 4)!;
    const dirty = liveDirty(s);
    const spurious = s.vm.stats().faults.spurious;
    expect(v2.writeU32(4 * PAGE, 3)).toBe('ok');
    expect(s.vm.stats().faults.spurious).toBe(spurious + 1);
    expect(spteAt(s, 4)).toEqual(spte);
    expect(liveDirty(s)).toEqual(dirty);
  });
});

describe('§7.18 retry: a frozen SPTE makes the fault return RETRY with no side effects', () => {
  it('the vCPU retries, then proceeds once the SPTE is unfrozen', () => {
    const s = setup(64, { log: true });
    s.vcpu.writeU32(8 * PAGE, 1);
    getDirty(s);
    const saved = { lo: 0, hi: 0 };
    expect(s.vm.mmu.freeze(8, 1, true, saved)).toBe(true);
    expect(s.vcpu.writeU32(8 * PAGE, 2)).toBe('blocked');
    expect(s.vm.stats().faults.retry).toBeGreaterThan(0);
    expect(liveDirty(s)).toEqual([]);
    expect(s.vm.stats().warnings).toEqual({});
    s.vm.mmu.freeze(8, 1, false, saved);
    expect(s.vcpu.writeU32(8 * PAGE, 2)).toBe('ok');
    expect(liveDirty(s)).toEqual([8]);
  });
});

describe('§7.19 MMIO: no memslot → a non-present MMIO SPTE, emulation, never logged', () => {
  it('installs the MMIO SPTE once; later accesses exit on the misconfig without the slow path', () => {
    const s = setup(64, { log: true });
    expect(s.vcpu.writeU32(100 * PAGE, 1)).toBe('mmio');
    const it = s.vm.mmu.iter();
    let mmio = 0;
    for (it.start(s.vm.mmu.root, 4, 1, 100, 101); it.inRange; it.next()) if (isMmioSpte(it.oldLo)) mmio++;
    expect(mmio).toBe(1);
    const slow = s.vm.stats().faults.slow;
    expect(s.vcpu.read(100 * PAGE, 4)).toEqual(new Uint8Array(4));
    expect(s.vm.stats().faults.slow).toBe(slow);
    expect(liveDirty(s)).toEqual([]);
  });

  it('a new memslot over an MMIO GFN replaces the stale MMIO SPTE', () => {
    const s = setup(64);
    expect(s.vcpu.writeU32(100 * PAGE, 1)).toBe('mmio');
    s.vm.setUserMemoryRegion({
      slot: 2,
      flags: 0,
      guestPhysAddr: 100 * PAGE,
      memorySize: PAGE,
      memory: s.memory,
    });
    expect(s.vcpu.writeU32(100 * PAGE, 7)).toBe('ok');
    expect(s.memory.read(0)[0]).toBe(7);
  });
});

describe('§7.20 permission lattice: W ⇒ MMU-writable ⇒ Host-writable; read-only slots are never logged', () => {
  it('a read-only logged slot maps reads read-only and emulates writes', () => {
    const s = setup(64);
    s.vm.setUserMemoryRegion({
      slot: 3,
      flags: KVM_MEM_READONLY | 1,
      guestPhysAddr: 1 << 20,
      memorySize: 16 * PAGE,
      memory: s.memory,
    });
    expect(s.vcpu.read((1 << 20) + PAGE, 4).length).toBe(4);
    expect(s.vcpu.writeU32((1 << 20) + PAGE, 1)).toBe('mmio');
    const leaf = s.vm.mmu.leafFor(256 + 1)!;
    expect(leaf.lo & SPTE_W).toBe(0);
    expect(leaf.hi & (HI_HOST_WRITABLE | HI_MMU_WRITABLE)).toBe(0);
    const bm = newBitmapFor(16);
    s.vm.getDirtyLog(3, bm);
    expect(setBits(bm)).toEqual([]);
  });
  it('holds on every leaf after a mixed workload', () => {
    const s = setup(2048, { hostLevel: 2, eagerSplit: false });
    const rng = new Rng(20);
    for (let i = 0; i < 500; i++) s.vcpu.writeU32(rng.int(2048) * PAGE, i);
    setLogging(s, true);
    for (let i = 0; i < 500; i++) s.vcpu.writeU32(rng.int(2048) * PAGE, i);
    getDirty(s);
    s.vm.clearYoung(0, 2048 * PAGE);
    setLogging(s, false);
    for (const l of leaves(s.vm)) {
      if (l.lo & SPTE_W) expect(l.hi & HI_MMU_WRITABLE).toBeTruthy();
      if (l.hi & HI_MMU_WRITABLE) expect(l.hi & HI_HOST_WRITABLE).toBeTruthy();
    }
    expect(s.vm.stats().warnings).toEqual({});
  });
});

describe('§7.21 split preserves translation: children map PFN + i with the parent permissions', () => {
  it('1G → 2M → 4K, page stats −1 at the huge level and +512 below', () => {
    const pages = 512 * 512;
    const s = setup(pages, { hostLevel: 3 });
    s.vcpu.writeU32(0, 1);
    expect(s.vm.stats().pages1g).toBe(1);
    const parent = spteAt(s, 0)!;
    s.vm.mmu.splitHugePages(0, 512, 2);
    expect(s.vm.stats()).toMatchObject({ pages1g: 0, pages2m: 512, pages4k: 0 });
    s.vm.mmu.splitHugePages(0, 512, 1);
    expect(s.vm.stats()).toMatchObject({ pages1g: 0, pages2m: 511, pages4k: 512 });
    for (let i = 0; i < 512; i++) {
      const child = spteAt(s, i)!;
      expect(child.level).toBe(1);
      expect(pfnOf(child.lo, child.hi)).toBe(pfnOf(parent.lo, parent.hi) + i);
      expect(child.lo & (SPTE_RWX | SPTE_A | SPTE_D)).toBe(parent.lo & (SPTE_RWX | SPTE_A | SPTE_D));
      expect(child.lo & SPTE_PS).toBe(0);
      expect(child.hi).toBe(parent.hi);
    }
    const mid = spteAt(s, 512 * 7 + 3)!;
    expect(mid.level).toBe(2);
    expect(pfnOf(mid.lo, mid.hi)).toBe(512 * 7);
  });
});

describe('§7.24 ring: used ≤ size, exit before the soft limit is passed, reset count = harvested entries', () => {
  it.each(['wrprot', 'dbit'] as const)('%s', (tracking) => {
    const s = setup(4096, { log: true, tracking, ring: 1024 });
    const ring = s.vcpu.ring!;
    let page = 0;
    while (s.vcpu.writeU32(page * PAGE, page) === 'ok') {
      page++;
      expect(ring.used).toBeLessThanOrEqual(ring.size);
      if (page > 4096) break;
    }
    expect(s.vcpu.ringFull).toBe(true);
    expect(ring.used).toBeGreaterThanOrEqual(ring.softLimit);
    expect(ring.used).toBeLessThanOrEqual(ring.size);
    const harvested = s.vcpu.harvestDirtyRing();
    expect(s.vm.resetDirtyRings()).toBe(harvested.length);
    expect(s.vcpu.ringFull).toBe(false);
    // Reset reprotected exactly the harvested GFNs.
    const bit = tracking === 'wrprot' ? SPTE_W : SPTE_D;
    const harvestedSet = new Set(harvested.map((e) => e.offset));
    for (const l of leaves(s.vm)) expect((l.lo & bit) === 0).toBe(harvestedSet.has(l.gfn));
    expect(s.vcpu.writeU32(page * PAGE, 1)).toBe('ok');
  });
});

describe('§7.26 aging: test_young is read-only; clear_young access-tracks A/D-disabled SPTEs without logging', () => {
  it('A/D enabled: clear_young clears A, reports youth, never logs', () => {
    const s = setup(16, { log: true });
    s.vcpu.writeU32(0, 1);
    getDirty(s);
    const before = snapshot(s);
    expect(s.vm.testYoung(0, 16 * PAGE)).toBe(true);
    expect(snapshot(s)).toEqual(before);
    expect(s.vm.clearYoung(0, 16 * PAGE)).toBe(true);
    expect(spteAt(s, 0)!.lo & SPTE_A).toBe(0);
    expect(s.vm.testYoung(0, 16 * PAGE)).toBe(false);
    expect(s.vm.clearYoung(0, 16 * PAGE)).toBe(false);
    expect(liveDirty(s)).toEqual([]);
  });

  it('A/D disabled: the SPTE becomes non-present to the CPU; a later write restores W and logs', () => {
    const s = setup(16, { log: true, adBits: false });
    s.vcpu.writeU32(PAGE, 1);
    getDirty(s);
    expect(s.vm.clearYoung(0, 16 * PAGE)).toBe(true);
    expect(spteAt(s, 1)!.lo & SPTE_RWX).toBe(0);
    expect(liveDirty(s)).toEqual([]);
    s.vm.flushRemoteTlbs();
    const fast = s.vm.stats().faults.fast;
    expect(s.vcpu.writeU32(PAGE, 2)).toBe('ok');
    expect(s.vm.stats().faults.fast).toBe(fast + 1);
    expect(spteAt(s, 1)!.lo & SPTE_W).toBe(SPTE_W);
    expect(liveDirty(s)).toEqual([1]);
  });
});
