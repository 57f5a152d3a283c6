import { interval, take } from 'rxjs';
import { VirtualClock, sleep } from '../../src/util/clock';
import { Rng } from '../../src/util/rng';

describe('VirtualClock', () => {
  it('runs exactly the actions due up to the target time and stops there', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    interval(10, clock)
      .pipe(take(100))
      .subscribe(() => seen.push(clock.now()));
    clock.advanceTo(35);
    expect(seen).toEqual([10, 20, 30]);
    expect(clock.now()).toBe(35);
    clock.advanceBy(10);
    expect(seen).toEqual([10, 20, 30, 40]);
    expect(clock.now()).toBe(45);
  });
  it('refuses to go back in time', () => {
    const clock = new VirtualClock();
    clock.advanceTo(5);
    expect(() => clock.advanceTo(4)).toThrow(RangeError);
  });
  it('sleep resolves when virtual time passes', async () => {
    const clock = new VirtualClock();
    let done = false;
    const p = sleep(clock, 100).then(() => (done = true));
    clock.advanceTo(99);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advanceTo(100);
    await p;
    expect(done).toBe(true);
  });
});

describe('Rng', () => {
  it('is reproducible per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.u32());
    expect(Array.from({ length: 8 }, () => b.u32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.u32())).not.toEqual(sa);
  });
  it('int(n) stays in range and covers it', () => {
    const r = new Rng(1);
    const hits = new Array(10).fill(0);
    for (let i = 0; i < 10000; i++) hits[r.int(10)]++;
    for (const h of hits) expect(h).toBeGreaterThan(800);
  });
});

describe('VirtualClock over long runs', () => {
  it('keeps one action per periodic stream, so a long interval() unsubscribes cleanly', () => {
    const clock = new VirtualClock();
    let ticks = 0;
    const sub = interval(1, clock).subscribe(() => ticks++);
    clock.advanceTo(50_000);
    expect(ticks).toBe(50_000);
    expect(clock.pending).toBe(1);
    sub.unsubscribe();
    expect(clock.pending).toBe(0);
    clock.advanceBy(10);
    expect(ticks).toBe(50_000);
  });
  it('runs same-time actions in scheduling order, including ones scheduled while running', () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    clock.schedule(() => {
      order.push('a');
      clock.schedule(() => order.push('c'), 0);
    }, 5);
    clock.schedule(() => order.push('b'), 5);
    clock.advanceTo(5);
    expect(order).toEqual(['a', 'b', 'c']);
  });
  it('a rescheduled action runs only at its latest time', () => {
    const clock = new VirtualClock();
    const seen: number[] = [];
    const sub = clock.schedule(
      function (this: { schedule(s?: number, d?: number): unknown }, n?: number) {
        seen.push(clock.now());
        if ((n ?? 0) < 2) this.schedule((n ?? 0) + 1, 10);
      },
      1,
      0,
    );
    clock.advanceTo(100);
    expect(seen).toEqual([1, 11, 21]);
    expect(sub.closed).toBe(true);
  });
});
