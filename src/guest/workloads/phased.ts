/**
 * `phased`: a schedule of basic workloads (idle, then a burst, ...) over the vCPU's run time,
 * looping unless `repeat` is false. Writes are attributed to phases by index: the phase whose
 * span of owed writes contains the write makes it, so the sequence does not depend on ticks.
 */
import type { WriteBatch } from '../batch';
import type { PhasedWorkload } from '../spec';
import { writesPerMs, type WriteGenerator } from './generator';

export class PhasedWrites implements WriteGenerator {
  private readonly rates: Float64Array;
  /** Run time at which phase i starts within a cycle; [n] is the cycle length. */
  private readonly starts: Float64Array;
  /** Writes owed at the start of phase i within a cycle; [n] is a whole cycle's. */
  private readonly startWrites: Float64Array;
  /** Phase instance being emitted (cycle × phases + phase) and writes emitted so far. */
  private instance = 0;
  private emitted = 0;

  constructor(
    private readonly spec: PhasedWorkload,
    private readonly generators: WriteGenerator[],
    vcpus: number,
  ) {
    const n = spec.phases.length;
    this.rates = Float64Array.from(spec.phases, (p) => writesPerMs(p.workload.rate, vcpus));
    this.starts = new Float64Array(n + 1);
    this.startWrites = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      this.starts[i + 1] = this.starts[i]! + spec.phases[i]!.duration;
      this.startWrites[i + 1] = this.startWrites[i]! + this.rates[i]! * spec.phases[i]!.duration;
    }
  }

  owed(cpuMs: number): number {
    const n = this.rates.length;
    const cycle = this.starts[n]!;
    const cycles = this.spec.repeat ? Math.floor(cpuMs / cycle) : 0;
    const t = Math.min(cpuMs - cycles * cycle, cycle);
    let phase = 0;
    while (phase < n - 1 && t >= this.starts[phase + 1]!) phase++;
    return (
      cycles * this.startWrites[n]! +
      this.startWrites[phase]! +
      this.rates[phase]! * (t - this.starts[phase]!)
    );
  }

  emit(batch: WriteBatch, count: number): void {
    const n = this.rates.length;
    let left = count;
    while (left > 0 && (this.spec.repeat || this.instance < n)) {
      const phase = this.instance % n;
      const end = Math.floor(
        Math.floor(this.instance / n) * this.startWrites[n]! + this.startWrites[phase + 1]!,
      );
      const take = Math.min(left, end - this.emitted);
      if (take <= 0) {
        this.instance++;
        continue;
      }
      this.generators[phase]!.emit(batch, take);
      this.emitted += take;
      left -= take;
    }
  }

  save(): number[] {
    const out = [this.instance, this.emitted];
    for (const g of this.generators) {
      const state = g.save();
      out.push(state.length, ...state);
    }
    return out;
  }

  restore(state: number[]): void {
    this.instance = state[0]!;
    this.emitted = state[1]!;
    let at = 2;
    for (const g of this.generators) {
      const length = state[at]!;
      g.restore(state.slice(at + 1, at + 1 + length));
      at += 1 + length;
    }
  }
}
