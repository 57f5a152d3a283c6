/**
 * The memory plan: which backing full mode uses, and the refusal of a migration that cannot fit
 * in this machine's memory (before anything is allocated), naming the field and the way out.
 */
import { openDestination, parseScenario, runScenario } from '../../src/migration/index';
import { virtualClock } from '../../src/util/clock';
import { estimateBytes, planMemory } from '../../src/migration/memory-plan';

const GiB = 1024 ** 3;
/** This machine's kind: 24 GiB, about 22 of them available. */
const AVAILABLE = 22 * GiB;

const scenario = (guest: object, run: object = {}, migration: object = {}) =>
  parseScenario({
    guest: { memory: '64GiB', workload: { kind: 'hotcold', rate: '500MiB/s', hot: '4GiB' }, ...guest },
    migration: { 'max-bandwidth': '10Gbit/s', ...migration },
    run: { bandwidth: '10Gbit/s', ...run },
  });

describe('full mode chooses the backing by size', () => {
  it('stores real bytes while they fit comfortably, generates them above', () => {
    expect(
      planMemory(scenario({ memory: '1GiB', workload: { kind: 'uniform' } }), 'full', AVAILABLE).backing,
    ).toBe('stored');
    const big = planMemory(scenario({}), 'full', AVAILABLE);
    expect(big.backing).toBe('generated');
    // 64 GiB of generated pages: the per-page structures only.
    expect(big.estimate).toBeLessThan(2 * GiB);
    expect(big.notMeasured.join(' ')).toMatch(/digests, not bytes/);
  });

  it('counts stored bytes at both ends when the destination runs here, once when it is remote', () => {
    const local = estimateBytes(scenario({ memory: '4GiB', fill: { populated: '50%' } }), 'stored');
    const remote = estimateBytes(
      scenario(
        { memory: '4GiB', fill: { populated: '50%' } },
        { transport: 'ws', dest: 'ws://10.0.0.2:4000', token: 't' },
      ),
      'stored',
    );
    expect(local - remote).toBeGreaterThan(4 * GiB); // populated 2 GiB + the 4 GiB hot set, once more
  });

  it('fast mode keeps a few bytes a page: a 1 TiB guest fits', () => {
    const plan = planMemory(scenario({ memory: '1TiB' }), 'fast', AVAILABLE);
    expect(plan).toMatchObject({ backing: 'metadata' });
    expect(plan.estimate).toBeLessThan(6 * GiB);
  });
});

describe('a migration that cannot fit is refused before it starts', () => {
  it('names the field, the estimate, the memory available and the way out', () => {
    expect(() => planMemory(scenario({}, { backing: 'stored' }), 'full', AVAILABLE)).toThrow(
      /run\.backing: this migration needs about .* GiB in full mode with stored pages, more than 18\.7\d GiB \(85 % of the 22\.0\d GiB this machine has available\); use backing generated or mode fast/,
    );
    expect(() => planMemory(scenario({}, {}, { xbzrle: true }), 'full', AVAILABLE)).toThrow(
      /migration\.xbzrle: .*stored pages.*turn xbzrle off/,
    );
    expect(() =>
      planMemory(scenario({}, { backing: 'generated' }, { xbzrle: true }), 'full', AVAILABLE),
    ).toThrow(/migration\.xbzrle: xbzrle needs the pages’ bytes/);
    expect(() => planMemory(scenario({ memory: '256GiB' }), 'fast', 1 * GiB)).toThrow(
      /guest\.memory: .*fast mode/,
    );
  });

  it('runScenario refuses without allocating the guest (a 256 GiB stored guest returns at once)', async () => {
    await expect(
      runScenario({
        guest: { memory: '256GiB', fill: { populated: '100%' } },
        run: { backing: 'stored' },
      }),
    ).rejects.toThrow(/run\.backing: this migration needs about/);
  });

  it('reports the plan in the result', async () => {
    const r = await runScenario({
      guest: { memory: '16MiB', workload: { kind: 'uniform', rate: '8MiB/s' } },
    });
    expect(r.precopy.memory).toMatchObject({ mode: 'full', backing: 'stored' });
    const fast = await runScenario({ guest: { memory: '16MiB' }, run: { mode: 'fast' } });
    expect(fast.precopy.memory).toMatchObject({ mode: 'fast', backing: 'metadata' });
    expect(fast.precopy.metadataOnly).toBe(true);
  });
});

describe('destinations started for the run accept the guest the plan let through', () => {
  it.each(['inproc', 'ws'] as const)(
    '%s: a 128 GiB guest is within the destination’s limit',
    async (transport) => {
      const link = await openDestination(scenario({ memory: '128GiB' }, { transport }), virtualClock());
      try {
        expect(link.destination?.options.maxGuestPages).toBe(2 ** 25);
      } finally {
        await link.close();
      }
    },
  );
});
