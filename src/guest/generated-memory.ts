/**
 * The `generated` backing (memory.ts): no page bytes are kept. Each page has a content state
 * (page-states.ts, the same state machine fast mode uses) and a write generation that every
 * write bumps; its bytes are a pure function of (seed, gfn, generation, state), made when the
 * encoder reads the page:
 * - RANDOM / TEXT: a page-sized window of the guest's random or text pool, chosen by the hash
 *   of (seed, gfn, generation), with `#gfn.generation` as text at byte 8 (no two versions of
 *   a page, and no two pages, alike);
 * - MIXED: a TEXT page with random 8-byte units scattered over it;
 * - SPARSE_*: a zero page with that many 8-byte units of random or text data;
 * - BYTE0: zero but byte 0; ZERO: zero (read as undefined).
 * In the incrementer's region byte 0 is always the page's counter, as in the real guest.
 * So memory costs 13 bytes a page (state, generation, and the digest memo below), whatever the
 * pages hold; sending a page costs generating it.
 *
 * The image hash (util/digest.ts) needs every page's digest. A page's digest is remembered with
 * the generation it was computed at, when the encoder reads the page: a memo of a pure
 * function, valid exactly while the generation is unchanged, so the hash at the end only
 * regenerates pages written since they were last read. A page the guest wrote behind the
 * migration's back (a lost dirty page) therefore hashes as what it holds now, not as what was
 * sent, and verification fails, as it must.
 */
import { PAGE_SIZE } from '../util/units';
import { digestsHash, pageDigest } from '../util/digest';
import type { HostMemory } from '../mmu/api';
import { POOL_BYTES } from './content';
import type { GuestMemory } from './memory';
import { NullHostMemory } from './null-memory';
import {
  BYTE0,
  MAX_SPARSE_UNITS,
  MIXED,
  MIXED_SAMPLE_UNITS,
  PageStates,
  RANDOM,
  SPARSE_RANDOM,
  SPARSE_TEXT,
  SPARSE_UNIT_BYTES,
  TEXT,
  ZERO,
} from './page-states';
import type { ContentKind } from './spec';

/** The pools generated pages are windows of (the guest's own, from its seed). */
export interface GeneratedPools {
  random: Uint8Array;
  text: Uint8Array;
}

/** Page windows start at a multiple of this inside a pool (as fill pages do). */
const WINDOW_STEP = 64;
const WINDOWS = POOL_BYTES / WINDOW_STEP;
const UNIT_SLOTS = PAGE_SIZE / SPARSE_UNIT_BYTES;

