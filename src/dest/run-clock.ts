/**
 * The destination's reading of the run's clock, so both ends report one clock. In virtual time
 * the destination has no clock of its own worth reading (its process runs at its own speed): a
 * frame arrives at the source's timestamp plus the modelled one-way latency, and frames without
 * a timestamp (PAGES, VCPU_STATE) arrive at the last known time. In wall time the destination
 * measures on its own clock, as a real host would.
 */
import type { Clock } from '../util/clock';
import { WireError } from '../wire/errors';
import type { LinkConfig } from '../wire/config';

export class RunClock {
  private mode: LinkConfig['clock'] = 'wall';
  private latencyMs = 0;
  private lastStamp = 0;
  private lastTime = 0;

  constructor(private readonly wall: Clock) {}

  get virtual(): boolean {
    return this.mode === 'virtual';
  }

  configure(config: LinkConfig): void {
    this.mode = config.clock;
    this.latencyMs = config.latencyMs;
  }

  /** When a frame with timestamp `at` (or none) arrived, in the run's clock. */
  arrival(type: string, at: number | undefined): number {
    if (at !== undefined) {
      if (at < this.lastStamp)
        throw new WireError(
          'PRECOPY_ERR_BAD_FIELD',
          `${type}.at ${at} ms is earlier than the previous timestamp ${this.lastStamp} ms`,
        );
      this.lastStamp = at;
    }
    if (this.virtual) {
      if (at !== undefined) this.lastTime = at + this.latencyMs;
    } else this.lastTime = this.wall.now();
    return this.lastTime;
  }

  /** Now, in the run's clock: the last arrival in virtual time (work here takes none of it). */
  now(): number {
    return this.virtual ? this.lastTime : this.wall.now();
  }
}
