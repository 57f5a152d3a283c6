/**
 * Hybrid postcopy's second phase, as QEMU runs it after `migrate-start-postcopy`: the source has
 * stopped its vCPUs; it sends the device state and the discard set (pages dirtied since they
 * were sent), the destination runs the guest at once, and the pages it lacks come two ways: page
 * requests (faults, on the return path) served first (postcopy-preempt: their own channel,
 * ahead of the background push), and the background push of the rest of the discard set.
 *
 * Link loss pauses both sides (postcopy-paused: neither holds the whole guest; the
 * destination's vCPUs that fault block, the others run on what is here). `migrate-recover`
 * opens a new link (postcopy-recover): the destination sends its received bitmap, the source
 * re-sends what it lacks, the destination asks again for the pages its vCPUs wait on.
 *
 * Time: a VirtualClock stepped in ticks of TICK_MS (the destination guest writes on the same
 * tick); the link carries bandwidth × tick bytes per tick, one-way latency on every page and
 * request. Virtual time only.
 */
import { PostcopyDestination } from '../dest/postcopy';
import type { GuestSpec, SparseMemory } from '../guest/index';
import { transferTimeMs } from '../link/bandwidth';
import type { VirtualClock } from '../util/clock';
import { PAGE_SIZE } from '../util/units';

/** The simulation step (ms): blocktimes are exact to this. */
export const TICK_MS = 0.1;

export type PostcopyStatus =
  'postcopy-active' | 'postcopy-paused' | 'postcopy-recover' | 'completed' | 'failed';

export interface PostcopyFaults {
  /** The source drops every page request and marks the page sent (the vCPU never unblocks). */
  skipRequests: boolean;
  /** Pages left out of the discard set although dirty (the destination keeps stale copies). */
  discardOmits: number[];
}

export interface PostcopyOptions {
  clock: VirtualClock;
  /** The source's image when its vCPUs stopped, never written after. */
  source: SparseMemory;
  /** What pre-copy left at the destination (stale where `discard` is set); the guest runs on it. */
  destination: SparseMemory;
  /** Per page: 1 if still dirty at the source (the discard set). */
  discard: Uint8Array;
  /** The guest, and the source's vCPU state at the stop (the device state sent at the switch). */
  guest: GuestSpec;
  vcpuState: Uint8Array;
  link: { bandwidth: number; latencyMs: number };
  /** Link losses, in ms after the switch; each recovers `recoverAfter` ms later unless absent (then recover() must be called). */
  linkLoss?: { at: number; recoverAfter?: number }[];
  /** The phase fails if it has not completed this long after the switch (ms). */
  deadline: number;
  faults?: Partial<PostcopyFaults>;
  onState?: (status: PostcopyStatus, time: number) => void;
}

export interface PostcopyResult {
  status: 'completed' | 'failed';
  'error-desc'?: string;
  states: PostcopyStatus[];
  /** Stop → the destination runs: device state and discard bitmap on the link. */
  downtime: number;
  /** Switch → every page at the destination. */
  'total-time': number;
  'postcopy-bytes': number;
  'postcopy-requests': number;
  /** Time every vCPU was blocked at once (QEMU's meaning). */
  'postcopy-blocktime': number;
  'postcopy-vcpu-blocktime': number[];
  /** Writes each destination vCPU made (or owes, blocked) since it resumed. */
  vcpuWrites: number[];
  recoveries: number;
  verification: { passed: boolean; firstBadPage?: number };
}

interface InFlight {
  gfn: number;
  arrive: number;
}

export class Postcopy {
  private status: PostcopyStatus = 'postcopy-active';
  private readonly states: PostcopyStatus[] = [];
  private readonly dest: PostcopyDestination;
  /** Per page: still to push from the source. */
  private readonly toSend: Uint8Array;
  private cursor = 0;
  /** Requests on the return path (arrive at the source at `time`), and pages on the wire. */
  private readonly returnPath: { gfn: number; time: number }[] = [];
  private readonly wire: InFlight[] = [];
  private budget = 0;
  private bytes = 0;
  private recoveries = 0;
  private recoverAsked = false;
  private recoverWaiter: (() => void) | undefined;

  constructor(private readonly o: PostcopyOptions) {
    const pages = o.discard.length;
    for (const [name, n] of [
      ['source', o.source.pages],
      ['destination', o.destination.pages],
      ['guest.memory', o.guest.memory / PAGE_SIZE],
    ] as const)
      if (n !== pages) throw new RangeError(`postcopy: ${name} has ${n} pages, the discard set ${pages}`);
    if (!(o.deadline > 0)) throw new RangeError(`postcopy: deadline must be > 0 ms, got ${o.deadline}`);
    this.toSend = o.discard.slice();
    const seen = o.discard.slice();
    for (const gfn of o.faults?.discardOmits ?? []) seen[gfn] = 0;
    this.dest = new PostcopyDestination({
      memory: o.destination,
      discard: seen,
      spec: o.guest,
      vcpuState: o.vcpuState,
      clock: o.clock,
      tickMs: TICK_MS,
    });
  }

  get state(): PostcopyStatus {
    return this.status;
  }

  /** migrate-recover: a new link (only in postcopy-paused; otherwise an error naming the state). */
  recover(): void {
    if (this.status !== 'postcopy-paused')
      throw new Error(`migrate-recover: the migration is ${this.status}, not postcopy-paused`);
    this.recoverAsked = true;
    this.recoverWaiter?.();
  }

