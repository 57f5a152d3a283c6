import fc from 'fast-check';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultsStore, type RunRecord } from '../../src/sweep/store';

function record(i: number): RunRecord {
  return {
    id: `run${i}`,
    point: `p${i >> 1}`,
    coords: { x: i },
    seed: i,
    mode: 'full',
    error: 'é'.repeat(i % 3),
  };
}

describe('results store', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'precopy-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends one line per run and skips completed ids when reopened', () => {
    const file = join(dir, 'r.jsonl');
    const a = new ResultsStore(file);
    expect(a.add(record(1))).toBe(true);
    expect(a.add(record(2))).toBe(true);
    a.close();
    const b = new ResultsStore(file);
    expect(b.has('run1')).toBe(true);
    expect(b.add(record(1))).toBe(false);
    b.add(record(3));
    b.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('cuts a torn last line and appends after the last complete one (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.nat(), (n, cutSeed) => {
        const file = join(dir, `t${n}-${cutSeed}.jsonl`);
        const s = new ResultsStore(file);
        for (let i = 0; i < n; i++) s.add(record(i));
        s.close();
        const full = readFileSync(file);
        const cut = cutSeed % (full.length + 1);
        truncateSync(file, cut);
        const reopened = new ResultsStore(file);
        const kept = reopened.size;
        const completeLines = full.subarray(0, cut).toString('latin1').split('\n').length - 1;
        expect(kept).toBe(completeLines);
        reopened.add(record(99));
        reopened.close();
        const again = new ResultsStore(file);
        expect(again.size).toBe(kept + 1);
        expect(again.has('run99')).toBe(true);
        again.close();
      }),
      { seed: 11, numRuns: 80 },
    );
  });

  it('refuses a damaged line in the middle, naming the line', () => {
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, `${JSON.stringify(record(1))}\nnot json\n${JSON.stringify(record(2))}\n`);
    expect(() => new ResultsStore(file)).toThrow(/bad.jsonl:2: not a results record/);
  });

  it('tolerates blank lines', () => {
    const file = join(dir, 'blank.jsonl');
    writeFileSync(file, `${JSON.stringify(record(1))}\n\n`);
    appendFileSync(file, `${JSON.stringify(record(2))}\n`);
    const s = new ResultsStore(file);
    expect(s.size).toBe(2);
    s.close();
  });

  it('negative: with completed ids forgotten, a rerun duplicates runs', () => {
    const file = join(dir, 'neg.jsonl');
    const a = new ResultsStore(file);
    a.add(record(1));
    a.close();
    const b = new ResultsStore(file, { forgetCompleted: true });
    expect(b.add(record(1))).toBe(true);
    b.close();
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(2);
  });
});
