/**
 * The guest: sparse memory registered as memslot 0 of a simulated VM, vCPUs that run the
 * workload's writes through the MMU (TLB, fault path, dirty logging — no side door), and the
 * workload stream on the injected clock. Writes follow the vCPUs' run time, so pausing stops
 * them and QEMU's throttle slows them; in virtual time the guest makes exactly the writes owed
 * in each simulated interval, in wall time it reports when it cannot keep up.
 */
import { Subject, type Subscription } from 'rxjs';
import { createVm } from '../mmu';
import {
  type AccessResult,
  type HostMemory,
  KVM_MEM_LOG_DIRTY_PAGES,
  type MemoryRegion,
  type Vm,
  type VmOptions,
} from '../mmu/api';
import { type Clock, isVirtual } from '../util/clock';
import { Rng } from '../util/rng';
import { PAGE_SIZE } from '../util/units';
import { INCREMENT, WriteBatch, writeBatches } from './batch';
import { ContentViews } from './content';
import { CpuTime } from './cpu-time';
import { DirtyMeter } from './dirty-meter';
import { type BootMemory, fillMemory } from './fill';
import { createGuestMemory } from './backings';
import type { Backing, GuestMemory } from './memory';
import { guestSamples, type GuestSamples, type PageStates } from './page-states';
import { anyFault, type FaultPlan } from '../config/faults';
import { applyGuestFaults } from './faults';
import type { GuestSpec } from './spec';
import type { SparseMemory } from './sparse-memory';
import { decodeVcpuState, encodeVcpuState } from './vcpu-state';
import { createWorkload, type WriteGenerator } from './workloads';

/** The fault plan's parts a guest applies. */
export type GuestSideFaults = Pick<FaultPlan, 'mmu' | 'guest' | 'pageStates'>;

export interface GuestOptions {
  /** The VM's options; its faults come from `faults.mmu`. */
  vm?: Omit<VmOptions, 'faults'>;
  /** KVM_CAP_DIRTY_LOG_RING with this many entries per vCPU (a power of two), set before the vCPUs exist. */
  dirtyRing?: number;
  /**
   * Largest host mapping of guest memory (1 = 4K, the default; 2 = 2M; 3 = 1G). 2 is a host that
   * backs the VM with transparent huge pages: faults outside dirty logging map 2M at a time, so
   * fill costs one fault per 2 MiB instead of one per page (about 3× faster), and enabling
   * logging splits them (eager split) and tracks 4K pages as always.
   */
  hostMappingLevel?: 1 | 2 | 3;
  /**
   * How the fill's pages get mapped: 'mapped' (default), as a running guest's memory is, by the
   * MMU's boot mapping; 'faulted', each page faulted in by vCPU 0's first write to it.
   */
  bootMemory?: BootMemory;
  /** Start from this image instead of the spec's fill (a destination resuming a migrated guest). */
  memory?: SparseMemory;
  /** What holds the pages (memory.ts): stored bytes (default), generated contents, or metadata only (fast mode). */
  backing?: Backing;
  /** Clock ms between workload batches (default 1: a 100 ms window holds 100 batches). */
  tickMs?: number;
  /** The fault plan's parts a guest applies (src/config/faults.ts: its VM's, its own, its page states'), for negative tests. */
  faults?: GuestSideFaults;
}

export interface GuestStats {
  /** Clock ms from start() to now (or to stop()), and vCPU run time (less while paused or throttled). */
  elapsedMs: number;
  runMs: number;
  /** Page writes applied, owed by the workload so far, dropped because the guest fell behind (wall time only), and owed by vCPUs blocked on a full dirty ring. */
  writes: number;
  requested: number;
  missed: number;
  pending: number;
  /** Bytes/s of pages dirtied (writes × 4 KiB) over elapsedMs: what the workload asked for and what it got. */
  requestedRate: number;
  achievedRate: number;
  /** False once the wall-clock guest has dropped writes it could not make in time. */
  keepingUp: boolean;
}

