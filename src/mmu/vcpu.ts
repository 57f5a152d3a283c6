/**
 * A vCPU: guest accesses through its TLB, the fault path on a miss or a refused write, its PML
 * buffer (D-bit tracking) and its dirty ring. The warm-TLB write is the hot path: no
 * allocation, no BigInt, no SPTE read, just a TLB byte, a store and a return.
 */
import type { AccessResult, DirtyGfn, Vcpu } from './api';
import { KvmError } from './api';
import type { DirtyRing } from './dirty-ring';
import type { Memslot } from './memslot';
import type { MmuVcpu, TdpMmu } from './tdp-mmu';
import { RET_PF_EMULATE, RET_PF_RETRY, WALK_MISCONFIG, WALK_VIOLATION } from './tdp-mmu';
import { Tlb, TLB_D, TLB_W } from './tlb';
import { PAGE_SIZE } from '../util/units';

const INV_PAGE_SIZE = 1 / PAGE_SIZE;
/** VMX's PML buffer: 512 GPAs, drained on every VM exit. */
export const PML_ENTRIES = 512;
/** Re-executions of one access before the vCPU gives up for now (a frozen SPTE, say). */
const MAX_ACCESS_ATTEMPTS = 8;
const BLOCK_PAUSED = 1;
const BLOCK_RING_FULL = 2;
const BLOCK_USERFAULT = 4;

/** What a vCPU needs from its VM. */
export interface VcpuHost {
  readonly mmu: TdpMmu;
  /** The memslot holding `gfn`, or null (MMIO). */
  slotFor(gfn: number): Memslot | null;
  /** A slot with no pages: the initial "last slot" so the hot path needs no null check. */
  readonly noSlot: Memslot;
  markPageDirty(vcpu: VcpuImpl, slot: Memslot, gfn: number): void;
  warn(kind: string): void;
  /** VmOptions.userfault: is this page missing here (postcopy)? */
  readonly userfault: ((vcpu: number, gfn: number) => boolean) | undefined;
}

export class VcpuImpl implements Vcpu, MmuVcpu {
  readonly tlb = new Tlb();
  /** The slot of the last access: the hot path's one-entry slot cache. */
  private lastSlot: Memslot;
  /** 0 while the vCPU may enter the guest; else BLOCK_* bits. */
  private blocked = 0;
  private userfaultGfn = -1;
  private readonly pml = new Float64Array(PML_ENTRIES);
  private pmlCount = 0;
  /** PML-full exits, ring-full exits. */
  readonly exits = { pmlFull: 0, ringFull: 0 };

  constructor(
    private readonly host: VcpuHost,
    readonly id: number,
    readonly ring: DirtyRing | null,
  ) {
    this.lastSlot = host.noSlot;
  }

  get paused(): boolean {
    return (this.blocked & BLOCK_PAUSED) !== 0;
  }

  get ringFull(): boolean {
    return (this.blocked & BLOCK_RING_FULL) !== 0;
  }

  get faultedOn(): number {
    return this.userfaultGfn;
  }

  get ringPushes(): number | null {
    return this.ring === null ? null : this.ring.dirtyIndex;
  }

  writeU32(gpa: number, value: number): AccessResult {
    if (this.blocked !== 0) return 'blocked';
    // Times a power of two is exact, and cheaper than a division.
    const gfn = Math.floor(gpa * INV_PAGE_SIZE);
    const slot = this.lastSlot;
    const rel = gfn - slot.baseGfn;
    // The low 12 bits survive ToInt32 for any GPA, so this holds beyond 4 GiB too.
    const offset = gpa & (PAGE_SIZE - 1);
    if (rel >= 0 && rel < slot.npages && (offset & 3) === 0) {
      const lin = slot.linBase + rel;
      if (this.tlb.writeOk(lin)) {
        const memory = slot.memory;
        // A direct call on the memory keeps the call site monomorphic (inlinable) for SparseMemory.
        if (memory.writeU32 !== undefined) memory.writeU32(slot.memOffset + rel, offset, value);
        else slot.store32(slot.memOffset + rel, offset, value);
        return 'ok';
      }
    }
    return this.writeU32Slow(gpa, value);
  }

