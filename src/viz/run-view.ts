/**
 * What a viewer knows about one migration: the fold of its events (live) or of its saved result.
 * The dashboard server and the page fold the same events with this same code, so a page that
 * connects mid-run and one that watched from the start show the same thing.
 *
 * Browser-shared module: the dashboard serves it transpiled to the page, so it must have no
 * runtime imports except the other browser-shared viz modules (`import type` is fine).
 */
import type { MigrationEvent, MigrationResult, MigrationStatus, RoundStats } from '../migration/result';
import type { StopReason } from '../migration/stop-rule';

export type ProgressEvent = Extract<MigrationEvent, { type: 'progress' }>;

export interface RunView {
  title: string;
  /** Sequence number of the last event folded in (events carry seq 1, 2, ...). */
  seq: number;
  status: MigrationStatus;
  /** The source machine's own state name (finer than QEMU's status). */
  machineState: string;
  /** QEMU statuses in the order they were entered. */
  statesSeen: MigrationStatus[];
  /** The source machine's stop guard that ended the live phase (null while it runs, or none fired). */
  stopReason: StopReason | null;
  /** Migration clock of the latest event (ms since the migration started). */
  time: number;
  rounds: RoundStats[];
  /** The latest progress tick of the round in flight; null between rounds and when done. */
  progress: ProgressEvent | null;
  result: MigrationResult | null;
  /** Bytes per heatmap region, known from the first round event (null until then). */
  regionBytes: number | null;
}

export function emptyRunView(title: string): RunView {
  return {
    title,
    seq: 0,
    status: 'none',
    machineState: 'idle',
    statesSeen: [],
    stopReason: null,
    time: 0,
    rounds: [],
    progress: null,
    result: null,
    regionBytes: null,
  };
}

export function runViewFromResult(title: string, result: MigrationResult): RunView {
  return applyEvent(emptyRunView(title), { type: 'done', time: result['total-time'], result }, 1);
}

function enterStatus(view: RunView, status: MigrationStatus): MigrationStatus[] {
  const last = view.statesSeen[view.statesSeen.length - 1];
  return last === status ? view.statesSeen : [...view.statesSeen, status];
}

/**
 * Fold one event. Returns a new view (the old one is not modified), or the same view when the
 * event's `seq` was already folded in (a snapshot can overlap the first batch after it).
 */
export function applyEvent(view: RunView, e: MigrationEvent, seq: number): RunView {
  if (seq <= view.seq) return view;
  const next: RunView = { ...view, seq, time: Math.max(view.time, e.time) };
  switch (e.type) {
    case 'state':
      next.status = e.status;
      next.machineState = e.machineState;
      next.statesSeen = enterStatus(view, e.status);
      if (e.stopReason) next.stopReason = e.stopReason;
      break;
    case 'round':
      next.rounds = withRound(view.rounds, e.round);
      next.progress = null;
      if (e.regionBytes) next.regionBytes = e.regionBytes;
      break;
    case 'progress':
      next.progress = e;
      break;
    case 'done': {
      const result = e.result;
      next.result = result;
      next.rounds = result.precopy.rounds;
      next.progress = null;
      next.status = result.status;
      next.stopReason = result.precopy.stopReason ?? view.stopReason;
      if (result.precopy.regionPages > 0)
        next.regionBytes = result.precopy.regionPages * (result.ram['page-size'] || 4096);
      next.statesSeen =
        result.precopy.states.length > 0 ? result.precopy.states : enterStatus(view, result.status);
      if (next.machineState === 'idle' || view.status !== result.status) next.machineState = result.status;
      break;
    }
  }
  return next;
}

/** A round event replaces an earlier report of the same round, otherwise appends. */
function withRound(rounds: RoundStats[], round: RoundStats): RoundStats[] {
  const at = rounds.findIndex((r) => r.round === round.round);
  if (at < 0) return [...rounds, round];
  const copy = rounds.slice();
  copy[at] = round;
  return copy;
}

export function isFinished(view: RunView): boolean {
  return view.status === 'completed' || view.status === 'cancelled' || view.status === 'failed';
}

/** A migration watched while it runs, or results loaded from files. */
export type FeedMode = 'live' | 'saved';

/**
 * The page's badge: `live` (a migration running now), `finished` (it ran live and ended), `saved`
 * (results from files); `disconnected` only while a live run was unfinished.
 */
export function badgeOf(mode: FeedMode | null, views: RunView[], connected: boolean): string {
  if (mode === 'saved') return 'saved';
  if (mode === 'live' && views.length > 0 && views.every(isFinished)) return 'finished';
  if (mode === null) return connected ? 'connecting' : 'disconnected';
  return connected ? 'live' : 'disconnected';
}
