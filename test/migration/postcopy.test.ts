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
import { Postcopy } from '../../src/migration/postcopy';
import { PAGE_SIZE } from '../../src/util/units';
import { lossCase, MiB, SWEEP, options } from './postcopy-fixture';

describe('postcopy', () => {
  it('completes and verifies; stats in QEMU names; downtime is the device state and bitmap only', async () => {
    const o = options();
    const r = await new Postcopy(o).run();
    expect(r.status).toBe('completed');
    expect(r.verification).toEqual({ passed: true });
    expect(r.states).toEqual(['postcopy-active', 'completed']);
    // The vCPU state and a 128-byte bitmap at 64 MiB/s + 10 ms latency.
    expect(r.downtime).toBeCloseTo(((o.vcpuState.length + 128) / (64 * MiB)) * 1000 + 10, 6);
    expect(r['postcopy-requests']).toBeGreaterThan(0);
    expect(r['postcopy-bytes']).toBeGreaterThanOrEqual(768 * PAGE_SIZE);
    expect(r['postcopy-vcpu-blocktime']).toHaveLength(2);
    // All vCPUs blocked at once is at most any one's blocktime.
    expect(r['postcopy-blocktime']).toBeLessThanOrEqual(Math.min(...r['postcopy-vcpu-blocktime']));
    expect(r.vcpuWrites.every((w) => w > 0)).toBe(true);
  });

  it('a fault on a never-sent page blocks only that vCPU; the other keeps running', async () => {
    // Missing: pages 0..767, so vCPU 0's slice (512..767) but none of vCPU 1's. The background
    // push starts at page 0 and needs ~31 ms to pass 511: vCPU 0's first faults are served by
    // its requests (10 ms each way), ahead of the push.
    const r = await new Postcopy(options()).run();
    expect(r.status).toBe('completed');
    const [blocked, running] = r['postcopy-vcpu-blocktime'];
    expect(blocked).toBeGreaterThan(19);
    expect(running).toBe(0);
    expect(r['postcopy-blocktime']).toBe(0); // never were both blocked at once
    // 8 MiB/s of 4 KiB-apart writes over 2 vCPUs: 1.024 writes per ms each. vCPU 1 ran
    // throughout, vCPU 0 only when not blocked (±1 write for the tick each side).
    const ranMs = r['total-time'] - r.downtime;
    expect(Math.abs(r.vcpuWrites[1]! - ranMs * 1.024)).toBeLessThan(2);
    expect(Math.abs(r.vcpuWrites[0]! - (ranMs - blocked!) * 1.024)).toBeLessThan(2);
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
    expect(r['postcopy-vcpu-blocktime'][0]).toBeGreaterThan(150);
    expect(r['postcopy-vcpu-blocktime'][1]).toBe(0); // vCPU 1's pages are all here: it runs on
  });

  it('property: any guest seed, discard set, losses and recoveries end completed and verified', async () => {
    await fc.assert(
      fc.asyncProperty(lossCase, async ({ seed, every, linkLoss: losses }) => {
        const spec = { ...SWEEP, seed, workload: { kind: 'uniform', rate: '16MiB/s' } };
        const r = await new Postcopy(options({ linkLoss: losses }, spec, (g) => g % every === 0)).run();
        expect(r.status).toBe('completed');
        expect(r.verification.passed).toBe(true);
      }),
      { seed: 19, numRuns: 10 },
    );
  });

  it('negative: a source that drops page requests leaves the vCPU blocked; the run fails naming it', async () => {
    const r = await new Postcopy(options({ deadline: 500, faults: { skipRequests: true } })).run();
    expect(r.status).toBe('failed');
    expect(r['error-desc']).toMatch(
      /deadline of 500 ms.*1 pages never arrived; blocked: vCPU 0 on page (5[1-9]\d|6\d\d|7[0-6]\d)$/,
    );
    expect(r['postcopy-vcpu-blocktime'][0]).toBeGreaterThan(400);
    expect(r['postcopy-vcpu-blocktime'][1]).toBe(0);
  });

  it('negative: a dirty page left out of the discard set fails verification', async () => {
    const r = await new Postcopy(options({ faults: { discardOmits: [42] } })).run();
    expect(r.status).toBe('failed');
    expect(r.verification).toEqual({ passed: false, firstBadPage: 42 });
    expect(r['error-desc']).toMatch(/image as it arrived .* differs from the source's stopped image/);
  });

  it('rejects a discard set of the wrong size and a bad deadline, naming them', () => {
    expect(() => new Postcopy(options({ discard: new Uint8Array(10) }))).toThrow(
      /source has 1024 pages, the discard set 10/,
    );
    expect(() => new Postcopy(options({ deadline: 0 }))).toThrow(/deadline must be > 0 ms, got 0/);
  });

  it('converges a workload pre-copy cannot: 24 MiB/s of writes over a 16 MiB/s link', async () => {
    const guest = {
      memory: '4MiB',
      seed: 7,
      fill: { populated: '100%', content: 'random' },
      workload: { kind: 'hotcold', rate: '24MiB/s', hot: '2MiB' },
    };
    // Pre-copy on the same link and write rate: never converges, forced at max-rounds.
    const pre = await runScenario({
      guest,
      migration: { 'max-bandwidth': '16MiB/s', 'downtime-limit': '20ms', 'max-rounds': 6 },
      run: { latency: '1ms', 'post-run': '0ms' },
    });
    expect(pre.precopy.converged).toBe(false);
    expect(pre.precopy.warnings).toEqual([expect.stringMatching(/^forced switchover \(max-rounds 6\)/)]);
    // Postcopy: everything the guest wrote in its last 100 ms still dirty; it runs on at the
    // destination at the same rate while the rest arrives.
    const r = await new Postcopy(
      options({ link: { bandwidth: 16 * MiB, latencyMs: 1 } }, guest, (g, written) => written[g] === 1),
    ).run();
    expect(r.status).toBe('completed');
    expect(r.verification.passed).toBe(true);
    expect(r.downtime).toBeLessThan(pre.downtime);
    expect(r['postcopy-requests']).toBeGreaterThan(0);
  });
});