/** In wall time a vCPU makes at most this many writes per tick; the rest count as missed. */
const MAX_WALL_BATCH = 1 << 16;
/**
 * Writes up to this many 32-bit words go through the vCPU's allocation-free word store (one
 * translation per write); larger ones through vcpu.write, whose one copy beats a word loop.
 */
const SMALL_WRITE_WORDS = 16;
const DEFAULT_TICK_MS = 1;
/** QEMU's default dirty-ring-size, for a penalty on a guest created without a ring. */
const DEFAULT_RING_FULL_WRITES = 4096;
const DEFAULT_HOST_MAPPING_LEVEL = 1;

export class Guest {
  readonly slot = 0;
  readonly pages: number;
  readonly meter: DirtyMeter;
  /**
   * Every batch after the vCPUs made it (writes a blocked vCPU still owes are made later), one
   * emission per tick; the object is reused, so read it synchronously.
   */
  readonly batches$ = new Subject<WriteBatch>();
  /** The incrementer's pages, for checkEdgeRule. */
  readonly edgeRegion?: { firstPage: number; pages: number };
  /** Page writes dropped in wall time, and writes that hit no memslot (never expected). */
  private missed = 0;
  private mmioWrites = 0;
  private readonly content: ContentViews;
  private readonly generators: WriteGenerator[];
  private readonly cpu: CpuTime;
  /** Per vCPU: run time it actually ran (not blocked) and writes it has emitted. */
  private readonly cpuMs: Float64Array;
  private readonly emitted: Float64Array;
  /**
   * Per vCPU: dirty-limit's sleep per ring-full exit (ms) and the sleep it has earned by writing
   * but not yet served. QEMU sleeps in the ring-full exit, so only a vCPU that writes is slowed.
   */
  private readonly penaltyMs: Float64Array;
  private readonly sleepOwedMs: Float64Array;
  /** Entries that fill one ring (the ring's size, or QEMU's default when the guest has none). */
  private readonly ringSize: number;
  /** Per vCPU: its ring's push count at the previous tick. */
  private readonly ringPushed: Float64Array;
  private ringStalledMs = 0;
  private lastRun = 0;
  private readonly batch: WriteBatch;
  /** Per vCPU: writes it owes but could not make (its dirty ring was full); made first next time. */
  private readonly pending: WriteBatch[];
  private subscription: Subscription | null = null;
  private startedAt = 0;
  /** Clock time of the last stop(); stats() measure up to it while stopped. */
  private stoppedAt = 0;
  private pausedByUser = false;
  /** What the memslot maps: the bytes, or nothing at all for generated and metadata guests. */
  private readonly host: HostMemory;
  /** The backing keeps no bytes, so each write's content is recorded in it (memory.ts). */
  private readonly records: boolean;

  private constructor(
    readonly spec: GuestSpec,
    readonly vm: Vm,
    /** The guest's RAM (memory.ts): stored bytes, generated contents or metadata. */
    readonly memory: GuestMemory,
    private readonly clock: Clock,
    private readonly tickMs: number,
    private readonly hostMappingLevel: 1 | 2 | 3,
    rng: Rng,
    content: ContentViews,
    ringSize: number,
  ) {
    this.host = memory.host;
    this.records = memory.backing !== 'stored';
    this.pages = memory.pages;
    this.meter = new DirtyMeter(this.pages);
    this.content = content;
    this.edgeRegion = edgeRegionOf(spec);
    const w = spec.workload;
    this.generators = createWorkload(w, { pages: this.pages, vcpus: spec.vcpus, rng, content: this.content });
    this.cpu = new CpuTime(clock.now());
    this.cpu.pause(clock.now());
    this.cpuMs = new Float64Array(spec.vcpus);
    this.emitted = new Float64Array(spec.vcpus);
    this.penaltyMs = new Float64Array(spec.vcpus);
    this.sleepOwedMs = new Float64Array(spec.vcpus);
    this.ringPushed = new Float64Array(spec.vcpus);
    this.ringSize = ringSize;
    this.batch = new WriteBatch(spec.vcpus);
    this.pending = Array.from({ length: spec.vcpus }, () => new WriteBatch(1, 64));
  }

