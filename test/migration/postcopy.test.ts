/**
 * Hybrid postcopy's second phase (src/migration/postcopy.ts, src/dest/postcopy.ts): the guest
 * runs at the destination, faults on missing pages block only the faulting vCPU until its page
 * request is served, link loss pauses and migrate-recover resumes, and the destination's image
 * is verified against the source's plus the writes made there. Negatives: a source that drops
 * requests leaves the vCPU blocked (the run fails at its deadline naming it); a page left out
 * of the discard set fails verification.
 */
import fc from 'fast-check';
import { runScenario } from '../../src/migration/index';
import { Postcopy, type PostcopyOptions } from '../../src/migration/postcopy';
import { Rng } from '../../src/util/rng';
import { virtualClock } from '../../src/util/clock';
import { PAGE_SIZE } from '../../src/util/units';

const PAGES = 1024; // 4 MiB
const MiB = 1024 * 1024;

/** A source image, a destination that pre-copy brought up to date except the dirty `discard` set. */
function images(seed: number, dirty: (gfn: number) => boolean) {
  const rng = new Rng(seed);
  const source = rng.fill(new Uint8Array(PAGES * PAGE_SIZE));
  const destination = source.slice();
  const discard = new Uint8Array(PAGES);
  for (let g = 0; g < PAGES; g++)
    if (dirty(g)) {
      discard[g] = 1;
      destination.fill(0xee, g * PAGE_SIZE, (g + 1) * PAGE_SIZE); // a stale copy
    }
  return { source, destination, discard };
}

function options(over: Partial<PostcopyOptions> = {}): PostcopyOptions {
  return {
    clock: virtualClock(),
    ...images(1, (g) => g % 2 === 0),
    deviceStateBytes: 64 * 1024,
    link: { bandwidth: 64 * MiB, latencyMs: 1 },
    workload: {
      ranges: [
        [0, 256],
        [256, 256],
        [512, 512],
      ],
      writesPerMs: 20,
      seed: 3,
    },
    deadline: 10_000,
    ...over,
  };
}

