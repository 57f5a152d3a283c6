/**
 * What the destination's dashboard knows: the migrations it served, each as its own chart saw
 * it (state, the rounds it applied, how it ended). The server and the page fold the same events
 * with this code, as run-view.ts does for the source's side.
 *
 * Browser-shared module: no runtime imports except the other browser-shared viz modules.
 */

/** How a migration ended here. */
export interface DestOutcome {
  kind: 'resumed' | 'discarded';
  /** The verdict (null: resumed without one, or discarded). */
  verified: boolean | null;
  /** Why it was discarded, failed verification, or has no verdict. */
  reason: string | null;
  /** Destination downtime: the last live page → the guest running here (ms; null: not resumed). */
  downtimeMs: number | null;
  pagesReceived: number;
  /** The image's hash, as the verdict reported it. */
  hash: string | null;
}

/** One round as this side applied it, on the migration's clock. */
export interface DestRound {
  round: number;
  final: boolean;
  pages: number;
  /** ROUND_START and ROUND_END (ms since HELLO). */
  start: number;
  end: number;
}

export interface DestMigration {
  /** 1 for the first migration this destination served. */
  n: number;
  /** The destination chart's state (`migrating.receiving.inRound`). */
  state: string;
  /** The migration's clock at the latest event. */
  time: number;
  rounds: DestRound[];
  pagesReceived: number;
  outcome: DestOutcome | null;
}

export type DestFeedEvent =
  | { type: 'attached' }
  /** A second source was refused while one migration ran. */
  | { type: 'busy' }
  | { type: 'state'; time: number; state: string }
  | ({ type: 'round'; time: number } & DestRound)
  | { type: 'ended'; outcome: DestOutcome };

export interface DestView {
  title: string;
  seq: number;
  /** Most recent last; at most MAX_MIGRATIONS. */
  migrations: DestMigration[];
  /** Migrations served in all (older ones are dropped from `migrations`). */
  served: number;
  busyRefused: number;
}

/** The page keeps the latest few: a destination may serve migrations for days. */
export const MAX_MIGRATIONS = 8;

export function emptyDestView(title: string): DestView {
  return { title, seq: 0, migrations: [], served: 0, busyRefused: 0 };
}

/** The migration events after `attached` apply to; undefined before the first. */
function withCurrent(view: DestView, change: (m: DestMigration) => DestMigration): DestMigration[] {
  const last = view.migrations[view.migrations.length - 1];
  if (!last) return view.migrations;
  return [...view.migrations.slice(0, -1), change(last)];
}

/** Fold one event: a new view, or the same one when `seq` was already folded in. */
export function applyDestEvent(view: DestView, e: DestFeedEvent, seq: number): DestView {
  if (seq <= view.seq) return view;
  switch (e.type) {
    case 'attached': {
      const fresh: DestMigration = {
        n: view.served + 1,
        state: 'migrating',
        time: 0,
        rounds: [],
        pagesReceived: 0,
        outcome: null,
      };
      return {
        ...view,
        seq,
        served: view.served + 1,
        migrations: [...view.migrations, fresh].slice(-MAX_MIGRATIONS),
      };
    }
    case 'busy':
      return { ...view, seq, busyRefused: view.busyRefused + 1 };
    case 'state':
      return { ...view, seq, migrations: withCurrent(view, (m) => ({ ...m, state: e.state, time: e.time })) };
    case 'round': {
      const round: DestRound = { round: e.round, final: e.final, pages: e.pages, start: e.start, end: e.end };
      return {
        ...view,
        seq,
        migrations: withCurrent(view, (m) => ({
          ...m,
          time: e.time,
          rounds: [...m.rounds, round],
          pagesReceived: m.pagesReceived + e.pages,
        })),
      };
    }
    case 'ended':
      return { ...view, seq, migrations: withCurrent(view, (m) => ({ ...m, outcome: e.outcome })) };
  }
}

/** One line for a migration's card: how it ended, or where it is. */
export function destStatus(m: DestMigration): { label: string; tone: 'live' | 'good' | 'bad' } {
  const o = m.outcome;
  if (!o) return { label: m.state, tone: 'live' };
  if (o.kind === 'discarded') return { label: 'discarded', tone: 'bad' };
  if (o.verified === null) return { label: 'resumed, not verified', tone: 'bad' };
  return o.verified ? { label: 'verified', tone: 'good' } : { label: 'FAILED verification', tone: 'bad' };
}
