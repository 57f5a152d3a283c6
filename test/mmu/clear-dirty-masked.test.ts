/**
 * clear_dirty_pt_masked's three ways through a harvest: sparse masks (scattered over many leaf
 * tables), dense masks walked in address order, full masks in one sweep; and a slot whose base
 * is not 32-aligned, where a mask word straddles two leaf tables.
 * Each way must reprotect exactly the harvested pages: the next write to each faults once and
 * is logged again, and no other page is reported.
 */
import { KVM_DIRTY_LOG_INITIALLY_SET, KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } from '../../src/mmu';
import { PAGE, SLOT, setup } from './helpers';

const PAGES = 256 * 1024;

/** Pages of the slot: sparse (1 bit per mask), dense (every other page), full (every page). */
function pattern(): number[] {
  const pages: number[] = [];
  for (let p = 0; p < 96 * 1024; p += 61) pages.push(p); // ~1600 single-bit masks
  for (let p = 96 * 1024; p < 128 * 1024; p += 2) pages.push(p);
  for (let p = 128 * 1024; p < 160 * 1024; p++) pages.push(p);
  return pages;
}

/** Where the reported pages first differ from the expected ones (null: identical), to keep failures short. */
function mismatch(got: number[], want: number[]): { at: number; got?: number; want?: number } | null {
  for (let i = 0; i < Math.max(got.length, want.length); i++)
    if (got[i] !== want[i]) return { at: i, got: got[i], want: want[i] };
  return null;
}

function reported(bitmap: Uint32Array): number[] {
  const pages: number[] = [];
  for (let i = 0; i < bitmap.length; i++)
    for (let b = 0; b < 32; b++) if ((bitmap[i]! >>> b) & 1) pages.push(i * 32 + b);
  return pages;
}

describe.each([
  { name: '32-aligned slot, write protection', basePages: 0, tracking: 'wrprot' as const },
  { name: 'slot 7 pages off alignment, write protection', basePages: 7, tracking: 'wrprot' as const },
  { name: '32-aligned slot, D-bit tracking', basePages: 0, tracking: 'dbit' as const },
])('GET_DIRTY_LOG reprotects exactly the harvested pages ($name)', ({ basePages, tracking }) => {
  it('every harvested page faults once on its next write and is reported again; no other page is', () => {
    const s = setup(PAGES, { log: true, scratch: true, base: basePages * PAGE, tracking });
    const pages = pattern();
    const bitmap = new Uint32Array(PAGES / 32);
    const writeAll = () => {
      let failed = 0;
      for (const p of pages) if (s.vcpu.writeU32(s.base + p * PAGE, p) !== 'ok') failed++;
      expect(failed).toBe(0);
    };
    writeAll();
    s.vm.getDirtyLog(SLOT, bitmap);
    expect(mismatch(reported(bitmap), pages)).toBeNull();
    for (let round = 0; round < 2; round++) {
      const before = s.vm.stats();
      writeAll();
      const after = s.vm.stats();
      if (tracking === 'wrprot') expect(after.faults.fast - before.faults.fast).toBe(pages.length);
      s.vm.getDirtyLog(SLOT, bitmap);
      expect(mismatch(reported(bitmap), pages)).toBeNull();
    }
    // Paused: a second harvest is empty (the seed's double get).
    s.vm.getDirtyLog(SLOT, bitmap);
    expect(reported(bitmap)).toEqual([]);
  });
});

it('with INITIALLY_SET, each mask clears the 4K leaves its own split made, after earlier masks', () => {
  const s = setup(8 * 512, {
    hostLevel: 2,
    manual: KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET,
  });
  // Map everything with 2M pages first, then log: INITIALLY_SET leaves them huge and writable.
  for (let p = 0; p < s.pages; p += 512) s.vcpu.writeU32(p * PAGE, p);
  s.vm.setUserMemoryRegion({
    slot: SLOT,
    flags: 1,
    guestPhysAddr: 0,
    memorySize: s.pages * PAGE,
    memory: s.memory,
    hostMappingLevel: 2,
  });
  const all = new Uint32Array(s.pages / 32).fill(0xffffffff);
  // One sparse page per 2M region: each CLEAR splits its region after earlier masks were applied,
  // so the leaf-table cache must not outlive the split.
  const clear = new Uint32Array(s.pages / 32);
  const cleared: number[] = [];
  for (let region = 0; region < 8; region++) {
    const p = region * 512 + 100;
    clear[p >>> 5] |= 1 << (p & 31);
    cleared.push(p);
  }
  s.vm.getDirtyLog(SLOT, all);
  s.vm.clearDirtyLog(SLOT, 0, s.pages, clear);
  const before = s.vm.stats().faults;
  for (const p of cleared) expect(s.vcpu.writeU32(p * PAGE, 1)).toBe('ok');
  const after = s.vm.stats().faults;
  // Each cleared page was write-protected at 4K: its write faults (fast or slow), none was lost.
  expect(after.fast + after.slow - before.fast - before.slow).toBe(cleared.length);
  const log = new Uint32Array(s.pages / 32);
  s.vm.getDirtyLog(SLOT, log);
  for (const p of cleared) expect((log[p >>> 5]! >>> (p & 31)) & 1).toBe(1);
});