  writeWords(gpa: number, words: Int32Array, start: number, count: number): AccessResult {
    if (count <= 0) return 'ok';
    // The first store translates (faulting if it must) and leaves the page cached writable.
    const first = this.writeU32(gpa, words[start]!);
    if (first !== 'ok' || count === 1) return first;
    const offset = gpa & (PAGE_SIZE - 1);
    const slot = this.lastSlot;
    const rel = Math.floor(gpa * INV_PAGE_SIZE) - slot.baseGfn;
    const memory = slot.memory;
    if (
      memory.writeU32 !== undefined &&
      (offset & 3) === 0 &&
      offset + 4 * count <= PAGE_SIZE &&
      rel >= 0 &&
      rel < slot.npages &&
      this.tlb.writeOk(slot.linBase + rel)
    ) {
      const page = slot.memOffset + rel;
      for (let k = 1; k < count; k++) memory.writeU32(page, offset + 4 * k, words[start + k]!);
      return 'ok';
    }
    for (let k = 1; k < count; k++) {
      const result = this.writeU32(gpa + 4 * k, words[start + k]!);
      if (result !== 'ok') return result;
    }
    return 'ok';
  }

  private writeU32Slow(gpa: number, value: number): AccessResult {
    if (!validAccess(gpa, 4)) return this.badAccess();
    const result = this.translate(Math.floor(gpa / PAGE_SIZE), true);
    if (result !== 'ok') return result;
    const slot = this.lastSlot;
    const offset = gpa & (PAGE_SIZE - 1);
    const page = slot.memOffset + (Math.floor(gpa / PAGE_SIZE) - slot.baseGfn);
    if ((offset & 3) === 0) slot.store32(page, offset, value);
    else {
      const bytes = slot.memory.writable(page);
      for (let i = 0; i < 4; i++) bytes[offset + i] = (value >>> (8 * i)) & 0xff;
    }
    return 'ok';
  }

  write(gpa: number, data: Uint8Array): AccessResult {
    if (this.blocked !== 0) return 'blocked';
    if (!validAccess(gpa, data.length)) return this.badAccess();
    const gfn = Math.floor(gpa / PAGE_SIZE);
    const result = this.translate(gfn, true);
    if (result !== 'ok') return result;
    const slot = this.lastSlot;
    slot.memory.writable(slot.memOffset + (gfn - slot.baseGfn)).set(data, gpa & (PAGE_SIZE - 1));
    return 'ok';
  }

  read(gpa: number, length: number): Uint8Array {
    if (this.blocked !== 0) return new Uint8Array(0);
    if (!validAccess(gpa, length)) {
      this.badAccess();
      return new Uint8Array(0);
    }
    const gfn = Math.floor(gpa / PAGE_SIZE);
    const result = this.translate(gfn, false);
    if (result !== 'ok') return new Uint8Array(length);
    const slot = this.lastSlot;
    const offset = gpa & (PAGE_SIZE - 1);
    return slot.memory.read(slot.memOffset + (gfn - slot.baseGfn)).slice(offset, offset + length);
  }

