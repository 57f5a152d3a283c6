/**
 * The destination in postcopy: the guest runs here before all of its memory has arrived, resumed
 * from the source's vCPU state (the same workload, continuing its generators) through this
 * side's own MMU. Pages the source's discard set named are missing: a vCPU's access to one is
 * an EPT violation that the MMU hands to userspace (VmOptions.userfault, userfaultfd's MISSING
 * mode) and that blocks that vCPU alone; it becomes a page request on the return path, and
 * placing the page (UFFDIO_COPY) wakes the vCPUs waiting on it. Each vCPU's wait is its
 * blocktime.
 */
import { Guest, type GuestSpec, type SparseMemory } from '../guest/index';
import type { Clock } from '../util/clock';
import { digestsHash, pageDigest } from '../util/digest';

/** One page request on the return path (QEMU's MIG_RP_MSG_REQ_PAGES), stamped when made. */
export interface PageRequest {
  gfn: number;
  time: number;
}

/**
 * Faults over time: at each sample, the requests made so far and each vCPU's blocktime so far
 * (ms, its current wait included). At most TIMELINE_SAMPLES samples: when full, every other one
 * goes and the spacing doubles, so a run of any length keeps an even outline.
 */
export interface PostcopyTimeline {
  /** ms of the run's clock. */
  t: number[];
  requests: number[];
  /** Per vCPU (the first TIMELINE_VCPUS), its blocktime at each sample. */
  vcpuBlocktime: number[][];
}

export const TIMELINE_SAMPLES = 128;
export const TIMELINE_VCPUS = 32;

export interface PostcopyDestinationOptions {
  /** What pre-copy left here: valid except where `discard` is set. */
  memory: SparseMemory;
  /** Per page: 1 if the source's copy is newer (the discard set). */
  discard: Uint8Array;
  spec: GuestSpec;
  vcpuState: Uint8Array;
  clock: Clock;
  /** The guest's write tick (ms); finer ticks time faults more exactly. */
  tickMs: number;
}

export class PostcopyDestination {
  readonly guest: Guest;
  /** 1 where the page is valid here (received, or never in the discard set). */
  readonly present: Uint8Array;
  private readonly blockedSince: Float64Array;
  /** Per vCPU: ms spent blocked on missing pages (QEMU's postcopy-vcpu-blocktime). */
  readonly vcpuBlocktime: Float64Array;
  /** Time every vCPU was blocked at once (QEMU's postcopy-blocktime). */
  blocktime = 0;
  private allBlockedSince = -1;
  private blockedCount = 0;
  /** Requests not yet answered, by page (one request per page however many vCPUs wait). */
  private readonly requested = new Set<number>();
  /** Requests made (QEMU's postcopy-requests), and the outbox the link drains. */
  requests = 0;
  readonly outbox: PageRequest[] = [];
  missingPages: number;
  /**
   * Per page, the digest of what it held when it became valid here: at the start for the pages
   * pre-copy left, at placement for the rest, in both cases before this guest could write it.
   * Their hash is the image as it arrived, which must be the source's stopped image.
   */
  readonly arrived: Uint32Array;
  private readonly memory: SparseMemory;
  private readonly clock: Clock;
  readonly timeline: PostcopyTimeline;
  private sampleEvery = 1;
  private samplesOffered = 0;

  constructor(o: PostcopyDestinationOptions) {
    this.memory = o.memory;
    this.clock = o.clock;
    this.present = Uint8Array.from(o.discard, (d) => (d ? 0 : 1));
    this.missingPages = o.discard.reduce((n, d) => n + (d ? 1 : 0), 0);
    this.arrived = new Uint32Array(o.discard.length);
    for (let gfn = 0; gfn < o.discard.length; gfn++)
      if (this.present[gfn]) this.arrived[gfn] = pageDigest(o.memory.read(gfn));
    this.guest = Guest.create(o.spec, o.clock, {
      memory: o.memory,
      tickMs: o.tickMs,
      vm: { userfault: (vcpu, gfn) => this.fault(vcpu, gfn) },
    });
    this.guest.loadVcpuState(o.vcpuState);
    const vcpus = o.spec.vcpus;
    this.blockedSince = new Float64Array(vcpus);
    this.vcpuBlocktime = new Float64Array(vcpus);
    this.timeline = {
      t: [],
      requests: [],
      vcpuBlocktime: Array.from({ length: Math.min(vcpus, TIMELINE_VCPUS) }, () => []),
    };
  }

