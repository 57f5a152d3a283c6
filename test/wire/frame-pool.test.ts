import { SparseMemory } from '../../src/guest/sparse-memory';
import { Rng } from '../../src/util/rng';
import { PageEncoder, emptyStats } from '../../src/wire/batch';
import { FramePool } from '../../src/wire/frame-pool';

test('a pool hands back given buffers and keeps at most maxFree', () => {
  const pool = new FramePool(1000, 1);
  const a = pool.take();
  const b = pool.take();
  expect(a.length).toBe(1000);
  pool.give(a.subarray(0, 10));
  pool.give(b);
  pool.give(Buffer.alloc(1000)); // not ours, and over the cap anyway
  expect(pool.take().buffer).toBe(a.buffer);
  expect(pool.take().buffer).not.toBe(b.buffer); // b was over the cap
});

test('released PAGES frames are reused; small frames are copied out and free their buffer at once', () => {
  const memory = new SparseMemory(64);
  new Rng(1).fill(memory.writable(0));
  for (let g = 1; g < 64; g++) memory.writable(g).fill(g);
  const encoder = new PageEncoder({ zero: true, lz4: true });
  encoder.startRound(0, false);
  const gfns = Array.from({ length: 64 }, (_, i) => i);
  const big = new PageEncoder({ zero: false, lz4: false });
  big.startRound(0, false);
  const first = big.encode(0, gfns, 0, 16, memory, emptyStats())!;
  big.release(first);
  const second = big.encode(0, gfns, 16, 32, memory, emptyStats())!;
  expect(second.buffer).toBe(first.buffer);
  // Fifteen fill pages compress to a few bytes each: the frame is a small copy.
  const small = encoder.encode(0, gfns, 0, 16, memory, emptyStats())!;
  expect(small.buffer.byteLength).toBeLessThan(8192 + 1);
  expect(small.length).toBeLessThan(4096 + 16 * 40);
});