  /** Build the VM, register memory as slot 0, create the vCPUs and write the initial contents. */
  static create(spec: GuestSpec, clock: Clock, options: GuestOptions = {}): Guest {
    const tickMs = options.tickMs ?? DEFAULT_TICK_MS;
    if (!(tickMs > 0)) throw new RangeError(`Guest: tickMs must be positive, got ${tickMs}`);
    const pages = spec.memory / PAGE_SIZE;
    if (options.memory && options.memory.pages !== pages)
      throw new RangeError(`Guest: the given memory has ${options.memory.pages} pages, the spec ${pages}`);
    const rng = new Rng(spec.seed);
    const fillRng = rng.fork();
    const content = new ContentViews(rng.fork());
    const memory = createGuestMemory({
      backing: options.backing ?? 'stored',
      pages,
      seed: spec.seed,
      content,
      edge: edgeRegionOf(spec),
      bytes: options.memory,
      faults: options.faults?.pageStates,
    });
    const host = memory.host;
    const vm = createVm({ ...options.vm, faults: options.faults?.mmu });
    const hostMappingLevel = options.hostMappingLevel ?? DEFAULT_HOST_MAPPING_LEVEL;
    vm.setUserMemoryRegion({
      slot: 0,
      flags: 0,
      guestPhysAddr: 0,
      memorySize: spec.memory,
      memory: host,
      hostMappingLevel,
    });
    if (options.dirtyRing !== undefined) vm.enableDirtyRing(options.dirtyRing);
    for (let v = 0; v < spec.vcpus; v++) vm.createVcpu();
    const guest = new Guest(
      spec,
      vm,
      memory,
      clock,
      tickMs,
      hostMappingLevel,
      rng,
      content,
      options.dirtyRing ?? DEFAULT_RING_FULL_WRITES,
    );
    if (anyFault(options.faults?.guest)) applyGuestFaults(guest, options.faults!.guest!);
    if (!options.memory)
      fillMemory(
        {
          pages,
          populated: spec.fill.populated,
          content: spec.fill.content,
          pool: guest.content.pool(spec.fill.content),
          edge: guest.edgeRegion,
          states: memory.states,
        },
        { vm, slot: guest.slot, memory: host, boot: options.bootMemory ?? 'mapped' },
        fillRng,
      );
    return guest;
  }

  //////////////////////////////     dirty logging     //////////////////////////////

  /** Memslot 0 as registered, with `flags`. */
  memoryRegion(flags = 0): MemoryRegion {
    return {
      slot: this.slot,
      flags,
      guestPhysAddr: 0,
      memorySize: this.spec.memory,
      memory: this.host,
      hostMappingLevel: this.hostMappingLevel,
    };
  }

  /** KVM_SET_USER_MEMORY_REGION with or without KVM_MEM_LOG_DIRTY_PAGES on slot 0. */
  setDirtyLogging(on: boolean): void {
    this.vm.setUserMemoryRegion(this.memoryRegion(on ? KVM_MEM_LOG_DIRTY_PAGES : 0));
  }

  //////////////////////////////     run, pause, throttle     //////////////////////////////

  get running(): boolean {
    return this.subscription !== null;
  }

  /**
   * Subscribe the workload stream on the clock; the vCPUs run from `at` (default now). An
   * earlier `at` (a destination that resumed the guest, then verified its image before the first
   * tick) counts the run time since then, and the first tick makes the writes it owes.
   */
  start(at = this.clock.now()): void {
    if (this.subscription) return;
    const from = Math.min(at, this.clock.now());
    this.startedAt = from;
    this.subscription = writeBatches(this.clock, this.tickMs, (now) => this.produce(now)).subscribe((batch) =>
      this.apply(batch),
    );
    if (!this.pausedByUser) this.cpu.resume(from);
  }

