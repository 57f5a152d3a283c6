/**
 * What `precopy run` shows while it runs: a progress bar (bytes, round, ETA) on stderr when it
 * is a terminal (state lines instead when it is not), a row per round on stdout, and a summary
 * at the end. Fed only by MigrationEvents.
 */
import { SingleBar, Presets } from 'cli-progress';
import type { MigrationEvent, MigrationResult, RoundStats } from '../migration/result';
import { formatBytes } from '../util/units';

const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)}s` : `${v.toFixed(1)}ms`);
const rate = (v: number) => `${formatBytes(v)}/s`;

export const ROUND_HEADER = [
  'round',
  'start',
  'duration',
  'sent',
  'zero',
  'wire',
  'ratio',
  'dirty/s',
  'send/s',
  'λ',
  'WWS',
  'remaining',
  'threshold',
  'exp.down',
  'throttle',
  'left',
  'ETA',
];

export function roundRow(r: RoundStats): string[] {
  return [
    r.final ? `${r.round}*` : String(r.round),
    ms(r.start),
    ms(r.duration),
    String(r.pagesSent),
    String(r.pagesZero),
    formatBytes(r.bytesWire),
    r.compressionRatio.toFixed(2),
    rate(r.dirtyRate),
    rate(r.sendRate),
    r.lambda.toFixed(3),
    formatBytes(r.workingSetPages * 4096),
    formatBytes(r.remaining),
    formatBytes(r.threshold),
    ms(r.expectedDowntime),
    `${r.throttle}%`,
    r.predictedRoundsLeft === null ? '∞' : String(r.predictedRoundsLeft),
    r.predictedEta === null ? '-' : ms(r.predictedEta),
  ];
}

const WIDTHS = [6, 9, 9, 8, 8, 11, 6, 13, 13, 7, 11, 11, 11, 9, 8, 5, 9];
export const formatRow = (cells: string[]) => cells.map((c, i) => c.padStart(WIDTHS[i] ?? 8)).join(' ');

export class TerminalView {
  private readonly bar: SingleBar | undefined;
  private started = false;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly total: number,
    private readonly quiet: boolean,
    interactive: boolean,
  ) {
    this.bar =
      quiet || !interactive
        ? undefined
        : new SingleBar(
            {
              format: ' {bar} {percentage}% | {sent} sent | round {round} | ETA {eta_model}',
              stream: process.stderr,
              hideCursor: true,
            },
            Presets.shades_classic,
          );
  }

  onEvent(event: MigrationEvent): void {
    if (this.quiet) return;
    switch (event.type) {
      case 'state':
        if (!this.bar) this.out.write(`[${ms(event.time)}] ${event.status} (${event.machineState})\n`);
        break;
      case 'round':
        this.clearBar();
        if (!this.started) {
          this.out.write(formatRow(ROUND_HEADER) + '\n');
          this.started = true;
        }
        this.out.write(formatRow(roundRow(event.round)) + '\n');
        break;
      case 'progress':
        if (!this.bar) break;
        if (!this.bar.isActive) this.bar.start(this.total, 0, { sent: '0 B', round: 0, eta_model: '-' });
        this.bar.update(Math.min(this.total, event.bytesSent), {
          sent: formatBytes(event.bytesSent),
          round: event.round,
          eta_model: event.eta === null ? '∞' : ms(event.eta),
        });
        break;
      case 'done':
        this.clearBar();
        break;
    }
  }

  private clearBar(): void {
    if (this.bar?.isActive) this.bar.stop();
  }
}

export function summary(result: MigrationResult): string {
  const p = result.precopy;
  const v = p.verification;
  const lines = [
    `status            ${result.status}${result['error-desc'] ? ` (${result['error-desc']})` : ''}`,
    `total-time        ${ms(result['total-time'])} (setup ${ms(result['setup-time'])}, ${p.clock} clock)`,
    `downtime          ${ms(result.downtime)} at the source, ${ms(p.destinationDowntime)} at the destination`,
    `  breakdown       final harvest ${ms(p.downtimeBreakdown.finalHarvest)}, final send ${ms(p.downtimeBreakdown.finalSend)}, vCPU state ${ms(p.downtimeBreakdown.vcpuState)}, destination resume ${ms(p.downtimeBreakdown.destinationResume)}`,
    `transferred       ${formatBytes(result.ram.transferred)} of ${formatBytes(result.ram.total)} RAM (precopy ${formatBytes(result.ram['precopy-bytes'])}, downtime ${formatBytes(result.ram['downtime-bytes'])})`,
    `pages             ${result.ram.normal} normal, ${result.ram.duplicate} zero; ${result.ram['dirty-sync-count']} syncs`,
    `rounds            ${p.rounds.length} (${p.converged ? 'converged' : 'did not converge'}); throttle ${result['cpu-throttle-percentage']}%`,
    `dirty-pages-rate  ${result.ram['dirty-pages-rate'].toFixed(0)} pages/s (QEMU's: newly dirty per sync period); guest's own ${p.guestDirtyPagesRate.toFixed(0)} pages/s`,
    `verification      ${v === null ? 'none (migration did not complete)' : v.passed ? 'passed' : `FAILED: ${v.reason ?? 'image differs'}`}${v?.edgeCheck ? `; edge check ${v.edgeCheck.passed ? 'passed' : `failed at page ${v.edgeCheck.firstBadPage}`}` : ''}`,
  ];
  return lines.join('\n') + '\n';
}

export function roundsCsv(rounds: RoundStats[]): string {
  const keys = [
    'round',
    'start',
    'duration',
    'pagesHarvested',
    'pagesSent',
    'pagesZero',
    'bytesRaw',
    'bytesWire',
    'compressionRatio',
    'dirtyRate',
    'sendRate',
    'lambda',
    'workingSetPages',
    'remaining',
    'threshold',
    'expectedDowntime',
    'throttle',
    'predictedRoundsLeft',
    'predictedEta',
    'final',
  ] as const;
  const rows = rounds.map((r) => keys.map((k) => (r[k] === null ? '' : String(r[k]))).join(','));
  return [keys.join(','), ...rows].join('\n') + '\n';
}
