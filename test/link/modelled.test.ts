import { ModelledLink } from '../../src/link/modelled';
import { transferTimeMs } from '../../src/link/bandwidth';
import { virtualClock, type Clock } from '../../src/util/clock';

const model = { bandwidth: 4096 * 1000, latencyMs: 2 }; // a 4 KiB page a millisecond

describe('the modelled link (virtual time)', () => {
  it('carrying bytes advances the virtual clock by transferTimeMs, latencies included', () => {
    const clock = virtualClock();
    const link = new ModelledLink(clock, model, 0);
    link.carry(8192, 2);
    expect(clock.now()).toBeCloseTo(transferTimeMs(8192, model, 2)); // 2 + 2 × 2
    expect(clock.now()).toBeCloseTo(6);
    link.carry(0, 0);
    expect(clock.now()).toBeCloseTo(6);
  });

  it('a page send takes the link or the busiest sender thread, whichever is slower', () => {
    const clock = virtualClock();
    // A thread encodes a page a millisecond, as the link carries one.
    const link = new ModelledLink(clock, model, 4096 * 1000);
    link.carryPages(4096, [{ pages: 4, bytesWire: 4096 }]); // the link: 1 ms; the thread: 4 ms
    expect(clock.now()).toBeCloseTo(4);
    link.carryPages(8 * 4096, [
      { pages: 1, bytesWire: 4096 },
      { pages: 2, bytesWire: 7 * 4096 },
    ]); // the link: 8 ms; the busiest thread: 2 ms
    expect(clock.now()).toBeCloseTo(12);
  });

  it('on any other clock (wall time) it never touches the clock: the socket takes what it takes', () => {
    const touched: string[] = [];
    const wall = {
      now: () => 0,
      schedule: () => {
        touched.push('schedule');
        throw new Error('scheduled');
      },
    } as unknown as Clock;
    const link = new ModelledLink(wall, model, 4096 * 1000);
    link.carry(1 << 30, 2);
    link.carryPages(1 << 30, [{ pages: 1 << 18, bytesWire: 1 << 30 }]);
    expect(touched).toEqual([]);
  });
});
