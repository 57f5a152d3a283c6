/**
 * XBZRLE's counters against a case worked by hand with QEMU's rules (migration/ram.c
 * save_xbzrle_page, migration_update_rates; migration/page_cache.c). Four pages, a cache of two
 * slots (slot = gfn mod 2), one round per generation.
 */
import { SparseMemory } from '../../src/guest/sparse-memory';
import { XbzrleRates } from '../../src/migration/xbzrle-rates';
import { Rng } from '../../src/util/rng';
import { PageEncoder, emptyStats, type BatchStats } from '../../src/wire/batch';
import { XbzrleCache } from '../../src/wire/xbzrle';

function setup(cache = new XbzrleCache(2 * 4096)) {
  const memory = new SparseMemory(4);
  const rng = new Rng(4);
  for (let g = 0; g < 4; g++) rng.fill(memory.writable(g));
  const encoder = new PageEncoder({ zero: true, lz4: false, xbzrle: cache });
  const total = emptyStats();
  const round = (n: number, gfns: number[], final = false): BatchStats => {
    const stats = emptyStats();
    encoder.startRound(n, final);
    encoder.encode(n, gfns, 0, gfns.length, memory, stats);
    for (const key of Object.keys(total) as (keyof BatchStats)[]) total[key] += stats[key];
    return stats;
  };
  return { memory, round, total };
}

const counters = (s: BatchStats) => ({
  hits: s.xbzrleCacheHits,
  misses: s.xbzrleCacheMisses,
  overflows: s.xbzrleOverflows,
  bytes: s.xbzrleBytes,
  sent: s.xbzrlePages,
  unchanged: s.unchangedPages,
});

describe('XBZRLE counters, worked by hand', () => {
  it('counts hits, misses, overflow and bytes as QEMU does', () => {
    const { memory, round } = setup();
    // Round 0, the bulk stage: XBZRLE has not started, nothing is looked up or cached.
    expect(counters(round(0, [0, 1, 2, 3]))).toEqual({
      hits: 0,
      misses: 0,
      overflows: 0,
      bytes: 0,
      sent: 0,
      unchanged: 0,
    });
    // Round 1: four misses. 0 and 1 fill slots 0 and 1 (generation 1); 2 and 3 find their slot
    // fresh (filled this generation, lifetime 2) and are not cached.
    expect(counters(round(1, [0, 1, 2, 3]))).toMatchObject({ hits: 0, misses: 4 });
    // Round 2: page 0 has one byte changed at offset 100 → runs ULEB(100) ULEB(1) + 1 byte = 3
    // bytes, +3 (encoding byte and length) = 6; page 1 is a hit, unchanged (skipped, 0 bytes);
    // pages 2 and 3 miss again (slots renewed by the hits).
    memory.writable(0)[100] ^= 0xff;
    expect(counters(round(2, [0, 1, 2, 3]))).toEqual({
      hits: 2,
      misses: 2,
      overflows: 0,
      bytes: 6,
      sent: 1,
      unchanged: 1,
    });
    // Round 3: page 0 rewritten whole: the delta overflows → counted as a hit and an overflow,
    // 4096 bytes; page 1 not dirty.
    new Rng(99).fill(memory.writable(0));
    expect(counters(round(3, [0]))).toEqual({
      hits: 1,
      misses: 0,
      overflows: 1,
      bytes: 4096,
      sent: 0,
      unchanged: 0,
    });
  });

  it('lets a page take a slot once its holder is CACHED_PAGE_LIFETIME generations old', () => {
    const { round } = setup();
    round(0, [0, 2]);
    round(1, [0]); // 0 fills slot 0 at generation 1
    expect(counters(round(2, [2]))).toMatchObject({ misses: 1 }); // 1 + 2 > 2: still fresh
    expect(counters(round(3, [2]))).toMatchObject({ misses: 1 }); // 1 + 2 ≤ 3: 2 takes the slot
    expect(counters(round(4, [2]))).toMatchObject({ hits: 1, unchanged: 1, misses: 0 });
    expect(counters(round(5, [0]))).toMatchObject({ misses: 1 }); // 0 was evicted
  });

  it('the last stage counts misses but caches nothing', () => {
    const { round } = setup();
    round(0, [0]);
    expect(counters(round(1, [0], true))).toMatchObject({ misses: 1 });
  });

  it('rates per period: cache-miss-rate = misses / pages sent, encoding-rate = hits × 4096 / bytes', () => {
    const { memory, round, total } = setup();
    const rates = new XbzrleRates();
    round(0, [0, 1, 2, 3]);
    round(1, [0, 1, 2, 3]);
    rates.closePeriod(total); // 8 pages sent, 4 misses, no hits
    expect([rates.cacheMissRate, rates.encodingRate]).toEqual([0.5, 0]);
    memory.writable(0)[100] ^= 0xff;
    round(2, [0, 1, 2, 3]);
    rates.closePeriod(total); // 3 pages sent (one skipped), 2 misses, 2 hits for 6 bytes
    expect(rates.cacheMissRate).toBeCloseTo(2 / 3, 12);
    expect(rates.encodingRate).toBe((2 * 4096) / 6);
    rates.closePeriod(total); // nothing sent since: both rates stay
    expect(rates.encodingRate).toBe((2 * 4096) / 6);
  });
});
