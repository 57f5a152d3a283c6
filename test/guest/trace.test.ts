import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrace } from '../../src/guest';
import { loadTrace } from '../../src/guest/trace';
import { makeGuest, recordWrites } from './helpers';

describe('dirty trace format', () => {
  it('reads single GFNs, inclusive ranges, counts, hex, commas and comments', () => {
    const t = parseTrace('# time gfns\n0 5\n\n1.5, 0x10-0x12   # three pages\n2\t100+4\n', 1024);
    expect(Array.from(t.times)).toEqual([0, 1.5, 2]);
    expect(Array.from(t.first)).toEqual([5, 16, 100]);
    expect(Array.from(t.count)).toEqual([1, 3, 4]);
    expect(Array.from(t.writes)).toEqual([0, 1, 4, 8]);
    expect(t.lastTime).toBe(2);
  });

  it.each([
    ['', /no records/],
    ['0 1 2', /line 1: expected "<time_ms> <gfn/],
    ['-1 5', /line 1: "-1" is not a time/],
    ['5 1\n4 2', /line 2: time 4 goes back \(previous record at 5\)/],
    ['0 zz', /line 1: "zz" is not a GFN/],
    ['0 9-3', /line 1: range 9-3 ends before it starts/],
    ['0 3+0', /line 1: 3\+0 writes no pages/],
    ['0 1000+30', /line 1: GFN 1029 is outside guest memory, allowed range \[0, 1023\]/],
  ])('rejects %j with the line and the problem', (text, message) => {
    expect(() => parseTrace(text, 1024)).toThrow(message);
  });

  it('loads a file and names it in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-trace-'));
    try {
      const file = join(dir, 'trace.txt');
      writeFileSync(file, '0 1\n1 2-3\n');
      expect(loadTrace({ file }, 16).writes[2]).toBe(3);
      writeFileSync(file, '0 1\n1 99\n');
      expect(() => loadTrace({ file }, 16)).toThrow(`${file} line 2: GFN 99 is outside guest memory`);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('the replay guest writes the trace’s pages in order at the trace’s times', () => {
    const { guest, clock } = makeGuest({
      memory: '4MiB',
      fill: { populated: '0%' },
      workload: { kind: 'replay', trace: '0 7\n10 20-22\n10 5\n30.5 900+2' },
    });
    const writes = recordWrites(guest);
    guest.start();
    clock.advanceTo(10);
    expect(writes[0]!.filter((_, i) => i % 3 === 0)).toEqual([7, 20, 21, 22, 5]);
    clock.advanceTo(30);
    expect(guest.writes).toBe(5);
    clock.advanceTo(31);
    expect(writes[0]!.filter((_, i) => i % 3 === 0)).toEqual([7, 20, 21, 22, 5, 900, 901]);
    clock.advanceTo(1000);
    expect(guest.writes).toBe(7); // no period: the trace plays once
    guest.stop();
  });
});