  async run(): Promise<PostcopyResult> {
    const { clock, link } = this.o;
    const start = clock.now();
    this.enter('postcopy-active');
    // The switch's downtime: device state and the discard bitmap, then the destination runs.
    const bitmapBytes = Math.ceil(this.o.discard.length / 8);
    const state = this.o.vcpuState.length;
    const downtime = transferTimeMs(state + bitmapBytes, link, 1);
    clock.advanceBy(downtime);
    this.bytes += state + bitmapBytes;
    const guest = this.dest.guest;
    const writesBefore = Array.from({ length: this.o.guest.vcpus }, (_, v) => guest.vcpuWrites(v));
    guest.start();
    const losses = [...(this.o.linkLoss ?? [])].sort((a, b) => a.at - b.at);
    let resumeAt = Infinity;
    let error: string | undefined;
    while (this.dest.missingPages > 0) {
      const now = clock.now();
      const since = now - start;
      if (since >= this.o.deadline) {
        error = this.stuck(since);
        break;
      }
      if (this.status === 'postcopy-active' && losses.length > 0 && since >= losses[0]!.at) {
        const loss = losses.shift()!;
        this.loseLink();
        resumeAt = loss.recoverAfter === undefined ? Infinity : now + loss.recoverAfter;
      }
      if (this.status === 'postcopy-paused') {
        if (resumeAt === Infinity && !this.recoverAsked)
          await new Promise<void>((resolve) => (this.recoverWaiter = resolve));
        if (this.recoverAsked || now >= resumeAt) {
          this.recoverLink();
          resumeAt = Infinity;
          continue;
        }
      } else this.transfer(now);
      clock.advanceBy(TICK_MS);
    }
    const end = clock.now();
    this.dest.stop();
    const bad = this.dest.firstBadPage(this.o.source);
    const passed = bad === undefined;
    if (!error && !passed) error = `verification failed: page ${bad} differs from the source's`;
    this.enter(error ? 'failed' : 'completed');
    return {
      status: error ? 'failed' : 'completed',
      ...(error ? { 'error-desc': error } : {}),
      states: this.states,
      downtime,
      'total-time': end - start,
      'postcopy-bytes': this.bytes,
      'postcopy-requests': this.dest.requests,
      'postcopy-blocktime': this.dest.blocktime,
      'postcopy-vcpu-blocktime': Array.from(this.dest.vcpuBlocktime),
      vcpuWrites: writesBefore.map((n, v) => guest.vcpuWrites(v) - n),
      recoveries: this.recoveries,
      verification: passed ? { passed } : { passed, firstBadPage: bad },
    };
  }

  private enter(status: PostcopyStatus): void {
    this.status = status;
    this.states.push(status);
    this.o.onState?.(status, this.o.clock.now());
  }

  /** One tick of the link: arrivals, then requests first, then the background push. */
  private transfer(now: number): void {
    const { link } = this.o;
    while (this.wire.length > 0 && this.wire[0]!.arrive <= now) {
      const { gfn } = this.wire.shift()!;
      this.dest.place(gfn, this.o.source.read(gfn));
    }
    for (const r of this.dest.outbox.splice(0))
      this.returnPath.push({ gfn: r.gfn, time: r.time + link.latencyMs });
    this.budget += (link.bandwidth * TICK_MS) / 1000;
    let sentAt = now;
    const send = (gfn: number) => {
      this.toSend[gfn] = 0;
      this.budget -= PAGE_SIZE;
      this.bytes += PAGE_SIZE;
      sentAt += (PAGE_SIZE / link.bandwidth) * 1000;
      // The source is stopped: its page reads the same when it lands.
      this.wire.push({ gfn, arrive: sentAt + link.latencyMs });
    };
    // postcopy-preempt: a request that reached the source goes before any background page.
    while (this.returnPath.length > 0 && this.returnPath[0]!.time <= now && this.budget >= PAGE_SIZE) {
      const { gfn } = this.returnPath.shift()!;
      if (this.o.faults?.skipRequests) this.toSend[gfn] = 0;
      else if (this.toSend[gfn]) send(gfn);
      // else: already on the wire; it arrives without a second copy.
    }
    const pages = this.toSend.length;
    while (this.budget >= PAGE_SIZE && this.cursor < pages) {
      if (this.toSend[this.cursor]) send(this.cursor);
      this.cursor++;
    }
    if (this.cursor >= pages && this.budget > PAGE_SIZE) this.budget = PAGE_SIZE; // an idle link saves nothing
  }

  /** postcopy-paused: pages and requests in flight are lost with the connection. */
  private loseLink(): void {
    this.wire.length = 0;
    this.returnPath.length = 0;
    this.dest.forgetRequests();
    this.budget = 0;
    this.enter('postcopy-paused');
  }

  /** migrate-recover: received bitmap back to the source, which re-sends what is not there. */
  private recoverLink(): void {
    this.enter('postcopy-recover');
    const { clock, link } = this.o;
    clock.advanceBy(transferTimeMs(this.dest.bitmapBytes, link, 2));
    this.bytes += this.dest.bitmapBytes;
    for (let gfn = 0; gfn < this.toSend.length; gfn++) this.toSend[gfn] = this.dest.present[gfn] ? 0 : 1;
    this.cursor = 0;
    this.dest.rerequest();
    this.recoverAsked = false;
    this.recoverWaiter = undefined;
    this.recoveries++;
    this.enter('postcopy-active');
  }

  private stuck(since: number): string {
    const waiting = this.dest.guest.vm.vcpus
      .filter((vcpu) => vcpu.faultedOn >= 0)
      .map((vcpu) => `vCPU ${vcpu.id} on page ${vcpu.faultedOn}`);
    return `postcopy did not complete within its deadline of ${this.o.deadline} ms (${since.toFixed(1)} ms): ${this.dest.missingPages} pages never arrived${waiting.length ? `; blocked: ${waiting.join(', ')}` : ''}`;
  }
}
