/**
 * The destination in postcopy: the guest runs here before all of its memory has arrived. Pages
 * the source's discard set named are missing; a vCPU's access to one is a fault (userfaultfd's
 * MISSING event) that blocks that vCPU alone until the page is placed (UFFDIO_COPY) and becomes
 * a page request on the return path. Each vCPU's wait is its blocktime.
 */
import { PAGE_SIZE } from '../util/units';

/** One page request on the return path (QEMU's MIG_RP_MSG_REQ_PAGES), stamped when made. */
export interface PageRequest {
  gfn: number;
  time: number;
}

export class PostcopyDestination {
  /** The guest's RAM here: pre-copied pages, stale where `present` is 0. */
  readonly image: Uint8Array;
  /** 1 where the page is valid here (received, or not in the discard set). */
  readonly present: Uint8Array;
  /** Per vCPU: the page it waits for (-1: runs) and since when. */
  readonly waitingFor: Int32Array;
  private readonly blockedSince: Float64Array;
  /** Per vCPU: ms spent blocked on missing pages (QEMU's postcopy-vcpu-blocktime). */
  readonly vcpuBlocktime: Float64Array;
  /** Time every vCPU was blocked at once (QEMU's postcopy-blocktime). */
  blocktime = 0;
  private allBlockedSince = -1;
  /** Requests not yet answered, by page (one request per page however many vCPUs wait). */
  private readonly requested = new Set<number>();
  /** Requests made (QEMU's postcopy-requests), and the outbox the link drains. */
  requests = 0;
  readonly outbox: PageRequest[] = [];
  missingPages: number;

  constructor(image: Uint8Array, discard: Uint8Array, vcpus: number) {
    this.image = image;
    this.present = Uint8Array.from(discard, (d) => (d ? 0 : 1));
    this.missingPages = discard.reduce((n, d) => n + (d ? 1 : 0), 0);
    this.waitingFor = new Int32Array(vcpus).fill(-1);
    this.blockedSince = new Float64Array(vcpus);
    this.vcpuBlocktime = new Float64Array(vcpus);
  }

  blocked(vcpu: number): boolean {
    return this.waitingFor[vcpu]! >= 0;
  }

  /**
   * vCPU `vcpu` writes `value` at byte 0 of `gfn` at `time` (the access a workload makes). A
   * missing page blocks the vCPU and requests the page; returns whether the write was made.
   */
  write(vcpu: number, gfn: number, value: number, time: number): boolean {
    if (this.blocked(vcpu)) return false;
    if (this.present[gfn]) {
      this.image[gfn * PAGE_SIZE] = value;
      return true;
    }
    this.waitingFor[vcpu] = gfn;
    this.blockedSince[vcpu] = time;
    this.request(gfn, time);
    if (this.allBlockedSince < 0 && this.waitingFor.every((g) => g >= 0)) this.allBlockedSince = time;
    return false;
  }

  private request(gfn: number, time: number): void {
    if (this.requested.has(gfn)) return;
    this.requested.add(gfn);
    this.requests++;
    this.outbox.push({ gfn, time });
  }

  /** UFFDIO_COPY: place a page that arrived; a page already here is ignored (QEMU: EEXIST). */
  place(gfn: number, bytes: Uint8Array, time: number): void {
    if (this.present[gfn]) return;
    this.image.set(bytes, gfn * PAGE_SIZE);
    this.present[gfn] = 1;
    this.missingPages--;
    this.requested.delete(gfn);
    if (this.allBlockedSince >= 0) {
      this.blocktime += time - this.allBlockedSince;
      this.allBlockedSince = -1;
    }
    for (let v = 0; v < this.waitingFor.length; v++) {
      if (this.waitingFor[v] !== gfn) continue;
      this.waitingFor[v] = -1;
      this.vcpuBlocktime[v]! += time - this.blockedSince[v]!;
    }
  }

  /**
   * The link broke: requests in flight are lost. After `migrate-recover` the destination asks
   * again for every page a vCPU still waits on (QEMU re-sends them on the new channel).
   */
  forgetRequests(): void {
    this.requested.clear();
    this.outbox.length = 0;
  }

  rerequest(time: number): void {
    for (const gfn of this.waitingFor) if (gfn >= 0) this.request(gfn, time);
  }

  /** The received bitmap the destination sends on recovery (MIG_RP_MSG_RECV_BITMAP). */
  get bitmapBytes(): number {
    return Math.ceil(this.present.length / 8);
  }

  /** Close the blocktime of vCPUs still blocked when the run ends (they count up to `time`). */
  settle(time: number): void {
    for (let v = 0; v < this.waitingFor.length; v++)
      if (this.waitingFor[v]! >= 0) {
        this.vcpuBlocktime[v]! += time - this.blockedSince[v]!;
        this.blockedSince[v] = time;
      }
    if (this.allBlockedSince >= 0) {
      this.blocktime += time - this.allBlockedSince;
      this.allBlockedSince = time;
    }
  }
}
