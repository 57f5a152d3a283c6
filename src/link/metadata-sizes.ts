/**
 * What a page in each content state (src/guest/page-states.ts) costs on the wire, measured with
 * the real encoder (wire/batch.ts PageEncoder) over sample pages. Nothing here re-implements an
 * encoding. States without text are measured once per process and setting (random data
 * compresses alike whatever the seed); text states once per run, from the run's own text pool,
 * because text from one seed's vocabulary compresses up to ~10% differently from another's.
 *
 * Exact: zero pages (header only), raw pages (header + 4096), and with lz4 a page of random data
 * (the encoder falls back to raw: lz4 cannot shrink it), a zero page without zero detection, and
 * the incrementer's byte-0 page (one lz4 size whatever the byte's value). Every sample of such a
 * state encodes to the same size. ESTIMATES: lz4 on text-like, mixed and sparse pages, whose real
 * size depends on the bytes: the mean over the samples (rounded to a byte). `spread` says which.
 * Sparse states are sampled with fewer pages: there are many of them, each close to the next.
 */
import { contentPool } from '../guest/content';
import {
  otherStates,
  samplePage,
  SPARSE_RANDOM,
  STATE_COUNT,
  textStates,
  type GuestSamples,
  type SampleSource,
} from '../guest/page-states';
import { SparseMemory } from '../guest/sparse-memory';
import { Rng } from '../util/rng';
import { PageEncoder, emptyStats } from '../wire/batch';
import { Encoding, HEADER_SIZE, PAGES_BODY_HEADER, PAGE_SIZE } from '../wire/constants';

/** Samples per whole-page state and per sparse state: the mean of so many pages is the estimate. */
const SAMPLES = 24;
const SPARSE_SAMPLES = 6;
/** Fixed: which sample pages are drawn does not depend on the run. */
const SAMPLE_SEED = 0x5eed;

export interface EncodedSizes {
  /** Per state: bytes of the page's entry in a PAGES frame (record header + payload). */
  entryBytes: Uint16Array;
  /** Per state: the encoding the page goes out with (Encoding.ZERO / RAW / LZ4). */
  encoding: Uint8Array;
  /** Per state: largest minus smallest sample entry size; 0 = every sample encoded alike (exact). */
  spread: Uint16Array;
}

export interface SizeOptions {
  zero: boolean;
  lz4: boolean;
}

let fixedPools: { random: Uint8Array; text: Uint8Array } | undefined;
const cache = new Map<string, EncodedSizes>();

/**
 * The size table for an encoder setting (xbzrle is not covered: its size depends on history)
 * and a guest's samples (its text pool, when it has one, and its write sizes).
 */
export function encodedSizes(options: SizeOptions, guest: GuestSamples): EncodedSizes {
  const rng = new Rng(SAMPLE_SEED);
  fixedPools ??= { random: contentPool('random', rng.fork()), text: contentPool('text', rng.fork()) };
  const { writeSize } = guest;
  const key = `${options.zero}/${options.lz4}/${writeSize.random}/${writeSize.text}`;
  let shared = cache.get(key);
  if (!shared) {
    shared = emptySizes();
    const source = { ...fixedPools, writeSize };
    measure(shared, otherStates(), options, source);
    measure(shared, textStates(), options, source);
    cache.set(key, shared);
  }
  if (!guest.text) return shared;
  const sizes: EncodedSizes = {
    entryBytes: shared.entryBytes.slice(),
    encoding: shared.encoding.slice(),
    spread: shared.spread.slice(),
  };
  measure(sizes, textStates(), options, { random: fixedPools.random, text: guest.text, writeSize });
  return sizes;
}

function emptySizes(): EncodedSizes {
  return {
    entryBytes: new Uint16Array(STATE_COUNT),
    encoding: new Uint8Array(STATE_COUNT),
    spread: new Uint16Array(STATE_COUNT),
  };
}

/** Encode samples of each of `states` one page at a time; record mean size, majority encoding, spread. */
function measure(into: EncodedSizes, states: number[], options: SizeOptions, source: SampleSource): void {
  const rng = new Rng(SAMPLE_SEED);
  const encoder = new PageEncoder({ zero: options.zero, lz4: options.lz4 });
  const memory = new SparseMemory(1);
  const page = new Uint8Array(PAGE_SIZE);
  const gfns = [0];
  for (const state of states) {
    let sum = 0;
    let min = Infinity;
    let max = 0;
    const votes = [0, 0, 0];
    const samples = state > SPARSE_RANDOM ? SPARSE_SAMPLES : SAMPLES;
    for (let i = 0; i < samples; i++) {
      memory.writable(0).set(samplePage(page, state, source, rng));
      const stats = emptyStats();
      encoder.encode(0, gfns, 0, 1, memory, stats);
      const entry = stats.bytesWire - HEADER_SIZE - PAGES_BODY_HEADER;
      sum += entry;
      min = Math.min(min, entry);
      max = Math.max(max, entry);
      votes[stats.zeroPages ? Encoding.ZERO : stats.lz4Pages ? Encoding.LZ4 : Encoding.RAW]!++;
    }
    into.entryBytes[state] = Math.round(sum / samples);
    into.encoding[state] = votes.indexOf(Math.max(...votes));
    into.spread[state] = max - min;
  }
}
