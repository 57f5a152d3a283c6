import { makeGuest, recordWrites } from './helpers';

const WORKLOADS = [
  { kind: 'uniform', rate: '8MiB/s', content: 'text', writeSize: 64 },
  { kind: 'hotcold', rate: '8MiB/s', hot: '2MiB' },
  { kind: 'sequential', rate: '8MiB/s', writeSize: 4096 },
  { kind: 'incrementer', rate: '8MiB/s' },
  {
    kind: 'phased',
    phases: [
      { duration: '100ms', workload: { kind: 'idle' } },
      { duration: '150ms', workload: { kind: 'uniform', rate: '16MiB/s' } },
    ],
  },
  { kind: 'replay', trace: '0 3\n12.5 100-120\n300 0x200+64', period: '400ms' },
];

/** One guest run: its write sequence and final memory hash. */
function run(workload: object, seed: number, tickMs = 1, vcpus = 2) {
  const { guest, clock } = makeGuest(
    { memory: '16MiB', vcpus, seed, fill: { populated: '25%' }, workload },
    { tickMs },
  );
  const writes = recordWrites(guest);
  guest.start();
  clock.advanceTo(1000);
  guest.stop();
  return { writes, hash: guest.memory.imageHash(), count: guest.writes };
}

describe('determinism in virtual time', () => {
  it.each(WORKLOADS.map((w) => [w.kind, w]))(
    '%s: same seed → same writes and same memory hash',
    (_, workload) => {
      const a = run(workload, 7);
      const b = run(workload, 7);
      expect(a.count).toBeGreaterThan(0);
      expect(b.writes).toEqual(a.writes);
      expect(b.hash).toBe(a.hash);
    },
  );

  it.each(WORKLOADS.filter((w) => w.kind !== 'incrementer').map((w) => [w.kind, w]))(
    '%s: a different seed gives different writes',
    (_, workload) => {
      const a = run(workload, 7);
      const b = run(workload, 8);
      expect(b.writes).not.toEqual(a.writes);
      expect(b.hash).not.toBe(a.hash);
    },
  );

  // With several vCPUs only each vCPU's own sequence is tick-independent: batches interleave them per tick.
  it('a vCPU’s write sequence does not depend on the tick size', () => {
    for (const workload of [WORKLOADS[1]!, WORKLOADS[4]!]) {
      const fine = run(workload, 3, 1, 1);
      const coarse = run(workload, 3, 10, 1);
      expect(coarse.writes).toEqual(fine.writes);
      expect(coarse.hash).toBe(fine.hash);
    }
  });

  it('emits one batch per tick, never one per write', () => {
    const { guest, clock } = makeGuest({ memory: '16MiB', workload: { kind: 'uniform', rate: '64MiB/s' } });
    let batches = 0;
    guest.batches$.subscribe(() => batches++);
    guest.start();
    clock.advanceTo(100);
    expect(batches).toBe(100);
    expect(guest.writes).toBe(1638); // 64 MiB/s = 16384 pages/s, for 100 ms
    guest.stop();
  });
});
