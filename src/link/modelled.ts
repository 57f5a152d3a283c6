/**
 * The link as virtual time models it: carrying bytes over it advances the VirtualClock by the
 * time the link (transferTimeMs) or the slowest sender thread (sendTimeMs) needs, so the guest
 * makes exactly the writes of that interval while the pages still travel for real. In wall
 * time the socket takes what it takes and nothing here moves the clock.
 */
import { isVirtual, type Clock, type VirtualClock } from '../util/clock';
import { transferTimeMs, type LinkModel } from './bandwidth';
import { sendTimeMs, type ThreadShare } from './sender';

export class ModelledLink {
  private readonly clock: VirtualClock | null;

  constructor(
    clock: Clock,
    readonly model: LinkModel,
    /** Bytes of guest pages one sender thread encodes per second (0: the CPU is not modelled). */
    private readonly encodeRate: number,
  ) {
    this.clock = isVirtual(clock) ? clock : null;
  }

  /** `bytes` plus `latencies` one-way trips (a request and its answer: 2). */
  carry(bytes: number, latencies: number): void {
    if (!this.clock) return;
    const ms = transferTimeMs(bytes, this.model, latencies);
    if (ms > 0) this.clock.advanceBy(ms);
  }

  /** A page send, spread over its sender threads (the migration thread, multifd channels). */
  carryPages(bytesWire: number, threads: readonly ThreadShare[]): void {
    this.clock?.advanceBy(sendTimeMs(this.model, this.encodeRate, bytesWire, threads));
  }
}
