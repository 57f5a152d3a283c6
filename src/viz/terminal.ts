/**
 * The terminal view of a running migration. In a TTY: a row per round scrolling above a live
 * frame made of the progress bar (cli-progress's bar formatter) and two small per-round charts
 * (asciichart): dirty vs send rate, and remaining vs threshold. Not a TTY (CI logs, pipes): plain
 * rows only, one per state change and per round, no control characters, no progress ticks.
 */
import { clearScreenDown, cursorTo, moveCursor } from 'node:readline';
import * as asciichart from 'asciichart';
import { Format } from 'cli-progress';
import type { MigrationEvent, MigrationResult, RoundStats } from '../migration/result';
import { wallClock, type Clock } from '../util/clock';
import { fmtBytes, fmtMs, fmtRate, MiB } from './format';
import { applyEvent, emptyRunView, type RunView } from './run-view';
import { summarize } from './summary';

export interface TerminalStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface TerminalViewOptions {
  /** Default: process.stderr (stdout stays free for `--json -`). */
  stream?: TerminalStream;
  /** Default: the stream's own isTTY. */
  tty?: boolean;
  /** Throttles live redraws (wall clock by default). */
  clock?: Clock;
  /** Minimum time between two redraws caused by progress ticks. */
  redrawMs?: number;
  chartHeight?: number;
  /** Row width to fit (default: a TTY's columns; logs that are not a TTY keep whole rows). */
  columns?: number;
}

const BAR_SIZE = 30;
const Y_LABEL_WIDTH = 12;

export class TerminalView {
  private view: RunView = emptyRunView('migration');
  private readonly stream: TerminalStream;
  private readonly tty: boolean;
  private readonly clock: Clock;
  private readonly redrawMs: number;
  private readonly chartHeight: number;
  private readonly columns: number | undefined;
  /** Lines of the live frame currently on screen (erased before anything else is written). */
  private frameLines = 0;
  private lastDraw = -Infinity;
  /** After finish(), late events change nothing (the run command may also call finish itself). */
  private finished = false;

  constructor(options: TerminalViewOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.clock = options.clock ?? wallClock();
    this.redrawMs = options.redrawMs ?? 100;
    this.chartHeight = options.chartHeight ?? 6;
    this.columns = options.columns ?? (this.tty ? this.stream.columns : undefined);
  }

  onEvent(e: MigrationEvent): void {
    if (this.finished) return;
    const before = this.view;
    this.view = applyEvent(before, e, before.seq + 1);
    if (e.type === 'state' && e.status !== before.status)
      this.log(stateRow(e.time, e.status, e.machineState));
    if (e.type === 'round') this.log(roundRow(e.round, this.columns));
    if (e.type === 'done') return this.finish(e.result);
    if (!this.tty) return;
    const now = this.clock.now();
    if (e.type === 'progress' && now - this.lastDraw < this.redrawMs) return;
    this.lastDraw = now;
    this.drawFrame();
  }

  /** The closing frame (charts over all rounds, in a TTY) and the summary. Idempotent. */
  finish(result: MigrationResult): void {
    if (this.finished) return;
    this.view = applyEvent(
      this.view,
      { type: 'done', time: result['total-time'], result },
      this.view.seq + 1,
    );
    this.finished = true;
    this.eraseFrame();
    const lines: string[] = [];
    if (this.tty && this.view.rounds.length > 0) lines.push(...this.charts());
    lines.push(...summaryLines(this.view));
    this.stream.write(lines.join('\n') + '\n');
  }

  private log(line: string): void {
    this.eraseFrame();
    this.stream.write(line + '\n');
    if (this.tty) this.drawFrame();
  }

  private eraseFrame(): void {
    if (this.frameLines === 0) return;
    moveCursor(this.stream as NodeJS.WritableStream, 0, -this.frameLines);
    cursorTo(this.stream as NodeJS.WritableStream, 0);
    clearScreenDown(this.stream as NodeJS.WritableStream);
    this.frameLines = 0;
  }

  private drawFrame(): void {
    if (this.finished) return;
    this.eraseFrame();
    const lines = [this.progressLine(), ...(this.view.rounds.length > 0 ? this.charts() : [])];
    this.stream.write(lines.join('\n') + '\n');
    this.frameLines = lines.length;
  }