  /**
   * One access that the hot path could not complete: the TLB, the CPU's page walk, and on an
   * EPT violation a VM exit into KVM's fault handler; then the access re-executes.
   */
  private translate(gfn: number, write: boolean): AccessResult {
    const host = this.host;
    const mmu = host.mmu;
    const slot = host.slotFor(gfn);
    if (slot !== null) this.lastSlot = slot;
    const lin = slot === null ? -1 : slot.linBase + (gfn - slot.baseGfn);
    let ret = 0;
    for (let attempt = 0; attempt < MAX_ACCESS_ATTEMPTS; attempt++) {
      const cached = lin < 0 ? 0 : this.tlb.lookup(lin);
      let walk: number = WALK_VIOLATION;
      if (cached !== 0 && write && (cached & TLB_W) === 0) {
        // A cached read-only translation: the write faults without a walk; the CPU drops the entry.
        this.tlb.invalidate(lin);
      } else if (cached !== 0 && (!write || (cached & TLB_D) !== 0)) {
        return 'ok';
      } else {
        // A miss, or a write through a clean entry: walk (setting A/D, logging to PML).
        walk = mmu.hwWalk(this, gfn, write);
        if (walk > 0) {
          if (lin >= 0) this.tlb.fill(lin, walk);
          else host.warn('present SPTE outside every memslot');
          return lin >= 0 ? 'ok' : 'mmio';
        }
      }
      // VM exit: KVM drains the PML buffer on every exit, then handles the violation.
      this.drainPml();
      if (walk === WALK_MISCONFIG) {
        mmu.counters.mmio++;
        return 'mmio';
      }
      // A missing page (postcopy): the fault goes to userspace and this vCPU waits for it.
      if (slot !== null && host.userfault?.(this.id, gfn)) {
        this.blocked |= BLOCK_USERFAULT;
        this.userfaultGfn = gfn;
        return 'blocked';
      }
      ret = mmu.pageFault(this, gfn, slot, write);
      if (ret === RET_PF_EMULATE) {
        mmu.counters.mmio++;
        return 'mmio';
      }
    }
    if (ret !== RET_PF_RETRY) host.warn('access keeps faulting');
    return 'blocked';
  }

  /** A GPA that is not a safe integer, negative, or an access crossing its page. */
  private badAccess(): AccessResult {
    this.host.warn('bad guest access');
    return 'blocked';
  }

  pmlLog(gfn: number): void {
    if (this.pmlCount === PML_ENTRIES) {
      this.exits.pmlFull++;
      this.drainPml();
    }
    this.pml[this.pmlCount++] = gfn;
  }

  /** vmx_flush_pml_buffer: every logged GFN into the dirty log (bitmap or ring). */
  drainPml(): void {
    for (let i = 0; i < this.pmlCount; i++) {
      const gfn = this.pml[i]!;
      const slot = this.host.slotFor(gfn);
      if (slot !== null) this.host.markPageDirty(this, slot, gfn);
    }
    this.pmlCount = 0;
  }

  /** Push to the ring; reaching the soft limit makes the next guest entry exit. */
  ringPush(slot: number, offset: number): void {
    if (!this.ring!.push(slot, offset)) this.host.warn('dirty ring overflow');
    if (this.ring!.softFull && (this.blocked & BLOCK_RING_FULL) === 0) {
      this.blocked |= BLOCK_RING_FULL;
      this.exits.ringFull++;
    }
  }

  /** After KVM_RESET_DIRTY_RINGS: the vCPU may enter again if its ring has room. */
  ringReset(): void {
    if (this.ring !== null && !this.ring.softFull) this.blocked &= ~BLOCK_RING_FULL;
  }

  /** The page it waits for arrived: it may enter the guest again. */
  wakeUserfault(gfn: number): boolean {
    if (this.userfaultGfn !== gfn) return false;
    this.userfaultGfn = -1;
    this.blocked &= ~BLOCK_USERFAULT;
    return true;
  }

  pause(): void {
    // A kick: the vCPU exits (draining PML) and stays out of the guest.
    this.drainPml();
    this.blocked |= BLOCK_PAUSED;
  }

  resume(): void {
    this.blocked &= ~BLOCK_PAUSED;
  }

  exit(): void {
    this.drainPml();
  }

  harvestDirtyRing(): DirtyGfn[] {
    if (this.ring === null)
      throw new KvmError('ENXIO', 'the dirty ring is not enabled (KVM_CAP_DIRTY_LOG_RING)');
    const out: DirtyGfn[] = [];
    this.ring.harvest((slot, offset) => out.push({ slot, offset }));
    return out;
  }
}

function validAccess(gpa: number, length: number): boolean {
  return (
    Number.isSafeInteger(gpa) &&
    gpa >= 0 &&
    Number.isInteger(length) &&
    length >= 0 &&
    (gpa % PAGE_SIZE) + length <= PAGE_SIZE
  );
}
