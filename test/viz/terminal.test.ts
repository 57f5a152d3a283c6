import { stripVTControlCharacters } from 'node:util';
import { VirtualClock } from '../../src/util/clock';
import { roundRow, TerminalView } from '../../src/viz/terminal';
import { buildResult, eventsFor } from './fixtures';

const MiB = 1024 * 1024;
const ESC = '\x1b';

class Capture {
  text = '';
  columns = 100;
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

const result = buildResult({
  dirtyRate: 900 * MiB,
  zeroFraction: 0.3,
  compression: 1.6,
  throttle: [0, 0, 20, 30, 40],
});
const events = eventsFor(result);
const rounds = result.precopy.rounds;

describe('terminal view', () => {
  it('not a TTY: plain rows only (no control characters), one per state change and per round, then the summary', () => {
    const out = new Capture(false);
    const view = new TerminalView({ stream: out });
    for (const e of events) view.onEvent(e);
    view.finish(result);
    expect(out.text).not.toContain(ESC);
    const lines = out.text.trimEnd().split('\n');
    const roundRows = lines.filter((l) => / round +\d+ /.test(l));
    expect(roundRows).toHaveLength(rounds.length);
    roundRows.forEach((row, i) => expect(row).toContain(`λ ${rounds[i]!.lambda.toFixed(3)}`));
    expect(
      lines.filter((l) => /\] status /.test(l)).map((l) => l.split(' status ')[1]!.split(' ')[0]),
    ).toEqual(['setup', 'active', 'device', 'completed']);
    expect(out.text).toMatch(/converged +yes/);
    // finish() after the done event (the run command may call both) prints nothing more.
    expect(out.text.match(/total time/g)).toHaveLength(1);
  });

  it('TTY: charts of dirty rate and remaining under the progress bar, redrawn in place', () => {
    const out = new Capture(true);
    const clock = new VirtualClock();
    const view = new TerminalView({ stream: out, clock, redrawMs: 100 });
    for (const e of events) {
      clock.advanceTo(e.time);
      view.onEvent(e);
    }
    expect(out.text).toContain('█');
    expect(out.text).toMatch(/dirty rate .* vs send rate/);
    expect(out.text).toMatch(/remaining .* vs threshold/);
    expect(out.text).toMatch(/[╭╮╰╯─│┤┼]/);
    // The frame is erased (cursor up, clear down) before each row and redraw.
    expect(out.text).toContain(`${ESC}[0J`);
    // The final summary stays on screen after the last frame was erased.
    expect(out.text.slice(out.text.lastIndexOf(`${ESC}[0J`))).toMatch(/verified +yes/);
  });

  it('TTY: progress ticks redraw at most once per redraw interval of the injected clock', () => {
    const progress = events.filter((e) => e.type === 'progress');
    const count = (advance: boolean) => {
      const out = new Capture(true);
      const clock = new VirtualClock();
      const view = new TerminalView({ stream: out, clock, redrawMs: 1000 });
      for (const e of progress) {
        if (advance) clock.advanceTo(e.time);
        view.onEvent(e);
      }
      return out.text.split('% | ').length - 1; // one progress bar per drawn frame
    };
    // Ticks 100 ms apart over ~3.5 s of migration time: a redraw per second, not per tick.
    expect(progress.length).toBeGreaterThan(20);
    expect(count(true)).toBeLessThanOrEqual(Math.ceil(progress[progress.length - 1]!.time / 1000) + 1);
    // With the clock standing still, only the first tick draws.
    expect(count(false)).toBe(1);
  });

  it('a 100-column terminal gets compact rows that fit, with the figures a reader follows; logs keep whole rows', () => {
    const out = new Capture(true);
    const view = new TerminalView({ stream: out, clock: new VirtualClock() });
    for (const e of events) view.onEvent(e);
    const rows = stripVTControlCharacters(out.text)
      .split('\n')
      .filter((l) => /\] round +\d+ /.test(l));
    expect(rows).toHaveLength(rounds.length);
    rows.forEach((row, i) => {
      expect(row.length).toBeLessThanOrEqual(100);
      expect(row).toContain(`λ ${rounds[i]!.lambda.toFixed(3)}`);
      expect(row).toMatch(/ sent .* dirty .* λ .* ETA /);
    });
    // The widest figures a row can hold still fit: a day-long run, TiB sent, GiB/s dirty.
    const wide = {
      ...rounds[1]!,
      start: 86_399_000,
      duration: 1_000,
      bytesRaw: 1023 * 1024 ** 4,
      remaining: 1023 * 1024 ** 4,
    };
    expect(roundRow({ ...wide, dirtyRate: 1023 * 1024 ** 3, round: 999 }, 100).length).toBeLessThanOrEqual(
      100,
    );
    // Not a TTY (a CI log): the whole row, wider than 100 columns.
    expect(roundRow(rounds[1]!).length).toBeGreaterThan(100);
  });
});
