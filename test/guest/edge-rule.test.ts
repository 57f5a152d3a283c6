import fc from 'fast-check';
import { checkEdgeRule, SparseMemory } from '../../src/guest';
import { copyMemory, makeGuest } from './helpers';

/** A region of `pages` counter pages: the first `edge` pages hold v + 1, the rest v. */
function counters(pages: number, value: number, edge: number): SparseMemory {
  const m = new SparseMemory(pages);
  for (let p = 0; p < pages; p++) m.write(p, 0, Uint8Array.of((p < edge ? value + 1 : value) & 0xff));
  return m;
}

describe('checkEdgeRule (QEMU check_guests_ram)', () => {
  it('passes equal counters and exactly one drop by one, mod 256', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 300 }), fc.nat(255), fc.nat(300), (pages, value, at) => {
        const edge = at % pages;
        const result = checkEdgeRule(counters(pages, value, edge), 0, pages);
        expect(result).toMatchObject({ passed: true, bad: 0 });
        expect(result.edgePage).toBe(edge === 0 ? undefined : edge);
      }),
      { seed: 21, numRuns: 100 },
    );
  });

  it('fails a lost increment (a page left behind) and names it', () => {
    const m = counters(100, 7, 60);
    m.write(30, 0, Uint8Array.of(7)); // page 30 should hold 8: its last write never arrived
    const result = checkEdgeRule(m, 0, 100);
    expect(result.passed).toBe(false);
    expect(result.firstBadPage).toBe(31); // 30 uses up the one allowed edge; 31 jumps back up
    expect(result.bad).toBe(2); // and the real edge at 60 is now a second one
    expect(result.values).toEqual([8, 7]);
  });

  it('fails a stale page applied late (two behind)', () => {
    const m = counters(50, 200, 0);
    m.write(10, 0, Uint8Array.of(198));
    expect(checkEdgeRule(m, 0, 50)).toMatchObject({ passed: false, bad: 2, firstBadPage: 10 });
  });

  it('checks only the region it is given and rejects one outside memory', () => {
    const m = counters(10, 1, 0);
    m.write(0, 0, Uint8Array.of(99));
    expect(checkEdgeRule(m, 1, 9).passed).toBe(true);
    expect(() => checkEdgeRule(m, 5, 6)).toThrow(/outside \[0, 10\)/);
  });

  it('holds on the incrementer guest at any stopping point, and catches a page rolled back', () => {
    const { guest, clock } = makeGuest({
      memory: '16MiB',
      fill: { populated: '50%', content: 'random' },
      workload: { kind: 'incrementer', rate: '3MiB/s', offset: '1MiB', size: '1MiB' },
    });
    const region = guest.edgeRegion!;
    expect(region).toEqual({ firstPage: 256, pages: 256 });
    guest.start();
    let older = copyMemory(guest.bytes);
    for (let t = 37; t < 3000; t += 211) {
      clock.advanceTo(t);
      guest.pauseAll();
      expect(checkEdgeRule(guest.bytes, region.firstPage, region.pages)).toMatchObject({ passed: true });
      guest.resumeAll();
      older = t < 1500 ? copyMemory(guest.bytes) : older;
    }
    guest.stop();
    // A destination that applied a stale copy of one page fails the check.
    const page = region.firstPage + 100;
    guest.bytes.writePage(page, older.read(page));
    expect(checkEdgeRule(guest.bytes, region.firstPage, region.pages).passed).toBe(false);
  });
});