  /** The MMU's userfault: a missing page blocks the vCPU and is requested. */
  private fault(vcpu: number, gfn: number): boolean {
    if (this.present[gfn]) return false;
    const now = this.clock.now();
    this.blockedSince[vcpu] = now;
    this.blockedCount++;
    if (this.blockedCount === this.blockedSince.length) this.allBlockedSince = now;
    this.request(gfn, now);
    return true;
  }

  private request(gfn: number, time: number): void {
    if (this.requested.has(gfn)) return;
    this.requested.add(gfn);
    this.requests++;
    this.outbox.push({ gfn, time });
  }

  blocked(vcpu: number): boolean {
    return this.guest.vm.vcpus[vcpu]!.faultedOn >= 0;
  }

  /** UFFDIO_COPY: place a page that arrived and wake its waiters; a page already here is ignored (EEXIST). */
  place(gfn: number, bytes: Uint8Array): void {
    if (this.present[gfn]) return;
    const time = this.clock.now();
    this.memory.writable(gfn).set(bytes);
    this.arrived[gfn] = pageDigest(bytes);
    this.present[gfn] = 1;
    this.missingPages--;
    this.requested.delete(gfn);
    if (this.allBlockedSince >= 0) {
      this.blocktime += time - this.allBlockedSince;
      this.allBlockedSince = -1;
    }
    const vcpus = this.guest.vm.vcpus;
    for (let v = 0; v < vcpus.length; v++)
      if (vcpus[v]!.faultedOn === gfn) {
        this.vcpuBlocktime[v]! += time - this.blockedSince[v]!;
        this.blockedCount--;
      }
    this.guest.vm.wakeUserfault(gfn);
  }

  /** The link broke: requests in flight are lost with it. */
  forgetRequests(): void {
    this.requested.clear();
    this.outbox.length = 0;
  }

  /** After migrate-recover: ask again for every page a vCPU still waits on. */
  rerequest(): void {
    for (const vcpu of this.guest.vm.vcpus)
      if (vcpu.faultedOn >= 0) this.request(vcpu.faultedOn, this.clock.now());
  }

  /** Offer a sample at `now` (the receiver offers one per epoch and one at the end). */
  sample(final = false): void {
    if (!final && this.samplesOffered++ % this.sampleEvery !== 0) return;
    const now = this.clock.now();
    const tl = this.timeline;
    // 0.1 ms is the simulation's step: nothing finer is real, and the verdict stays small.
    const r = (x: number) => Math.round(x * 10) / 10;
    tl.t.push(r(now));
    tl.requests.push(this.requests);
    tl.vcpuBlocktime.forEach((series, v) =>
      series.push(r(this.vcpuBlocktime[v]! + (this.blocked(v) ? now - this.blockedSince[v]! : 0))),
    );
    if (tl.t.length < TIMELINE_SAMPLES) return;
    const keep = (a: number[]) => a.filter((_, i) => i % 2 === 0);
    tl.t = keep(tl.t);
    tl.requests = keep(tl.requests);
    tl.vcpuBlocktime = tl.vcpuBlocktime.map(keep);
    this.sampleEvery *= 2;
  }

  /** The received bitmap the destination sends on recovery (MIG_RP_MSG_RECV_BITMAP). */
  get bitmapBytes(): number {
    return Math.ceil(this.present.length / 8);
  }

  /** Stop the guest; vCPUs still blocked count their wait up to now. Idempotent. */
  stop(): void {
    if (!this.guest.running) return;
    this.guest.stop();
    const now = this.clock.now();
    for (let v = 0; v < this.blockedSince.length; v++)
      if (this.blocked(v)) this.vcpuBlocktime[v]! += now - this.blockedSince[v]!;
    if (this.allBlockedSince >= 0) this.blocktime += now - this.allBlockedSince;
  }

  /** sha256 over the arrival digests: the source's imageHash() exactly when every page arrived as the source holds it. */
  imageHash(): string {
    return digestsHash(this.arrived);
  }

  /** The first page that did not arrive as the source holds it (a diagnostic where both images are at hand). */
  firstBadPage(source: SparseMemory): number | undefined {
    for (let gfn = 0; gfn < this.arrived.length; gfn++)
      if (this.arrived[gfn] !== pageDigest(source.read(gfn))) return gfn;
    return undefined;
  }
}
