/**
 * The one source of randomness in precopy: a seeded xoroshiro128+ from `pure-rand`.
 * Same seed, same sequence, on every machine. Never use Math.random in src/.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

export class Rng {
  private readonly gen: RandomGenerator;

  constructor(readonly seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    return this.gen.next() >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return (this.u32() * 2 ** 21 + (this.u32() >>> 11)) / 2 ** 53;
  }

  /** Uniform integer in [0, n) for 0 < n <= 2^53. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Fill `out` with random bytes. */
  fill(out: Uint8Array): Uint8Array {
    const words = Math.floor(out.length / 4);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < words; i++) view.setUint32(i * 4, this.u32(), true);
    for (let i = words * 4; i < out.length; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** An independent generator derived from this one (for a sub-component). */
  fork(): Rng {
    return new Rng(this.u32());
  }
}