/** murmur3's finaliser over (seed, gfn, generation): the page version's own random number. */
export function versionHash(seed: number, gfn: number, generation: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ gfn;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ Math.imul(generation, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Next value of a xorshift32 sequence (positions and windows of scattered units). */
function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0 || 1;
}

export class GeneratedMemory implements GuestMemory {
  readonly backing = 'generated';
  readonly destinationImage = 'digests';
  readonly bytes = undefined;
  readonly host: HostMemory;
  readonly states: PageStates;
  /** Writes each page has taken (wraps at 2^32; a version is (generation, state)). */
  private readonly generations: Uint32Array;
  /** Each page's digest, computed at digestGeneration[gfn] (+1; 0 = none yet). */
  private readonly digests: Uint32Array;
  private readonly digestGeneration: Uint32Array;
  /** Byte 0 of the incrementer's pages (its counters). */
  private readonly counters: Uint8Array;
  private readonly scratch = new Uint8Array(PAGE_SIZE);
  private readonly stamp = Buffer.alloc(32);

  constructor(
    readonly pages: number,
    private readonly seed: number,
    private readonly pools: GeneratedPools,
    private readonly edge: { firstPage: number; pages: number } | undefined,
  ) {
    this.host = new NullHostMemory(pages);
    this.states = new PageStates(pages);
    this.generations = new Uint32Array(pages);
    this.digests = new Uint32Array(pages);
    this.digestGeneration = new Uint32Array(pages);
    this.counters = new Uint8Array(edge?.pages ?? 0);
  }

  recordFill(gfn: number, kind: ContentKind): void {
    this.states.fill(gfn, kind);
    this.generations[gfn]!++;
  }

  recordWrite(gfn: number, offset: number, size: number, kind: ContentKind): void {
    this.states.write(gfn, offset, size, kind);
    this.generations[gfn]!++;
  }

  recordIncrement(gfn: number): void {
    const i = gfn - (this.edge?.firstPage ?? 0);
    if (i >= 0 && i < this.counters.length) this.counters[i] = (this.counters[i]! + 1) & 0xff;
    this.states.increment(gfn);
    this.generations[gfn]!++;
  }

  byte0(gfn: number): number {
    const i = gfn - (this.edge?.firstPage ?? 0);
    if (i >= 0 && i < this.counters.length) return this.counters[i]!;
    return this.peek(gfn)?.[0] ?? 0;
  }

  /** The page's bytes now (generated into one scratch page), undefined for a zero page. */
  peek(gfn: number): Uint8Array | undefined {
    const state = this.states.states[gfn]!;
    const counter = this.counterOf(gfn);
    if (state === ZERO && counter === 0) return undefined;
    const page = this.generate(gfn, state, counter);
    this.remember(gfn, page);
    return page;
  }

  imageHash(): string {
    const digests = new Uint32Array(this.pages);
    for (let gfn = 0; gfn < this.pages; gfn++) {
      if (this.states.states[gfn] === ZERO && this.counterOf(gfn) === 0) continue;
      digests[gfn] =
        this.digestGeneration[gfn] === this.generations[gfn]! + 1 ? this.digests[gfn]! : this.digestOf(gfn);
    }
    return digestsHash(digests);
  }

  /** The digest of the page's bytes now, computed afresh (what imageHash's memo must equal). */
  digestOf(gfn: number): number {
    const page = this.peek(gfn);
    return page ? this.digests[gfn]! : 0;
  }

  private remember(gfn: number, page: Uint8Array): void {
    this.digests[gfn] = pageDigest(page);
    this.digestGeneration[gfn] = this.generations[gfn]! + 1;
  }

  private counterOf(gfn: number): number {
    const i = gfn - (this.edge?.firstPage ?? 0);
    return i >= 0 && i < this.counters.length ? this.counters[i]! : 0;
  }

  private generate(gfn: number, state: number, counter: number): Uint8Array {
    const out = this.scratch;
    const hash = versionHash(this.seed, gfn, this.generations[gfn]!);
    if (state === RANDOM || state === TEXT || state === MIXED) {
      this.window(out, state === RANDOM ? this.pools.random : this.pools.text, hash, gfn);
      if (state === MIXED) this.scatter(out, this.pools.random, MIXED_SAMPLE_UNITS, hash);
    } else {
      out.fill(0);
      if (state === BYTE0) out[0] = this.states.byte0Of(gfn);
      else if (state > SPARSE_TEXT) this.scatter(out, this.pools.text, state - SPARSE_TEXT, hash);
      else if (state > SPARSE_RANDOM) this.scatter(out, this.pools.random, state - SPARSE_RANDOM, hash);
    }
    if (this.edge && gfn >= this.edge.firstPage && gfn < this.edge.firstPage + this.edge.pages)
      out[0] = counter;
    return out;
  }

  private window(out: Uint8Array, pool: Uint8Array, hash: number, gfn: number): void {
    const start = (hash % WINDOWS) * WINDOW_STEP;
    out.set(pool.subarray(start, start + PAGE_SIZE));
    const n = this.stamp.write(`#${gfn}.${this.generations[gfn]}\n`, 'latin1');
    out.set(this.stamp.subarray(0, n), 8);
  }

  private scatter(out: Uint8Array, pool: Uint8Array, units: number, hash: number): void {
    let x = hash || 1;
    for (let u = 0; u < Math.min(units, MAX_SPARSE_UNITS * 2); u++) {
      x = xorshift(x);
      const slot = x % UNIT_SLOTS;
      x = xorshift(x);
      const from = (x % ((POOL_BYTES - SPARSE_UNIT_BYTES) / 4)) * 4;
      out.set(pool.subarray(from, from + SPARSE_UNIT_BYTES), slot * SPARSE_UNIT_BYTES);
    }
  }
}
