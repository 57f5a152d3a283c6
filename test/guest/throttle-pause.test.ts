import { CpuTime } from '../../src/guest/cpu-time';
import { copyMemory, makeGuest, recordWrites } from './helpers';

describe('QEMU CPU throttle timing (CpuTime)', () => {
  it('at 20 % a vCPU sleeps 2.5 ms in every 12.5 ms', () => {
    const cpu = new CpuTime(0);
    cpu.setThrottle(20, 0);
    expect(cpu.at(10)).toBe(10);
    expect(cpu.at(12)).toBe(10); // asleep
    expect(cpu.at(12.5)).toBe(10);
    expect(cpu.at(13.5)).toBeCloseTo(11, 9);
    expect(cpu.at(125)).toBeCloseTo(100, 9);
  });

  it('at 99 % it runs 10 ms per second', () => {
    const cpu = new CpuTime(0);
    cpu.setThrottle(99, 0);
    expect(cpu.at(1000)).toBeCloseTo(10, 9);
    expect(cpu.at(60_000)).toBeCloseTo(600, 6);
  });

  it('pause stops run time and a new throttle starts a fresh timeslice', () => {
    const cpu = new CpuTime(0);
    cpu.pause(5);
    expect(cpu.at(50)).toBe(5);
    cpu.resume(50);
    cpu.setThrottle(50, 60); // run 10 ms, sleep 10 ms from t = 60
    expect(cpu.at(70)).toBe(25);
    expect(cpu.at(80)).toBe(25);
    expect(cpu.at(90)).toBe(35);
    expect(cpu.at(100)).toBe(35);
  });

  it('rejects a throttle outside [0, 99] percent', () => {
    const cpu = new CpuTime(0);
    expect(() => cpu.setThrottle(100, 0)).toThrow(/100 is outside the allowed range \[0, 99\] percent/);
    expect(() => cpu.setThrottle(-1, 0)).toThrow(/allowed range/);
  });
});

describe('throttling and pausing the guest', () => {
  const cpuBound = {
    memory: '64MiB',
    vcpus: 2,
    fill: { populated: '0%' },
    workload: { kind: 'uniform', rate: '16MiB/s' },
  };

  it('a 50 % throttle halves a CPU-bound workload’s writes', () => {
    const free = makeGuest(cpuBound);
    const throttled = makeGuest(cpuBound);
    throttled.guest.setThrottle(50);
    for (const { guest, clock } of [free, throttled]) {
      guest.start();
      clock.advanceTo(10_000);
      guest.stop();
    }
    expect(free.guest.writes).toBe(40960);
    expect(throttled.guest.writes / free.guest.writes).toBeCloseTo(0.5, 3);
    expect(throttled.guest.throttle).toBe(50);
  });

  it('a throttled vCPU writes only in the run part of each timeslice', () => {
    const { guest, clock } = makeGuest(cpuBound);
    guest.setThrottle(50); // run 10 ms, sleep 10 ms
    const perTick: number[] = [];
    guest.batches$.subscribe((b) => perTick.push(b.length));
    guest.start();
    clock.advanceTo(40);
    guest.stop();
    const asleep = [...perTick.slice(10, 20), ...perTick.slice(30, 40)];
    expect(asleep.every((n) => n === 0)).toBe(true);
    expect(perTick.slice(0, 10).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });

  it('pause stops every write; resume loses and repeats none', () => {
    const steady = makeGuest(cpuBound);
    const paused = makeGuest(cpuBound);
    const steadyWrites = recordWrites(steady.guest);
    const pausedWrites = recordWrites(paused.guest);
    steady.guest.start();
    steady.clock.advanceTo(2000);
    steady.guest.stop();

    paused.guest.start();
    paused.clock.advanceTo(1000.5);
    paused.guest.pauseAll();
    expect(paused.guest.paused).toBe(true);
    expect(paused.guest.vm.vcpus.every((v) => v.paused)).toBe(true);
    const atPause = paused.guest.writes;
    const image = copyMemory(paused.guest.bytes);
    paused.clock.advanceTo(5000);
    expect(paused.guest.writes).toBe(atPause);
    expect(paused.guest.bytes.imageHash()).toBe(image.imageHash());
    paused.guest.resumeAll();
    paused.clock.advanceTo(5999.5);
    paused.guest.stop();

    // Same run time (2 s), same writes in the same order, same memory.
    expect(pausedWrites).toEqual(steadyWrites);
    expect(paused.guest.bytes.imageHash()).toBe(steady.guest.bytes.imageHash());
    expect(paused.guest.stats()).toMatchObject({ elapsedMs: 5999.5, writes: 8192 }); // 16 MiB/s for 2 s of run time
    expect(paused.guest.stats().runMs).toBeCloseTo(2000, 9);
  });

  it('a vCPU the VMM pauses directly owes its writes and makes them after resuming', () => {
    const { guest, clock } = makeGuest(cpuBound);
    guest.start();
    clock.advanceTo(100);
    guest.vm.vcpus[0]!.pause();
    clock.advanceTo(200);
    guest.vm.vcpus[0]!.resume();
    clock.advanceTo(300);
    guest.stop();
    const stats = guest.stats();
    expect(stats.pending).toBe(0);
    expect(stats.writes).toBe(stats.requested);
  });
});
