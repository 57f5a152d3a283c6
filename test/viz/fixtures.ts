/**
 * Realistic migration results for the viewers' tests, built from the analytic pre-copy model
 * (research/live-migration.md §5.2): round 0 sends all memory, each live round sends what the
 * guest dirtied during the previous one, stop-and-copy once that fits bandwidth × downtime-limit.
 * Defaults are the golden case: 4 GiB at 1 GiB/s, 200 MiB/s of distinct pages, 300 ms.
 */
import type {
  MigrationEvent,
  MigrationResult,
  MigrationStatus,
  RoundStats,
} from '../../src/migration/result';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PAGE = 4096;

export interface FixtureOptions {
  memory?: number;
  bandwidth?: number;
  dirtyRate?: number;
  downtimeLimitMs?: number;
  /** Fraction of the bulk round's pages that are zero. */
  zeroFraction?: number;
  /** raw / wire for non-zero pages. */
  compression?: number;
  regions?: number;
  /** Auto-converge: throttle % per live round (index 1 = first live round); dirty rate scales by 1 − t. */
  throttle?: number[];
  maxRounds?: number;
  /** Ends cancelled after `maxRounds` instead of converging (when it does not converge). */
  title?: string;
}

export function buildResult(opts: FixtureOptions = {}): MigrationResult {
  const memory = opts.memory ?? 4 * GiB;
  const bandwidth = opts.bandwidth ?? 1 * GiB;
  const dirtyRate = opts.dirtyRate ?? 200 * MiB;
  const limit = opts.downtimeLimitMs ?? 300;
  const zeroFraction = opts.zeroFraction ?? 0;
  const compression = opts.compression ?? 1;
  const regions = opts.regions ?? 16;
  const maxRounds = opts.maxRounds ?? 30;
  const threshold = bandwidth * (limit / 1000);
  const regionPages = memory / PAGE / regions;

  const rounds: RoundStats[] = [];
  let start = 40; // setup time
  let toSend = memory;
  let converged = false;
  for (let round = 0; round < maxRounds; round++) {
    const throttle = opts.throttle?.[round] ?? 0;
    const pagesSent = Math.round(toSend / PAGE);
    const pagesZero = round === 0 ? Math.round(pagesSent * zeroFraction) : 0;
    const bytesRaw = pagesSent * PAGE;
    const bytesWire = Math.round(((pagesSent - pagesZero) * PAGE) / compression + pagesZero * 16);
    const duration = (bytesWire / bandwidth) * 1000;
    const guestRate = dirtyRate * (1 - throttle / 100);
    const dirtied = Math.min(memory, guestRate * (duration / 1000));
    const dirtiedPages = Math.round(dirtied / PAGE);
    const remaining = dirtiedPages * PAGE;
    const lambda = guestRate / (bytesWire / (duration / 1000));
    rounds.push({
      round,
      start,
      duration,
      pagesHarvested: pagesSent,
      pagesSent,
      pagesZero,
      bytesRaw,
      bytesWire,
      compressionRatio: bytesRaw / bytesWire,
      dirtyRate: guestRate,
      sendRate: bytesWire / (duration / 1000),
      lambda,
      workingSetPages: dirtiedPages,
      remaining,
      threshold,
      expectedDowntime: (remaining / bandwidth) * 1000,
      throttle,
      predictedRoundsLeft:
        lambda < 1 ? Math.max(1, Math.ceil(Math.log(threshold / remaining) / Math.log(lambda))) + 1 : null,
      predictedEta: lambda < 1 ? (remaining / bandwidth / (1 - lambda)) * 1000 : null,
      dirtyByRegion: hotColdRegions(dirtiedPages, regions, regionPages),
      final: false,
    });
    start += duration;
    toSend = remaining;
    if (remaining <= threshold) {
      converged = true;
      break;
    }
  }
  if (converged) rounds.push(finalRound(rounds.length, start, toSend, bandwidth, threshold, regions));
  return assemble(rounds, { memory, converged, regionPages, title: opts.title });
}

/** Writes concentrate in a hot 1/8 of memory, the rest of the pages spread thin. */
function hotColdRegions(pages: number, regions: number, regionPages: number): number[] {
  const hot = Math.max(1, Math.floor(regions / 8));
  const out = new Array<number>(regions).fill(0);
  let left = pages;
  for (let i = 0; i < regions && left > 0; i++) {
    const share =
      i < hot ? Math.min(regionPages, Math.ceil((pages * 0.8) / hot)) : Math.ceil(left / (regions - i));
    out[i] = Math.min(share, left, regionPages);
    left -= out[i]!;
  }
  return out;
}

function finalRound(
  round: number,
  start: number,
  bytes: number,
  bandwidth: number,
  threshold: number,
  regions: number,
): RoundStats {
  const pages = Math.round(bytes / PAGE);
  const duration = (bytes / bandwidth) * 1000;
  return {
    round,
    start,
    duration,
    pagesHarvested: pages,
    pagesSent: pages,
    pagesZero: 0,
    bytesRaw: pages * PAGE,
    bytesWire: pages * PAGE,
    compressionRatio: 1,
    dirtyRate: 0,
    sendRate: bandwidth,
    lambda: 0,
    workingSetPages: 0,
    remaining: 0,
    threshold,
    expectedDowntime: 0,
    throttle: 0,
    predictedRoundsLeft: 0,
    predictedEta: 0,
    dirtyByRegion: new Array<number>(regions).fill(0),
    final: true,
  };
}

