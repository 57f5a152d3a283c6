/**
 * The rounds as a table people read: one definition of the columns, with units and human
 * formatting, for the dashboard's table and the HTML report's (the CSV keeps raw numbers).
 *
 * Browser-shared module: no runtime imports except the other browser-shared viz modules.
 */
import type { RoundStats } from '../migration/result';
import { fmtBytes, fmtMs, fmtRate } from './format';

export interface RoundColumn {
  header: string;
  /** What the header means, for a tooltip. */
  title: string;
  cell: (r: RoundStats) => string;
}

export const ROUND_COLUMNS: RoundColumn[] = [
  {
    header: 'round',
    title: '0 is the bulk round; S&C is stop-and-copy',
    cell: (r) => (r.final ? `${r.round} S&C` : r.round === 0 ? '0 bulk' : String(r.round)),
  },
  { header: 'start', title: 'from the start of the migration', cell: (r) => fmtMs(r.start) },
  { header: 'duration', title: 'of the round', cell: (r) => fmtMs(r.duration) },
  { header: 'sent', title: 'page bytes sent, before encoding', cell: (r) => fmtBytes(r.bytesRaw) },
  {
    header: 'zero pages',
    title: 'pages sent as zero pages',
    cell: (r) => r.pagesZero.toLocaleString('en-US'),
  },
  { header: 'on the wire', title: 'bytes on the wire, frames included', cell: (r) => fmtBytes(r.bytesWire) },
  {
    header: 'sent ÷ wire',
    title: 'compression: raw bytes per wire byte',
    cell: (r) => `${r.compressionRatio.toFixed(2)}×`,
  },
  {
    header: 'dirty rate',
    title: "the guest's distinct pages written per second",
    cell: (r) => (r.partial ? '–' : fmtRate(r.dirtyRate)),
  },
  {
    header: 'send rate',
    title: 'bytes on the wire per second',
    cell: (r) => (r.partial ? '–' : fmtRate(r.sendRate)),
  },
  {
    header: 'λ',
    title: 'dirty rate ÷ send rate: ≥ 1 never converges',
    cell: (r) => (r.partial ? '–' : r.lambda.toFixed(3)),
  },
  { header: 'remaining', title: 'dirty at the end of the round', cell: (r) => fmtBytes(r.remaining) },
  {
    header: 'threshold',
    title: 'bandwidth × downtime limit: switchover below it',
    cell: (r) => fmtBytes(r.threshold),
  },
  {
    header: 'exp. downtime',
    title: "QEMU's expected-downtime at the round's end",
    cell: (r) => fmtMs(r.expectedDowntime),
  },
  { header: 'throttle', title: 'vCPU throttle (auto-converge)', cell: (r) => `${r.throttle} %` },
  {
    header: 'rounds left',
    title: "the predictor's rounds left (∞: it cannot converge)",
    cell: (r) => (r.predictedRoundsLeft === null ? '∞' : String(r.predictedRoundsLeft)),
  },
  { header: 'ETA', title: "the predictor's time to the end", cell: (r) => fmtMs(r.predictedEta) },
];
