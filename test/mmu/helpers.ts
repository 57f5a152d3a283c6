/** Shared set-up for the MMU tests: a VM with one logged slot over sparse memory. */
import { NullHostMemory } from '../../src/guest/null-memory';
import { SparseMemory } from '../../src/guest/sparse-memory';
import type { HostMemory, VmOptions } from '../../src/mmu';
import {
  KVM_DIRTY_LOG_INITIALLY_SET,
  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
  KVM_MEM_LOG_DIRTY_PAGES,
  KvmVm,
} from '../../src/mmu';
import { isLastSpte, isShadowPresent } from '../../src/mmu/spte';
import type { VcpuImpl } from '../../src/mmu/vcpu';

export const PAGE = 4096;
export const SLOT = 1;

export interface Setup {
  vm: KvmVm;
  vcpu: VcpuImpl;
  memory: HostMemory & { read(page: number): Uint8Array };
  /** First GPA of the slot. */
  base: number;
  pages: number;
}

/** A VM with one vCPU and slot 1 of `pages` pages at `base`, optionally dirty-logged. */
export function setup(
  pages: number,
  options: VmOptions & {
    log?: boolean;
    base?: number;
    hostLevel?: 1 | 2 | 3;
    manual?: number;
    ring?: number;
    /** Back the slot with NullHostMemory (no page storage) for tests over many pages. */
    scratch?: boolean;
  } = {},
): Setup {
  const vm = new KvmVm(options);
  if (options.manual !== undefined) vm.enableManualDirtyLogProtect(options.manual);
  if (options.ring !== undefined) vm.enableDirtyRing(options.ring);
  const vcpu = vm.createVcpu();
  const memory = options.scratch ? new NullHostMemory(pages) : new SparseMemory(pages);
  const base = options.base ?? 0;
  vm.setUserMemoryRegion({
    slot: SLOT,
    flags: options.log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
    guestPhysAddr: base,
    memorySize: pages * PAGE,
    memory,
    hostMappingLevel: options.hostLevel ?? 1,
  });
  return { vm, vcpu, memory, base, pages };
}

export function setLogging(s: Setup, on: boolean): void {
  s.vm.setUserMemoryRegion({
    slot: SLOT,
    flags: on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
    guestPhysAddr: s.base,
    memorySize: s.pages * PAGE,
    memory: s.memory,
    hostMappingLevel: s.vm.slotFor(s.base / PAGE)!.hostLevel as 1 | 2 | 3,
  });
}

export function newBitmapFor(pages: number): Uint32Array {
  return new Uint32Array(Math.ceil(pages / 64) * 2);
}

/** Page offsets whose bit is set, ascending. */
export function setBits(bitmap: Uint32Array, pages = bitmap.length * 32): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length; i++) {
    let w = bitmap[i]!;
    while (w !== 0) {
      const bit = 31 - Math.clz32(w & -w);
      w &= w - 1;
      if (i * 32 + bit < pages) out.push(i * 32 + bit);
    }
  }
  return out;
}

/** GET_DIRTY_LOG and return the dirty page offsets. */
export function getDirty(s: Setup): number[] {
  const bitmap = newBitmapFor(s.pages);
  s.vm.getDirtyLog(SLOT, bitmap);
  return setBits(bitmap, s.pages);
}

export interface Leaf {
  gfn: number;
  level: number;
  lo: number;
  hi: number;
}

/** Every present leaf SPTE in [start, end) GFNs, by walking the root with TdpIter. */
export function leaves(vm: KvmVm, start = 0, end = vm.mmu.maxGfn): Leaf[] {
  const out: Leaf[] = [];
  const it = vm.mmu.iter();
  for (it.start(vm.mmu.root, vm.mmu.rootLevel, 1, start, end); it.inRange; it.next()) {
    if (!isShadowPresent(it.oldLo) || !isLastSpte(it.oldLo, it.level)) continue;
    out.push({ gfn: it.gfn, level: it.level, lo: it.oldLo, hi: it.oldHi });
  }
  return out;
}

/** The 4K leaf for a GPA, or the huge leaf covering it. */
export function spteAt(s: Setup, page: number): { lo: number; hi: number; level: number } | null {
  return s.vm.mmu.leafFor(s.base / PAGE + page);
}

/** The live dirty bitmap's set page offsets (without harvesting). */
export function liveDirty(s: Setup): number[] {
  const slot = s.vm.slotFor(s.base / PAGE)!;
  return setBits(slot.dirtyBitmap!, s.pages);
}

export interface LogMode {
  name: string;
  kind: 'dirty-log' | 'clear-log' | 'dirty-ring';
  tracking: 'wrprot' | 'dbit';
  manual?: number;
  ring?: number;
}

const MANUAL = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
const INIT_SET = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;

/** Every way userspace can collect the log, in both tracking modes. */
export const LOG_MODES: LogMode[] = [
  { name: 'dirty-log, write-protect', kind: 'dirty-log', tracking: 'wrprot' },
  { name: 'dirty-log, D-bit/PML', kind: 'dirty-log', tracking: 'dbit' },
  { name: 'clear-log, write-protect', kind: 'clear-log', tracking: 'wrprot', manual: MANUAL },
  {
    name: 'clear-log + INITIALLY_SET, write-protect',
    kind: 'clear-log',
    tracking: 'wrprot',
    manual: INIT_SET,
  },
  { name: 'clear-log + INITIALLY_SET, D-bit/PML', kind: 'clear-log', tracking: 'dbit', manual: INIT_SET },
  { name: 'dirty-ring, write-protect', kind: 'dirty-ring', tracking: 'wrprot', ring: 1024 },
  { name: 'dirty-ring, D-bit/PML', kind: 'dirty-ring', tracking: 'dbit', ring: 1024 },
];

export function setupMode(
  mode: LogMode,
  pages: number,
  options: VmOptions & { hostLevel?: 1 | 2 | 3; base?: number } = {},
): Setup {
  return setup(pages, {
    ...options,
    log: true,
    tracking: mode.tracking,
    manual: mode.manual,
    ring: mode.ring,
  });
}

/** One collection the way the mode's userspace does it; the dirty page offsets, sorted, unique. */
export function collect(s: Setup, mode: LogMode): number[] {
  if (mode.kind === 'dirty-ring') {
    const pages = new Set<number>();
    for (const vcpu of s.vm.vcpus)
      for (const e of vcpu.harvestDirtyRing()) if (e.slot === SLOT) pages.add(e.offset);
    s.vm.resetDirtyRings();
    return [...pages].sort((a, b) => a - b);
  }
  const bitmap = newBitmapFor(s.pages);
  s.vm.getDirtyLog(SLOT, bitmap);
  if (mode.kind === 'clear-log') s.vm.clearDirtyLog(SLOT, 0, s.pages, bitmap);
  return setBits(bitmap, s.pages);
}

/** A guest write that, like the selftest's host loop, collects when the vCPU exits for a full ring. */
export function writeU32(
  s: Setup,
  vcpu: VcpuImpl,
  page: number,
  value: number,
  onCollect: (pages: number[]) => void,
  mode: LogMode,
): void {
  for (;;) {
    const r = vcpu.writeU32(s.base + page * PAGE, value);
    if (r !== 'blocked' || !vcpu.ringFull) return;
    onCollect(collect(s, mode));
  }
}