function assemble(
  rounds: RoundStats[],
  ctx: { memory: number; converged: boolean; regionPages: number; title?: string },
): MigrationResult {
  const last = rounds[rounds.length - 1]!;
  const total = last.start + last.duration + 2;
  const final = rounds.find((r) => r.final);
  const transferred = rounds.reduce((s, r) => s + r.bytesWire, 0);
  const duplicate = rounds.reduce((s, r) => s + r.pagesZero, 0);
  const normal = rounds.reduce((s, r) => s + r.pagesSent - r.pagesZero, 0);
  const status: MigrationStatus = ctx.converged ? 'completed' : 'cancelled';
  const downtime = final ? final.duration + 2 : 0;
  return {
    status,
    'total-time': total,
    'setup-time': 40,
    downtime,
    'expected-downtime': rounds[rounds.length - 2]?.expectedDowntime ?? 0,
    ram: {
      transferred,
      remaining: ctx.converged ? 0 : last.remaining,
      total: ctx.memory,
      duplicate,
      normal,
      'normal-bytes': normal * PAGE,
      'dirty-sync-count': rounds.length,
      'dirty-pages-rate': Math.round(last.dirtyRate / PAGE),
      mbps: (transferred * 8) / (total / 1000) / 1e6,
      'pages-per-second': (normal + duplicate) / (total / 1000),
      'precopy-bytes': transferred - (final?.bytesWire ?? 0),
      'downtime-bytes': final?.bytesWire ?? 0,
      'page-size': PAGE,
    },
    'cpu-throttle-percentage': last.throttle,
    precopy: {
      version: 1,
      clock: 'virtual',
      converged: ctx.converged,
      guestDirtyPagesRate: Math.round(rounds[0]!.dirtyRate / PAGE),
      destinationDowntime: final ? downtime + 1.5 : 0,
      downtimeBreakdown: {
        finalHarvest: 0.4,
        finalSend: final?.duration ?? 0,
        vcpuState: 0.6,
        destinationResume: 1,
      },
      verification: ctx.converged ? { passed: true, sourceHash: 'ab12', destinationHash: 'ab12' } : null,
      regionPages: ctx.regionPages,
      rounds,
      predictionError: rounds.map((r) => ({
        round: r.round,
        rounds: r.predictedRoundsLeft === null ? null : r.round + r.predictedRoundsLeft - (rounds.length - 1),
        eta: r.predictedEta === null ? null : r.predictedEta - (total - (r.start + r.duration)),
      })),
      scenario: { title: ctx.title ?? 'fixture' },
      states: ctx.converged
        ? ['setup', 'active', 'device', 'completed']
        : ['setup', 'active', 'cancelling', 'cancelled'],
    },
  };
}

/**
 * The events a run producing `result` would emit: state changes, progress ticks every 100 ms of
 * migration time within each round (QEMU's window), a round event as each round ends, then done.
 */
export function eventsFor(result: MigrationResult): MigrationEvent[] {
  const events: MigrationEvent[] = [];
  const states = result.precopy.states;
  const state = (time: number, status: MigrationStatus, machineState: string = status) =>
    events.push({ type: 'state', time, status, machineState });
  state(0, 'setup', 'setup');
  state(result['setup-time'], 'active', 'active.bulk');
  let sent = 0;
  for (const r of result.precopy.rounds) {
    if (r.final) state(r.start, 'device', 'switchover');
    for (let t = 100; t < r.duration; t += 100) {
      const frac = t / r.duration;
      events.push({
        type: 'progress',
        time: r.start + t,
        round: r.round,
        bytesSent: Math.round(sent + r.bytesWire * frac),
        remaining: Math.round(r.pagesSent * 4096 * (1 - frac)),
        dirtiedSinceSync: Math.round(r.workingSetPages * 4096 * frac),
        threshold: r.threshold,
        convergence: Math.min(
          1,
          r.threshold /
            Math.max(
              1,
              Math.round(r.pagesSent * 4096 * (1 - frac)) + Math.round(r.workingSetPages * 4096 * frac),
            ),
        ),
        roundsLeft: r.predictedRoundsLeft,
        dirtyRate: r.dirtyRate,
        sendRate: r.sendRate,
        throttle: r.throttle,
        eta: r.predictedEta,
      });
    }
    sent += r.bytesWire;
    const regionBytes = result.precopy.regionPages * result.ram['page-size'];
    events.push({ type: 'round', time: r.start + r.duration, round: r, regionBytes });
  }
  const end = states[states.length - 1]!;
  if (end !== 'completed') state(result['total-time'] - 1, 'cancelling', 'cancelling');
  state(result['total-time'], end, end);
  events.push({ type: 'done', time: result['total-time'], result });
  return events;
}
