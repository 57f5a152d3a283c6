import fc from 'fast-check';
import { parseSweepSpec, seedsOf } from '../../src/sweep/spec';
import { canonicalJson, expandSweep, getPath, setPath, stableHash } from '../../src/sweep/points';

describe('sweep spec', () => {
  it('applies defaults: one seed, full mode, empty grid', () => {
    const spec = parseSweepSpec({ base: { guest: { memory: '1GiB' } } });
    expect(seedsOf(spec)).toEqual([1]);
    expect(spec.mode).toBe('full');
    expect(expandSweep(spec)).toHaveLength(1);
  });

  it.each([
    [{ grid: { 'guest..rate': [1] } }, /grid.guest..rate: .*must be a dotted field path/],
    [{ grid: { 'guest.rate': [] } }, /grid.guest.rate: an axis needs at least one value/],
    [{ seeds: 0 }, /seeds: must be an integer in \[1, 10000\]/],
    [{ mode: 'quick' }, /mode: must be full or fast/],
    [{ grid: {}, extra: 1 }, /unknown field\(s\) extra/],
    [{ grid: { 'guest.__proto__.x': [1] } }, /must not name __proto__/],
    [{ grid: { a: Array(1001).fill(1), b: Array(1001).fill(1) } }, /expands to more than 1000000 runs/],
  ])('rejects %j naming the field', (json, message) => {
    expect(() => parseSweepSpec(json)).toThrow(message);
  });
});

describe('expansion', () => {
  const spec = parseSweepSpec({
    base: { guest: { memory: '1GiB', workload: { kind: 'uniform' } }, run: { bandwidth: '1GiB/s' } },
    grid: {
      'guest.workload.rate': ['100MiB/s', '200MiB/s', '300MiB/s'],
      'migration.downtime-limit': [100, 300],
    },
    seeds: [7, 8],
  });

  it('crosses every axis with every seed and sets each field path', () => {
    const runs = expandSweep(spec);
    expect(runs).toHaveLength(12);
    const first = runs[0]!;
    expect(first.coords).toEqual({ 'guest.workload.rate': '100MiB/s', 'migration.downtime-limit': 100 });
    expect(getPath(first.scenario, 'guest.workload.rate')).toBe('100MiB/s');
    expect(getPath(first.scenario, 'guest.workload.kind')).toBe('uniform');
    expect(getPath(first.scenario, 'migration.downtime-limit')).toBe(100);
    expect(new Set(runs.map((r) => r.id)).size).toBe(12);
    expect(new Set(runs.map((r) => r.point)).size).toBe(6);
  });

  it('does not mutate the base scenario', () => {
    expandSweep(spec);
    expect(getPath(spec.base, 'guest.workload.rate')).toBeUndefined();
  });

  it('crosses list entries with the grid and counts a repeated run once', () => {
    const listed = parseSweepSpec({
      base: {},
      list: [
        { 'migration.auto-converge': true },
        { 'migration.auto-converge': false },
        { 'migration.auto-converge': true },
      ],
      grid: { 'run.bandwidth': [1, 2] },
    });
    expect(expandSweep(listed)).toHaveLength(4);
  });

  it('gives fast mode different ids from full mode', () => {
    const full = expandSweep(spec, 'full').map((r) => r.id);
    const fast = expandSweep(spec, 'fast').map((r) => r.id);
    expect(full.filter((id) => fast.includes(id))).toEqual([]);
  });

  it('refuses to set a path through a non-object', () => {
    expect(() => setPath({ guest: 5 }, 'guest.memory', 1)).toThrow(/guest is not an object/);
  });

  it('ids are stable under key order and change with any value (property)', () => {
    const json = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 6 }),
      fc.oneof(fc.integer(), fc.string()),
      {
        maxKeys: 6,
      },
    );
    fc.assert(
      fc.property(json, fc.integer({ min: 0, max: 1000 }), (obj, seed) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(stableHash({ scenario: reversed, seed })).toBe(stableHash({ scenario: obj, seed }));
        expect(canonicalJson(reversed)).toBe(canonicalJson(obj));
        expect(stableHash({ scenario: obj, seed: seed + 1 })).not.toBe(stableHash({ scenario: obj, seed }));
      }),
      { seed: 8, numRuns: 200 },
    );
  });

  it('run count is the product of the axes times the seeds (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (sizes, seeds) => {
          const grid = Object.fromEntries(
            sizes.map((n, axis) => [`run.axis${axis}`, Array.from({ length: n }, (_, i) => i)]),
          );
          const runs = expandSweep(parseSweepSpec({ grid, seeds }));
          expect(runs).toHaveLength(sizes.reduce((a, b) => a * b, 1) * seeds);
          expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
        },
      ),
      { seed: 9, numRuns: 60 },
    );
  });
});
