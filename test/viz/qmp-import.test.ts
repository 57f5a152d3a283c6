import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { importQmpFile } from '../../src/cli/import-qmp';
import { importQmp, QmpImportError } from '../../src/viz/qmp-import';
import { reportHtml } from '../../src/viz/report';
import { buildResult } from './fixtures';
import { checkResult } from '../../src/viz/result-file';

const ROOT = join(__dirname, '..', '..');
const SAMPLE = join(ROOT, 'examples', 'qmp', 'migrate-2g.jsonl');
const sample = readFileSync(SAMPLE, 'utf8');
const MiB = 1024 * 1024;

/** The sample's lines as objects, to derive variants from. */
const records = sample
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as Record<string, unknown>);
const toText = (objs: unknown[]) => objs.map((o) => JSON.stringify(o)).join('\n') + '\n';

function errorOf(text: string): QmpImportError {
  try {
    importQmp(text);
  } catch (e) {
    if (e instanceof QmpImportError) return e;
    throw e;
  }
  throw new Error('expected the import to fail');
}

describe('QMP import', () => {
  it('the hand-written sample gives the rounds and totals of its table (examples/qmp/README.md)', () => {
    const { result, warnings } = importQmp(sample);
    expect(warnings).toEqual([]);
    const rounds = result.precopy.rounds;
    expect(rounds.map((r) => [r.round, r.start, r.duration, r.final])).toEqual([
      [0, 40, 4000, false],
      [1, 4040, 1000, false],
      [2, 5040, 45, true],
    ]);
    expect(rounds.map((r) => r.pagesSent)).toEqual([524288, 32768, 8192]);
    expect(rounds.map((r) => r.pagesZero)).toEqual([393216, 0, 0]);
    expect(rounds.map((r) => r.bytesWire)).toEqual([540016640, 134217728, 33554432]);
    // Pages dirtied during a round = what the next sync found: 128 MiB, then 32 MiB.
    expect(rounds.map((r) => r.remaining)).toEqual([128 * MiB, 32 * MiB, 0]);
    expect(rounds.map((r) => r.workingSetPages)).toEqual([32768, 8192, 0]);
    expect(rounds[0]!.dirtyRate).toBe(32 * MiB); // 128 MiB in 4 s
    expect(rounds[1]!.dirtyRate).toBe(32 * MiB); // 32 MiB in 1 s
    expect(rounds[1]!.sendRate).toBe(128 * MiB);
    expect(rounds[1]!.lambda).toBe(0.25);
    expect(rounds[1]!.threshold).toBeCloseTo(128 * MiB * 0.3, 3);
    expect(rounds[1]!.remaining).toBeLessThan(rounds[1]!.threshold);
    expect(rounds.reduce((s, r) => s + r.bytesWire, 0)).toBe(result.ram.transferred);
    expect(result.ram.transferred).toBe(707788800);
    expect(result.status).toBe('completed');
    expect(result['total-time']).toBe(5085);
    expect(result.downtime).toBe(45);
    expect(result['setup-time']).toBe(40);
    expect(result.ram['dirty-sync-count']).toBe(3);
    expect(result.precopy.states).toEqual(['setup', 'active', 'device', 'completed']);
    expect(result.precopy.converged).toBe(true);
    // What view and report accept.
    expect(() => checkResult(JSON.parse(JSON.stringify(result)), 'import')).not.toThrow();
  });

  it('an imported QEMU run reports beside a simulated one, saying what QMP cannot show', () => {
    const html = reportHtml([
      { title: 'qemu', result: importQmp(sample).result },
      { title: 'precopy', result: buildResult() },
    ]);
    const [qemu, sim] = html.split('<section').slice(1);
    expect(qemu).toContain('no per-region data in this result');
    expect(qemu).toMatch(/<dt>downtime \(dest\.\)<\/dt><dd>–<\/dd>/);
    expect(qemu!.match(/<tr data-round=/g)).toHaveLength(3);
    expect(sim).not.toContain('no per-region data');
  });

  it('bare query-migrate objects with numeric timestamps give the same result as QMP framing', () => {
    const bare = records.map((r) => {
      if (!('return' in r) || !('timestamp' in r)) return r;
      const ts = r.timestamp as { seconds: number; microseconds: number };
      return { ...(r.return as object), timestamp: ts.seconds + ts.microseconds / 1e6 };
    });
    const a = importQmp(sample).result;
    const b = importQmp(toText(bare)).result;
    expect(b.precopy.rounds.length).toBe(a.precopy.rounds.length);
    b.precopy.rounds.forEach((r, i) => {
      const ref = a.precopy.rounds[i]!;
      expect(r.bytesWire).toBe(ref.bytesWire);
      expect(r.start).toBeCloseTo(ref.start, 3);
      expect(r.duration).toBeCloseTo(ref.duration, 3);
    });
  });

  it('a sync missed between two samples merges the rounds and says so', () => {
    // Drop the samples of round 1 (dirty-sync-count 2): the completed sample jumps from 1 to 3.
    const thinned = records.filter((r) => {
      const ram = (r.return as { ram?: { 'dirty-sync-count': number } } | undefined)?.ram;
      return ram?.['dirty-sync-count'] !== 2;
    });
    const { result, warnings } = importQmp(toText(thinned));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/jumped 1 → 3/);
    expect(result.precopy.rounds.map((r) => r.round)).toEqual([0, 2]);
    expect(result.precopy.rounds.reduce((s, r) => s + r.bytesWire, 0)).toBe(707788800);
  });

  it('a migration recorded until it was cancelled keeps QEMU’s own figures for the cut-short round', () => {
    const cut = records.slice(0, 24).concat([
      {
        event: 'MIGRATION',
        data: { status: 'cancelling' },
        timestamp: { seconds: 1764072004, microseconds: 900000 },
      },
      {
        event: 'MIGRATION',
        data: { status: 'cancelled' },
        timestamp: { seconds: 1764072004, microseconds: 950000 },
      },
    ]);
    const { result } = importQmp(toText(cut));
    expect(result.status).toBe('cancelled');
    expect(result.precopy.converged).toBe(false);
    const last = result.precopy.rounds[result.precopy.rounds.length - 1]!;
    expect(last.final).toBe(false);
    expect(last.dirtyRate).toBe(8192 * 4096); // ram.dirty-pages-rate × page size
  });

  describe('malformed input names the line', () => {
    const good = sample.trimEnd().split('\n');
    const withLine = (n: number, text: string) => {
      const lines = good.slice();
      lines.splice(n - 1, 0, text);
      return lines.join('\n');
    };
    it.each([
      ['not JSON', withLine(7, '{"return": {"status": '), 7, /not JSON/],
      ['not an object', withLine(3, '[1, 2]'), 3, /expected a JSON object/],
      ['no timestamp', withLine(9, '{"return": {"status": "active"}}'), 9, /timestamp: required/],
      [
        'bad timestamp',
        withLine(9, '{"return": {"status": "active"}, "timestamp": {"seconds": 1}}'),
        9,
        /timestamp: expected \{"seconds"/,
      ],
      [
        'a field of the wrong type',
        withLine(
          10,
          '{"return": {"status": "active", "ram": {"transferred": "lots"}}, "timestamp": {"seconds": 1764072001, "microseconds": 0}}',
        ),
        10,
        /return\.ram\.transferred: .*expected number/,
      ],
      [
        'a status precopy does not model',
        withLine(
          8,
          '{"return": {"status": "colo"}, "timestamp": {"seconds": 1764072000, "microseconds": 600000}}',
        ),
        8,
        /return\.status: status must be one of/,
      ],
      [
        'time going backwards',
        withLine(12, '{"return": {"status": "active"}, "timestamp": {"seconds": 1, "microseconds": 0}}'),
        12,
        /back in time/,
      ],
    ])('%s', (_name, text, line, message) => {
      const error = errorOf(text);
      expect(error.line).toBe(line);
      expect(error.message).toMatch(new RegExp(`^line ${line}: `));
      expect(error.message).toMatch(message);
    });

    it('a file without samples', () => {
      expect(errorOf('\n{"QMP": {}}\n').message).toMatch(/no query-migrate samples/);
    });
  });

  describe('precopy import-qmp', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'precopy-qmp-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('writes the result JSON that view and report read', () => {
      const { json, warnings } = importQmpFile(SAMPLE, { downtimeLimit: '100ms' });
      expect(warnings).toEqual([]);
      const result = checkResult(JSON.parse(json), 'import');
      expect(result.precopy.rounds).toHaveLength(3);
      expect((result.precopy.scenario as Record<string, unknown>)['downtime-limit']).toBe(100);
    });

    it('a malformed file exits 2 naming the file and the line (real process)', async () => {
      const bad = join(dir, 'bad.jsonl');
      writeFileSync(bad, good3Lines() + '{"return": {"status": "active"}, "timestamp": "noon"}\n');
      const failed = await promisify(execFile)(process.execPath, [
        join(ROOT, 'bin', 'precopy.js'),
        'import-qmp',
        bad,
      ]).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toContain(`precopy import-qmp: ${bad}: line 4: timestamp:`);
    });

    it('--downtime-limit is checked', () => {
      expect(() => importQmpFile(SAMPLE, { downtimeLimit: 'soon' })).toThrow(
        /--downtime-limit: not a duration/,
      );
    });
  });
});

function good3Lines(): string {
  return sample.split('\n').slice(0, 3).join('\n') + '\n';
}