  /**
   * The bar shows what converges: the dirty set against the threshold (the event's
   * `convergence`), never bytes sent ÷ (sent + remaining), which nears 100 % on a migration
   * that never converges. Between ticks: the last round's synced figures.
   */
  private progressLine(): string {
    const p = this.view.progress;
    const last = this.view.rounds[this.view.rounds.length - 1];
    const sent = p?.bytesSent ?? this.view.rounds.reduce((s, r) => s + r.bytesWire, 0);
    const remaining = p?.remaining ?? last?.remaining ?? 0;
    const fraction = p
      ? p.convergence
      : last && remaining > 0
        ? Math.min(1, last.threshold / remaining)
        : last
          ? 1
          : 0;
    const bar = Format.BarFormat(fraction, {
      barsize: BAR_SIZE,
      barCompleteString: '█'.repeat(BAR_SIZE),
      barIncompleteString: '░'.repeat(BAR_SIZE),
      barGlue: '',
    });
    const round = p ? p.round : this.view.rounds.length;
    return (
      `${bar} ${(fraction * 100).toFixed(0).padStart(3)}% | ${this.view.status} | round ${round} | ` +
      `sent ${fmtBytes(sent)} | remaining ${fmtBytes(remaining)}` +
      (p
        ? ` + ${fmtBytes(p.dirtiedSinceSync)} dirtied / threshold ${fmtBytes(p.threshold)} | ` +
          `rounds left ${p.roundsLeft ?? '∞'} | dirty ${fmtRate(p.dirtyRate)} | ETA ${fmtMs(p.eta)}`
        : '')
    );
  }

  /** The last rounds that fit the terminal's width, one column per round. */
  private visibleRounds(): RoundStats[] {
    const width = Math.max(20, (this.stream.columns ?? 100) - Y_LABEL_WIDTH - 2);
    return this.view.rounds.slice(-width);
  }

  private charts(): string[] {
    const rounds = this.visibleRounds();
    const first = rounds[0]?.round ?? 0;
    // Few rounds: widen each to several columns so the chart is readable.
    const width = Math.max(20, (this.stream.columns ?? 100) - Y_LABEL_WIDTH - 2);
    const spread = Math.max(1, Math.min(6, Math.floor(width / Math.max(1, rounds.length))));
    const widen = (s: number[]) => s.flatMap((v) => new Array<number>(spread).fill(v));
    const plot = (series: number[][], colors: string[], format: (x: number) => string) =>
      asciichart
        .plot(series.map(widen), {
          height: this.chartHeight,
          colors,
          format: (x) => format(x).padStart(Y_LABEL_WIDTH - 2),
        })
        .split('\n');
    return [
      `dirty rate (${asciichart.colored('━', asciichart.red)}) vs send rate (${asciichart.colored('━', asciichart.blue)}), MiB/s, rounds ${first}…`,
      ...plot(
        [rounds.map((r) => r.dirtyRate / MiB), rounds.map((r) => r.sendRate / MiB)],
        [asciichart.red, asciichart.blue],
        (x) => x.toFixed(0),
      ),
      `remaining (${asciichart.colored('━', asciichart.magenta)}) vs threshold (${asciichart.colored('━', asciichart.green)}), MiB, rounds ${first}…`,
      ...plot(
        [rounds.map((r) => r.remaining / MiB), rounds.map((r) => r.threshold / MiB)],
        [asciichart.magenta, asciichart.green],
        (x) => x.toFixed(0),
      ),
    ];
  }
}

function stamp(ms: number): string {
  return `[${(ms / 1000).toFixed(3).padStart(9)} s]`;
}

export function stateRow(time: number, status: string, machineState: string): string {
  return `${stamp(time)} status ${status}${machineState !== status ? ` (${machineState})` : ''}`;
}

/**
 * One round as a log row: the same figures in the same order, TTY or not. A row wider than
 * `columns` (a narrow terminal) gives way to the compact row, which keeps what a reader follows
 * round by round (duration, data, dirty rate, lambda, ETA; what is left stays in the live frame
 * under the rows) and fits 100 columns.
 */
export function roundRow(r: RoundStats, columns = Infinity): string {
  const label = r.final ? 'S&C' : r.round === 0 ? 'bulk' : String(r.round);
  const head = `${stamp(r.start + r.duration)} round ${String(r.round).padStart(3)} ${label.padEnd(4)} `;
  const whole =
    head +
    `${fmtMs(r.duration).padStart(9)}  sent ${fmtBytes(r.bytesRaw).padStart(10)}  wire ${fmtBytes(r.bytesWire).padStart(10)}  ` +
    `dirty ${fmtRate(r.dirtyRate).padStart(12)}  send ${fmtRate(r.sendRate).padStart(12)}  λ ${r.lambda.toFixed(3)}  ` +
    `remaining ${fmtBytes(r.remaining).padStart(10)} / ${fmtBytes(r.threshold)}  ` +
    `exp.downtime ${fmtMs(r.expectedDowntime)}  throttle ${r.throttle}%  ` +
    `rounds left ${r.predictedRoundsLeft ?? '∞'}  ETA ${fmtMs(r.predictedEta)}`;
  if (whole.length <= columns) return whole;
  return (
    head +
    `${fmtMs(r.duration).padStart(8)} sent ${fmtBytes(r.bytesRaw).padStart(9)} dirty ${fmtRate(r.dirtyRate).padStart(11)} ` +
    `λ ${r.lambda.toFixed(3)}  ETA ${fmtMs(r.predictedEta)}`
  );
}

export function summaryLines(view: RunView): string[] {
  const items = summarize(view, { detail: true });
  const width = Math.max(...items.map((i) => i.label.length));
  return items.map((i) => `  ${i.label.padEnd(width)}  ${i.value}`);
}