describe('postcopy', () => {
  it('completes and verifies; stats in QEMU names; downtime is the device state and bitmap only', async () => {
    const r = await new Postcopy(options()).run();
    expect(r.status).toBe('completed');
    expect(r.verification).toEqual({ passed: true });
    expect(r.states).toEqual(['postcopy-active', 'completed']);
    // 64 KiB + a 128-byte bitmap at 64 MiB/s + 1 ms latency.
    expect(r.downtime).toBeCloseTo(((64 * 1024 + 128) / (64 * MiB)) * 1000 + 1, 6);
    expect(r['postcopy-requests']).toBeGreaterThan(0);
    expect(r['postcopy-bytes']).toBeGreaterThanOrEqual(512 * PAGE_SIZE);
    expect(r['postcopy-vcpu-blocktime']).toHaveLength(3);
    expect(r['postcopy-vcpu-blocktime'].every((t) => t > 0)).toBe(true);
    // All vCPUs blocked at once is at most any one's blocktime.
    expect(r['postcopy-blocktime']).toBeLessThanOrEqual(Math.min(...r['postcopy-vcpu-blocktime']));
    expect(r.vcpuWrites.every((w) => w > 0)).toBe(true);
  });

  /** Pages 0..999 missing; the background push reaches page 900 only after ~55 ms. */
  const deep = (over: Partial<PostcopyOptions> = {}) =>
    options({
      ...images(2, (g) => g < 1000),
      link: { bandwidth: 64 * MiB, latencyMs: 10 },
      workload: {
        ranges: [
          [900, 1],
          [1000, 24],
        ],
        writesPerMs: 10,
        seed: 1,
      },
      ...over,
    });

  it('a fault on a never-sent page blocks only that vCPU; its request goes before the push', async () => {
    // vCPU 0 writes only page 900 (missing, not yet pushed), vCPU 1 only present pages.
    const r = await new Postcopy(deep()).run();
    expect(r.status).toBe('completed');
    expect(r.verification.passed).toBe(true);
    const [blocked, running] = r['postcopy-vcpu-blocktime'];
    // Blocked from its first write until the requested page came: 10 ms each way plus one
    // page's transfer (postcopy-preempt), within a tick; not the ~65 ms the push would take.
    expect(blocked).toBeGreaterThan(20 - 0.2);
    expect(blocked).toBeLessThan(20 + 0.3);
    expect(running).toBe(0);
    expect(r['postcopy-blocktime']).toBe(0); // never were all vCPUs blocked at once
    expect(r['postcopy-requests']).toBe(1);
    // vCPU 1 ran throughout (10 writes/ms over the whole phase), vCPU 0 lost its 20 ms.
    expect(r.vcpuWrites[1]!).toBeGreaterThan((r['total-time'] - r.downtime) * 10 - 30);
    expect(r.vcpuWrites[0]!).toBeLessThan(r.vcpuWrites[1]! - 150);
  });

  it('link loss pauses both sides; migrate-recover resumes on a new link; nothing is lost', async () => {
    const seen: string[] = [];
    const pc = new Postcopy(
      options({
        linkLoss: [{ at: 10 }],
        onState: (s) => {
          seen.push(s);
          if (s === 'postcopy-paused') queueMicrotask(() => pc.recover());
        },
      }),
    );
    expect(() => pc.recover()).toThrow(/postcopy-active, not postcopy-paused/);
    const r = await pc.run();
    expect(r.status).toBe('completed');
    expect(r.verification.passed).toBe(true);
    expect(r.recoveries).toBe(1);
    expect(seen).toEqual([
      'postcopy-active',
      'postcopy-paused',
      'postcopy-recover',
      'postcopy-active',
      'completed',
    ]);
  });

  it('a scheduled loss and recovery (the fault plan) costs its pause in blocktime, and verifies', async () => {
    const base = await new Postcopy(options()).run();
    const r = await new Postcopy(options({ linkLoss: [{ at: 5, recoverAfter: 200 }] })).run();
    expect(r.status).toBe('completed');
    expect(r.verification.passed).toBe(true);
    expect(r.states).toContain('postcopy-paused');
    expect(r['total-time']).toBeGreaterThan(base['total-time'] + 150);
    expect(Math.max(...r['postcopy-vcpu-blocktime'])).toBeGreaterThan(150);
  });

  it('property: any seed, losses and recoveries end completed and verified', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1e6 }),
        fc.array(
          fc.record({ at: fc.integer({ min: 0, max: 80 }), recoverAfter: fc.integer({ min: 1, max: 50 }) }),
          {
            maxLength: 3,
          },
        ),
        async (seed, losses) => {
          const o = options({
            ...images(seed, (g) => (g * 2654435761 + seed) % 3 === 0),
            workload: {
              ranges: [
                [0, 1024],
                [0, 64],
              ],
              writesPerMs: 30,
              seed,
            },
            linkLoss: losses,
          });
          const r = await new Postcopy(o).run();
          expect(r.status).toBe('completed');
          expect(r.verification.passed).toBe(true);
        },
      ),
      { seed: 19, numRuns: 12 },
    );
  });

  it('negative: a source that drops page requests leaves the vCPU blocked; the run fails naming it', async () => {
    const o = deep({ deadline: 500, faults: { skipRequests: true } });
    const r = await new Postcopy(o).run();
    expect(r.status).toBe('failed');
    expect(r['error-desc']).toMatch(/deadline of 500 ms.*1 pages never arrived; blocked: vCPU 0 on page 900/);
    expect(r['postcopy-vcpu-blocktime'][0]).toBeGreaterThan(500 - r.downtime - 1);
    expect(r['postcopy-vcpu-blocktime'][1]).toBe(0);
  });

  it('negative: a dirty page left out of the discard set fails verification', async () => {
    const r = await new Postcopy(options({ faults: { discardOmits: [42] } })).run();
    expect(r.status).toBe('failed');
    expect(r.verification).toEqual({ passed: false, firstBadPage: 42 });
    expect(r['error-desc']).toMatch(/page 42 differs/);
  });

  it('rejects ranges outside the guest, naming them', () => {
    expect(
      () => new Postcopy(options({ workload: { ranges: [[1000, 100]], writesPerMs: 1, seed: 1 } })),
    ).toThrow(/range \[1000, 1100\) is outside 0\.\.1024/);
  });

  it('converges a workload pre-copy cannot: 24 MiB/s of writes over a 16 MiB/s link', async () => {
    // Pre-copy on the same link and write rate: never converges, forced at max-rounds.
    const pre = await runScenario({
      guest: {
        memory: '4MiB',
        seed: 7,
        fill: { populated: '100%', content: 'random' },
        workload: { kind: 'hotcold', rate: '24MiB/s', hot: '2MiB' },
      },
      migration: { 'max-bandwidth': '16MiB/s', 'downtime-limit': '20ms', 'max-rounds': 6 },
      run: { latency: '1ms', 'post-run': '0ms' },
    });
    expect(pre.precopy.converged).toBe(false);
    expect(pre.precopy.warnings).toEqual([expect.stringMatching(/^forced switchover \(max-rounds 6\)/)]);
    // Postcopy switched with the 2 MiB hot set still dirty, the same rate into it at the destination.
    const r = await new Postcopy(
      options({
        ...images(7, (g) => g < 512),
        link: { bandwidth: 16 * MiB, latencyMs: 1 },
        workload: { ranges: [[0, 512]], writesPerMs: (24 * MiB) / PAGE_SIZE / 1000, seed: 7 },
      }),
    ).run();
    expect(r.status).toBe('completed');
    expect(r.verification.passed).toBe(true);
    expect(r.downtime).toBeLessThan(20);
    expect(r.downtime).toBeLessThan(pre.downtime);
  });
});