  /** Make the writes owed up to now, then stop the stream. */
  stop(): void {
    if (!this.subscription) return;
    this.catchUp();
    this.cpu.pause(this.clock.now());
    this.subscription.unsubscribe();
    this.subscription = null;
    this.stoppedAt = this.clock.now();
  }

  /**
   * Make the writes owed between the last tick and the clock's now. Call it before a harvest
   * that falls between ticks, so the harvest sees every write of the interval.
   */
  catchUp(): void {
    if (this.subscription) this.apply(this.produce(this.clock.now()));
  }

  get paused(): boolean {
    return this.pausedByUser;
  }

  /** Stop every vCPU (switchover): writes owed up to now are made first, none after. */
  pauseAll(): void {
    if (this.pausedByUser) return;
    this.catchUp();
    this.pausedByUser = true;
    this.cpu.pause(this.clock.now());
    for (const vcpu of this.vm.vcpus) vcpu.pause();
  }

  resumeAll(): void {
    if (!this.pausedByUser) return;
    this.pausedByUser = false;
    for (const vcpu of this.vm.vcpus) vcpu.resume();
    if (this.subscription) this.cpu.resume(this.clock.now());
  }

  get throttle(): number {
    return this.cpu.throttle;
  }

  /** QEMU's CPU throttle in percent [0, 99]: each vCPU runs 10 ms per 10 ms / (1 − p). */
  setThrottle(percent: number): void {
    this.catchUp();
    this.cpu.setThrottle(percent, this.clock.now());
  }

