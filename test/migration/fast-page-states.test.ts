/**
 * Fast mode's page states against real bytes: after any sequence of fills, writes and `incb`s,
 * a page's state is ZERO exactly when its bytes are all zero, and the size table's exact states
 * cost what the real encoder makes of the real page.
 */
import fc from 'fast-check';
import { contentPool, fillPage } from '../../src/guest/content';
import type { PageStateFaults } from '../../src/config/faults';
import { applyPageStateFaults } from '../../src/guest/faults';
import { BYTE0, PageStates, RANDOM, ZERO } from '../../src/guest/page-states';
import { SparseMemory, isZeroPage } from '../../src/guest/sparse-memory';
import { encodedSizes } from '../../src/link/metadata-sizes';
import { Rng } from '../../src/util/rng';
import { PageEncoder, emptyStats } from '../../src/wire/batch';
import { HEADER_SIZE, PAGES_BODY_HEADER } from '../../src/wire/constants';

const PAGES = 4;
const rng = new Rng(11);
const pools = { random: contentPool('random', rng.fork()), text: contentPool('text', rng.fork()) };
const source = { text: pools.text, writeSize: { random: 8, text: 8 } };

type Op =
  | { op: 'fill'; page: number; kind: 'random' | 'text' | 'zero' }
  | { op: 'write'; page: number; kind: 'random' | 'text'; log2: number; slot: number; from: number }
  | { op: 'zeroPage'; page: number }
  | { op: 'incb'; page: number; times: number };

const page = fc.integer({ min: 0, max: PAGES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('fill' as const),
    page,
    kind: fc.constantFrom('random' as const, 'text' as const, 'zero' as const),
  }),
  fc.record({
    op: fc.constant('write' as const),
    page,
    kind: fc.constantFrom('random' as const, 'text' as const),
    log2: fc.integer({ min: 2, max: 12 }),
    slot: fc.nat(),
    from: fc.nat({ max: 60_000 }),
  }),
  fc.record({ op: fc.constant('zeroPage' as const), page }),
  fc.record({ op: fc.constant('incb' as const), page, times: fc.integer({ min: 1, max: 300 }) }),
);

/** The ops on real bytes and on page states side by side. */
function apply(ops: Op[], faults: PageStateFaults = {}): { memory: SparseMemory; states: PageStates } {
  const memory = new SparseMemory(PAGES);
  const states = applyPageStateFaults(new PageStates(PAGES), faults);
  const r = new Rng(3);
  for (const o of ops) {
    const bytes = memory.writable(o.page);
    if (o.op === 'fill') {
      fillPage(bytes, o.kind === 'zero' ? pools.random : pools[o.kind], o.kind, o.page, r);
      states.fill(o.page, o.kind);
    } else if (o.op === 'write') {
      const size = 1 << o.log2;
      const offset = (o.slot % (4096 / size)) * size;
      bytes.set(pools[o.kind].subarray(o.from, o.from + size), offset);
      states.write(o.page, offset, size, o.kind);
    } else if (o.op === 'zeroPage') {
      bytes.fill(0);
      states.write(o.page, 0, 4096, 'zero');
    } else
      for (let i = 0; i < o.times; i++) {
        bytes[0] = (bytes[0]! + 1) & 0xff;
        states.increment(o.page);
      }
  }
  return { memory, states };
}

/** The real encoder's entry size for page `gfn` of `memory`. */
function realEntry(memory: SparseMemory, gfn: number, zero: boolean, lz4: boolean): number {
  const stats = emptyStats();
  new PageEncoder({ zero, lz4 }).encode(0, [gfn], 0, 1, memory, stats);
  return stats.bytesWire - HEADER_SIZE - PAGES_BODY_HEADER;
}

describe('page states', () => {
  it('are ZERO exactly when the bytes are zero, and exact states cost what the encoder says', () => {
    const settings = [
      { zero: true, lz4: true },
      { zero: false, lz4: true },
      { zero: true, lz4: false },
    ];
    const tables = settings.map((s) => encodedSizes(s, source));
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const { memory, states } = apply(ops);
        for (let p = 0; p < PAGES; p++) {
          const state = states.states[p]!;
          expect(state === ZERO).toBe(isZeroPage(memory.read(p)));
          if (state !== ZERO && state !== RANDOM && state !== BYTE0) continue;
          settings.forEach((s, i) => {
            expect(tables[i]!.entryBytes[state]).toBe(realEntry(memory, p, s.zero, s.lz4));
          });
        }
      }),
      { seed: 8, numRuns: 300 },
    );
  });

  it('marks exact states as such in the size table (every sample alike)', () => {
    const lz4 = encodedSizes({ zero: true, lz4: true }, source);
    expect([lz4.spread[ZERO], lz4.spread[RANDOM], lz4.spread[BYTE0]]).toEqual([0, 0, 0]);
    const raw = encodedSizes({ zero: false, lz4: false }, source);
    expect(new Set(raw.entryBytes.filter((b) => b > 0))).toEqual(new Set([7 + 4096]));
  });

  it('negative: the same property fails when the states forget zero → non-zero', () => {
    const zeroAgrees = (faults: PageStateFaults) =>
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const { memory, states } = apply(ops, faults);
        for (let p = 0; p < PAGES; p++)
          if ((states.states[p] === ZERO) !== isZeroPage(memory.read(p))) return false;
        return true;
      });
    expect(fc.check(zeroAgrees({}), { seed: 8, numRuns: 300 }).failed).toBe(false);
    expect(fc.check(zeroAgrees({ forgetZeroToNonzero: true }), { seed: 8, numRuns: 300 }).failed).toBe(true);
  });
});