  /**
   * dirty-limit's per-vCPU penalty (QEMU's throttle_us_per_full): vCPU `vcpu` sleeps
   * `usPerRingFull` µs each time its writes fill one dirty ring. 0 lifts it.
   */
  setVcpuPenalty(vcpu: number, usPerRingFull: number): void {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.spec.vcpus)
      throw new RangeError(
        `setVcpuPenalty: vcpu ${vcpu} is outside the allowed range [0, ${this.spec.vcpus - 1}]`,
      );
    if (!Number.isFinite(usPerRingFull) || usPerRingFull < 0)
      throw new RangeError(`setVcpuPenalty: usPerRingFull ${usPerRingFull} must be a finite number ≥ 0`);
    this.catchUp();
    this.penaltyMs[vcpu] = usPerRingFull / 1000;
  }

  vcpuPenalty(vcpu: number): number {
    return this.penaltyMs[vcpu]! * 1000;
  }

  /** Writes vCPU `vcpu` has emitted so far (its own dirtying, for per-vCPU rates). */
  /**
   * Run time vCPU `vcpu` has had (ms; what its workload's writes follow): less while paused,
   * throttled, sleeping off a dirty-limit penalty, stalled on a full ring or blocked on a
   * missing page.
   */
  vcpuRunMs(vcpu: number): number {
    return this.cpuMs[vcpu]!;
  }

  vcpuWrites(vcpu: number): number {
    return this.emitted[vcpu]!;
  }

  //////////////////////////////     state and counters     //////////////////////////////

  /**
   * vCPU run time lost in dirty-ring-full exits so far, ms summed over vCPUs: the time each
   * would have run (after throttle) while it waited for the reaper, counted per tick.
   */
  get ringStallMs(): number {
    return this.ringStalledMs;
  }

  /** Page writes applied through the vCPUs. */
  get writes(): number {
    return this.meter.writes;
  }

  stats(): GuestStats {
    const now = this.clock.now();
    const elapsedMs = (this.subscription ? now : this.stoppedAt) - this.startedAt;
    let requested = 0;
    for (const e of this.emitted) requested += e;
    const pending = this.pending.reduce((n, p) => n + p.length, 0);
    const perSecond = elapsedMs > 0 ? (PAGE_SIZE * 1000) / elapsedMs : 0;
    return {
      elapsedMs,
      runMs: this.cpu.at(now),
      writes: this.writes,
      requested,
      missed: this.missed,
      pending,
      requestedRate: requested * perSecond,
      achievedRate: this.writes * perSecond,
      keepingUp: this.missed === 0,
    };
  }

  /** Writes that found no memslot (emulated as MMIO, never logged). Always 0 for a well-formed guest. */
  get mmioWriteCount(): number {
    return this.mmioWrites;
  }

  /** The vCPUs' registers: run time, workload cursors and RNG state, and writes owed while blocked. */
  vcpuState(): Uint8Array {
    return encodeVcpuState(
      this.generators.map((g, v) => ({
        cpuMs: this.cpuMs[v]!,
        emitted: this.emitted[v]!,
        registers: g.save(),
        pending: this.pending[v]!,
      })),
    );
  }

  /** Resume from another guest's vcpuState() (same spec); call before start(). */
  loadVcpuState(blob: Uint8Array): void {
    if (this.subscription) throw new Error('loadVcpuState: stop the guest first');
    const vcpus = decodeVcpuState(blob, this.spec.vcpus);
    vcpus.forEach((s, v) => {
      this.cpuMs[v] = s.cpuMs;
      this.emitted[v] = s.emitted;
      this.generators[v]!.restore(s.registers);
      this.pending[v]!.clear(0);
      this.pending[v]!.append(s.pending, 0, s.pending.length);
    });
  }

  /** The pages' bytes; only a stored guest has them (a destination resumes from them, tests look). */
  get bytes(): SparseMemory {
    const bytes = this.memory.bytes;
    if (!bytes) throw new Error(`Guest: a ${this.memory.backing} guest keeps no page bytes`);
    return bytes;
  }

  /** Each page's content state, when the backing keeps states (generated, metadata). */
  get pageStates(): PageStates | undefined {
    return this.memory.states;
  }

  /** Metadata-only guest: what its size table's sample pages take from it (text pool, write sizes). */
  pageSamples(): GuestSamples {
    return guestSamples(this.content);
  }

  //////////////////////////////     the write path     //////////////////////////////

  /** The writes each vCPU owes for its run time since the previous tick, as one batch. */
  private produce(now: number): WriteBatch {
    const run = this.cpu.at(now);
    const delta = run - this.lastRun;
    this.lastRun = run;
    const batch = this.batch;
    batch.clear(now);
    const capped = !isVirtual(this.clock);
    for (let v = 0; v < this.generators.length; v++) {
      const vcpu = this.vm.vcpus[v]!;
      // A vCPU stuck in a ring-full exit, paused by the VMM or waiting for a missing page does not run.
      if (!vcpu.paused && !vcpu.ringFull && vcpu.faultedOn < 0) this.cpuMs[v]! += this.serveSleep(v, delta);
      else if (!vcpu.paused && vcpu.ringFull) this.ringStalledMs += delta;
      const generator = this.generators[v]!;
      let owed = Math.floor(generator.owed(this.cpuMs[v]!)) - this.emitted[v]!;
      if (capped && owed > MAX_WALL_BATCH) {
        this.missed += owed - MAX_WALL_BATCH;
        this.emitted[v]! += owed - MAX_WALL_BATCH;
        owed = MAX_WALL_BATCH;
      }
      if (owed > 0) {
        generator.emit(batch, owed);
        this.emitted[v]! += owed;
      }
      this.sleepOwedMs[v]! += (this.ringEntriesSince(v, owed) * this.penaltyMs[v]!) / this.ringSize;
      batch.endSegment(v);
    }
    return batch;
  }

  /**
   * Dirty-ring entries vCPU v pushed since the previous tick: what fills its ring, so what its
   * dirty-limit penalty is charged on (QEMU sleeps in the ring-full exit). A write to a page
   * already dirty pushes nothing. Without a ring, its `writes` stand in for entries.
   */
  private ringEntriesSince(v: number, writes: number): number {
    const pushes = this.vm.vcpus[v]!.ringPushes;
    if (pushes === null) return writes;
    const pushed = pushes - this.ringPushed[v]!;
    this.ringPushed[v] = pushes;
    return pushed;
  }

  /** The part of `delta` ms vCPU v runs after sleeping off the penalty its writes earned. */
  private serveSleep(v: number, delta: number): number {
    const sleep = Math.min(delta, this.sleepOwedMs[v]!);
    this.sleepOwedMs[v]! -= sleep;
    return delta - sleep;
  }

  /** Each vCPU makes what it still owes, then its part of the batch, until its ring fills. */
  private apply(batch: WriteBatch): void {
    this.applyBatch(batch);
    if (this.batches$.observed) this.batches$.next(batch);
  }

  private applyBatch(batch: WriteBatch): void {
    for (let v = 0; v < batch.vcpus; v++) {
      const pending = this.pending[v]!;
      const from = batch.segments[v]!;
      const to = batch.segments[v + 1]!;
      if (pending.length > 0) {
        const made = this.applyRange(v, pending, 0, pending.length);
        pending.shift(made);
        if (pending.length > 0) {
          this.owe(pending, batch, from, to);
          continue;
        }
      }
      const made = this.applyRange(v, batch, from, to);
      if (made < to) this.owe(pending, batch, made, to);
    }
  }

  /** Keep writes [from, to) of `batch` for the vCPU to make when it runs again. (Not private: a seam faults.ts wraps.) */
  owe(pending: WriteBatch, batch: WriteBatch, from: number, to: number): void {
    pending.append(batch, from, to);
  }

  /** Writes [from, to) of `batch` on vCPU v; returns the index of the first write not made. */
  private applyRange(v: number, batch: WriteBatch, from: number, to: number): number {
    const vcpu = this.vm.vcpus[v]!;
    const { views, words, wordStart, wordCount } = this.content;
    const { page, offset, source } = batch;
    let i = from;
    for (; i < to; i++) {
      const gfn = page[i]!;
      const src = source[i]!;
      const gpa = gfn * PAGE_SIZE + offset[i]!;
      let result: AccessResult;
      if (src === INCREMENT) result = vcpu.writeU32(gpa, this.incremented(gfn));
      else if (wordCount[src]! <= SMALL_WRITE_WORDS)
        result = vcpu.writeWords(gpa, words, wordStart[src]!, wordCount[src]!);
      else result = vcpu.write(gpa, views[src]!);
      // A write torn by a ring-full exit is made again in full: the same bytes, so no harm.
      if (result === 'blocked') break;
      if (result === 'mmio') this.mmioWrites++;
    }
    this.meter.record(page, from, i);
    if (this.records) this.recordWrites(batch, from, i);
    return i;
  }

  /** A backing without bytes: what writes [from, to) of `batch` did to their pages (memory.ts). */
  private recordWrites(batch: WriteBatch, from: number, to: number): void {
    const memory = this.memory;
    const { kinds, wordCount } = this.content;
    for (let i = from; i < to; i++) {
      const src = batch.source[i]!;
      if (src === INCREMENT) memory.recordIncrement(batch.page[i]!);
      else memory.recordWrite(batch.page[i]!, batch.offset[i]!, wordCount[src]! * 4, kinds[src]!);
    }
  }

  /** The incrementer's `incb`: the page's first word with byte 0 plus one (what a stored page holds). */
  private incremented(gfn: number): number {
    const stored = this.memory.bytes;
    if (!stored) return 0; // the host stores nothing; recordWrites keeps the counter
    const bytes = stored.read(gfn);
    const word = bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24);
    return (word & ~0xff) | ((word + 1) & 0xff); // signed: stays a small integer
  }
}

/** The incrementer's pages, where the edge rule applies. */
function edgeRegionOf(spec: GuestSpec): { firstPage: number; pages: number } | undefined {
  const w = spec.workload;
  return w.kind === 'incrementer'
    ? { firstPage: w.offset / PAGE_SIZE, pages: w.size / PAGE_SIZE }
    : undefined;
}
