/**
 * The result of one migration: QEMU's `query-migrate` shape (same field names, same meaning,
 * research/live-migration.md §3) with precopy's additions beside it, so a result diffs directly
 * against QEMU's output. This is the contract between the round engine (producer) and the
 * viewers, reports and sweeps (consumers). Times are milliseconds, sizes bytes, rates per second.
 */
import type { GuestSide } from '../../machines/source.machine';
import type { MigrationStatus } from '../../machines/migration-status';
import type { Backing } from '../guest/memory';
import type { SendStats } from '../link/types';
import { PAGE_SIZE } from '../util/units';
import type { DestinationBreakdown, DestinationVerdict, PostRun } from '../wire/verdict';
import type { ParameterChange } from './control';
import type { PostcopyResult } from './postcopy';
import type { MemoryPlan } from './memory-plan';
import type { Scenario } from './scenario';
import { CONVERGED_REASONS, type StopReason } from './stop-rule';

export { MIGRATION_STATUSES, type MigrationStatus } from '../../machines/migration-status';

/** One round: the interval between two dirty-bitmap syncs (QEMU's `dirty-sync-count` step). */
export interface RoundStats {
  /** 0 is the bulk round (all memory); the last one with `final: true` is stop-and-copy. */
  round: number;
  /** Start, from the migration's start, and duration of the round. */
  start: number;
  duration: number;
  /** Pages found dirty by the sync that opened the round. */
  pagesHarvested: number;
  /** Pages sent in the round, and how many of those went as zero pages. */
  pagesSent: number;
  pagesZero: number;
  /** Page bytes before encoding (pages × 4096) and bytes on the wire (frames included). */
  bytesRaw: number;
  bytesWire: number;
  /** bytesRaw / bytesWire. */
  compressionRatio: number;
  /** The guest's own rate: distinct pages written during the round per second (bytes/s). */
  dirtyRate: number;
  /** Bytes on the wire per second during the round. */
  sendRate: number;
  /** dirtyRate / sendRate. */
  lambda: number;
  /** Distinct pages written during the round (the writable working set at this round length). */
  workingSetPages: number;
  /** Bytes still dirty at the end of the round (QEMU's ram.remaining after the next sync). */
  remaining: number;
  /** The stop threshold in force: bandwidth × downtime-limit (bytes). */
  threshold: number;
  /** QEMU's expected-downtime at the end of the round (ms). */
  expectedDowntime: number;
  /** vCPU throttle in percent during the round (auto-converge). */
  throttle: number;
  /** dirty-limit: mean per-vCPU penalty at the round's end, µs per ring-full exit. */
  dirtyLimitPenalty?: number;
  /** dirty-limit: each vCPU's dirty rate at its last read from the ring, MB/s. */
  dirtyLimitRates?: number[];
  /**
   * The in-run predictor after this round (src/migration/predictor.ts): rounds left
   * (stop-and-copy included) and ETA, ms from the round's end to the migration's end (its
   * completion or its cancel); null when there is no prediction.
   */
  predictedRoundsLeft: number | null;
  predictedEta: number | null;
  /** The ETA's band (ms), the downtime and the outcome the predictor expects. */
  predictedEtaBand?: { low: number; high: number };
  predictedDowntime?: number;
  predictedOutcome?: 'converged' | 'forced' | 'cancelled';
  /** Per guest-memory region (`regionPages` each), pages dirtied during the round: the heatmap row. */
  dirtyByRegion: number[];
  /** True for stop-and-copy (vCPUs paused). */
  final: boolean;
  /** The MMU's costs during the round (from the sync that opened it to the one that closed it). */
  mmu?: MmuCounters;
  /** The downtime limit in force at the round's end (ms; differs from the scenario's under a ramp). */
  downtimeLimit?: number;
  /** The max-bandwidth in force at the round's end (bytes/s; set-parameters can move it). */
  maxBandwidth?: number;
  /**
   * Cut short by a cancel (the migration's last round): counts only. Its dirtyRate, sendRate
   * and lambda are 0 and say nothing; it feeds no prediction.
   */
  partial?: true;
}

/**
 * What dirty tracking cost the MMU, in counts: faults by path (vm.stats()), VM exits for a full
 * PML buffer or dirty ring, and the harvest's work. Counts, not wall ms, so results stay
 * deterministic for a seed.
 */
export interface MmuCounters {
  faults: { fast: number; slow: number; spurious: number };
  exits: { pmlFull: number; ringFull: number };
  harvest: {
    /** Harvests (bitmap syncs, each with its ring reap in ring mode). */
    syncs: number;
    /** 32-bit bitmap words KVM_GET_DIRTY_LOG copied (get, manual). */
    bitmapWords: number;
    /** Dirty-ring entries reaped (ring). */
    ringEntries: number;
    /** KVM_CLEAR_DIRTY_LOG calls (manual). */
    clearCalls: number;
  };
  /** ring: vCPUs the reaper found blocked in a ring-full exit (each stall lasts at most one reaper period). */
  ringStalls: number;
  /** ring: vCPU run time lost in ring-full exits, ms summed over vCPUs (what the stalls cost the guest). */
  ringStallMs: number;
}

export interface RamStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  normal: number;
  'normal-bytes': number;
  'dirty-sync-count': number;
  'dirty-pages-rate': number;
  mbps: number;
  'pages-per-second': number;
  'precopy-bytes': number;
  'downtime-bytes': number;
  'page-size': number;
  /** Bytes sent over the multifd channels (QEMU's ram.multifd-bytes); 0 without multifd. */
  'multifd-bytes'?: number;
}

/** One sender thread's part of the migration. */
export interface SenderThread {
  /** Bytes of frames it put on its link, pages it handled, of them zero pages, frames. */
  bytes: number;
  pages: number;
  zeroPages: number;
  frames: number;
  /** CPU time the sender model charged it (ms of virtual time); null when not modelled (wall time, no rate). */
  cpuTime: number | null;
}

/** The senders: multifd's channels, zero-page detection and the CPU model (src/link/sender.ts). */
export interface SenderReport {
  multifd: boolean;
  /** multifd-channels (0 without multifd). */
  channels: number;
  'zero-page-detection': string;
  /** Bytes of guest pages one sender thread encodes per second (0 = not modelled). */
  encodeRate: number;
  /** Where the rate came from: the scenario's encode-rate, the measured default, or none. */
  encodeRateSource: 'scenario' | 'default' | 'not modelled';
  /** The migration thread: everything without multifd; zero pages under legacy detection with it. */
  migrationThread: SenderThread;
  perChannel: SenderThread[];
}

export interface XbzrleCacheStats {
  'cache-size': number;
  bytes: number;
  pages: number;
  'cache-miss': number;
  'cache-miss-rate': number;
  'encoding-rate': number;
  overflow: number;
}

/**
 * The source's downtime (QEMU's `downtime`: vCPUs stopped → the destination's RESUMED), part
 * by part; each part starts where the previous one ended, so they add up to it.
 */
export interface DowntimeBreakdown {
  /** The final dirty-bitmap sync on the paused guest. */
  finalHarvest: number;
  /** The stop-and-copy round: its pages and the ROUND_END → ROUND_ACK round trip. */
  finalSend: number;
  /** The vCPU state. */
  vcpuState: number;
  /** PREPARE → READY → GO → RESUMED: the destination loading the state and resuming. */
  destinationResume: number;
}

export interface Verification {
  passed: boolean;
  sourceHash: string;
  destinationHash: string;
  /** QEMU's single-edge rule, for the incrementer workload only. */
  edgeCheck?: { passed: boolean; firstBadPage?: number; values?: number[] };
  reason?: string;
}

export interface MigrationResult {
  status: MigrationStatus;
  'error-desc'?: string;
  'total-time': number;
  'setup-time': number;
  downtime: number;
  'expected-downtime': number;
  ram: RamStats;
  'cpu-throttle-percentage': number;
  /** dirty-limit: the largest per-vCPU penalty, and the time to fill a ring at the mean rate (µs). */
  'dirty-limit-throttle-time-per-round'?: number;
  'dirty-limit-ring-full-time'?: number;
  'xbzrle-cache'?: XbzrleCacheStats;
  /** precopy's additions. */
  precopy: {
    version: 1;
    clock: 'virtual' | 'wall';
    converged: boolean;
    /** Guest's own dirty rate (pages/s) over the migration, beside QEMU's dirty-pages-rate. */
    guestDirtyPagesRate: number;
    /** The source downtime went over migration.downtime-limit (a completed migration only). */
    downtimeLimitExceeded?: boolean;
    /**
     * What a user must not miss: a forced switchover (max-rounds, on-timeout force), a downtime
     * over the limit. `precopy run` prints each as a warning line; `--strict` exits 1 on any.
     */
    warnings?: string[];
    /**
     * Destination downtime (ms): from the last page of the last live round to the guest running
     * again there (RESUMED), measured on the destination in the run's clock. This and the fields
     * down to `postRunSkipped` are always set by precopy's engine (absent in imported results).
     */
    destinationDowntime: number;
    /** Its parts, which add up to it (src/wire/verdict.ts). */
    destinationDowntimeBreakdown?: DestinationBreakdown;
    /** Which side runs the guest now: the source (cancelled, failed before GO), the destination (completed), or unknown (the link failed after GO). */
    guestRunsOn?: 'source' | 'destination' | 'unknown';
    /** The destination resumed the guest (RESUMED arrived). */
    resumed?: boolean;
    /** The resumed guest's run at the destination and the workload's check on what it read. */
    postRun?: PostRun | null;
    /** Why there was no post-run (fast mode, no guest description sent). */
    postRunSkipped?: string;
    /**
     * Time the source spent hashing its paused image for verification (ms; 0 in virtual
     * time). A lab cost, not part of a migration: after RESUMED, left out of `downtime`.
     */
    sourceHashTime?: number;
    /**
     * Verification, after the resume and off both downtimes (ms of the run's clock, 0 in virtual
     * time apart from the link): the source's hash + VERIFY → VERDICT, and the destination's
     * hashing and edge rule at resume.
     */
    verificationTime?: { source: number; destination: number };
    /** Why the verification after the resume did not finish (the guest runs on the destination). */
    verificationError?: string;
    /** A cancel that came after GO, the commit point: refused, the migration completed. */
    refusedCancel?: string;
    /** Source downtime's parts; they add up to `downtime`. */
    downtimeBreakdown: DowntimeBreakdown;
    verification: Verification | null;
    /** Pages per region in `RoundStats.dirtyByRegion`. */
    regionPages: number;
    rounds: RoundStats[];
    /**
     * Prediction error per live round: predicted total rounds − actual, predicted ETA − actual
     * (ms), that over the actual time left, predicted downtime − actual (ms).
     */
    predictionError: {
      round: number;
      rounds: number | null;
      eta: number | null;
      etaRelative?: number | null;
      downtime?: number | null;
    }[];
    /** Why the in-run predictor gave up, if it did (the migration itself is not affected). */
    predictorError?: string;
    /**
     * Live set-parameters (MigrationControl): each change, from the rate window it took effect
     * in (ms from the start). Absent when nothing changed.
     */
    parameterChanges?: { time: number; 'max-bandwidth'?: number; 'downtime-limit'?: number }[];
    /** The scenario that produced this result (the destination token left out), as validated (for reruns and comparisons). */
    scenario: unknown;
    /** States the source machine went through, in order. */
    states: MigrationStatus[];
    /** The sender threads: multifd channels, zero-page detection, CPU model. */
    sender?: SenderReport;
    /** Postcopy's phase (src/migration/postcopy.ts), when the migration switched to it. */
    postcopy?: PostcopyReport;
    /**
     * What the migration cost the guest, for a completed one: vCPU run time lost from the live
     * phase's start to total-time's end (ms, the mean over vCPUs): in the live phase (throttling,
     * dirty-limit penalties, ring-full stalls), the downtime, and postcopy's blocktime; `share`
     * is their sum over that time.
     */
    guestSlowdown?: { share: number; liveMs: number; downtimeMs: number; blocktimeMs: number };
    /** The MMU's costs over the whole migration (the sum of the rounds' `mmu`). */
    mmu?: MmuCounters;
    /**
     * Why the live phase ended: `threshold` (the dirty set fit the downtime limit), `stall`
     * (VEP 248's local minimum), `xen-pages` / `xen-iterations` / `xen-factor` / `xen-rate`
     * (Xen'05's last-round rules), `max-rounds`, `timeout` (also when on-timeout cancel ended
     * it); absent if it never ended. The source machine's guard that fired (machines/).
     */
    stopReason?: StopReason;
    /**
     * Sweeps' fast mode: page states instead of page contents, sizes from the metadata link
     * (README, sweeps). Nothing was sent or verified: `verification` is null.
     */
    metadataOnly?: true;
    /** How the pages were held (README "Modes and backings"): mode, backing, the memory estimate, what it does not measure. */
    memory?: { mode: 'full' | 'fast'; backing: Backing; estimate: number; notMeasured: string[] };
  };
}

/**
 * What a running migration emits (like QEMU's MIGRATION / MIGRATION_PASS events), for the
 * terminal view, the live dashboard and sweeps. One event per transition, per round, and a
 * progress tick at most every 100 ms of the migration's clock; never per page.
 */
export type MigrationEvent =
  | {
      type: 'state';
      time: number;
      status: MigrationStatus;
      machineState: string;
      /** The stop guard that fired, from the state the live phase ended into on. */
      stopReason?: StopReason;
    }
  | {
      type: 'round';
      time: number;
      round: RoundStats;
      /** Bytes per `dirtyByRegion` region, so a live view labels rows as the saved result will. */
      regionBytes?: number;
    }
  | {
      type: 'progress';
      time: number;
      round: number;
      bytesSent: number;
      /** Bytes dirty at the last sync and not sent since (QEMU's ram.remaining). */
      remaining: number;
      /** Bytes the guest dirtied since the last sync (distinct pages): the next sync finds them too. */
      dirtiedSinceSync: number;
      threshold: number;
      /**
       * The progress figure: how much of the dirty set fits the threshold, min(1, threshold ÷
       * (remaining + dirtiedSinceSync)). A sync now would find at most that dirty set, so the
       * figure never exceeds the real one; it reaches 1 only when the migration can switch over.
       */
      convergence: number;
      /** The predictor's rounds left after the last round (null: it cannot converge). */
      roundsLeft: number | null;
      dirtyRate: number;
      sendRate: number;
      throttle: number;
      eta: number | null;
    }
  | {
      /** set-parameters took effect (from this rate window on): what changed, and all in force. */
      type: 'parameters';
      time: number;
      'max-bandwidth'?: number;
      'downtime-limit'?: number;
      parameters: { 'max-bandwidth': number; 'downtime-limit': number };
    }
  | { type: 'done'; time: number; result: MigrationResult };

// ////     assembling the result     ////

/** Bytes the migration moved, by phase (QEMU's ram.* counters are read from it). */
export interface Transfer {
  /** Every page send summed: pages, zero and unchanged pages, bytes raw and on the wire, XBZRLE. */
  sent: SendStats;
  /** Wire bytes of the live rounds' pages (QEMU's precopy-bytes). */
  precopyBytes: number;
  /** Wire bytes while the vCPUs were stopped: stop-and-copy's pages and the vCPU state (downtime-bytes). */
  downtimeBytes: number;
  /** The vCPU state's bytes (ram.transferred counts them beside the pages). */
  stateBytes: number;
}

/** The switchover's clock: QEMU's downtime and its parts (all in the migration's clock, ms). */
export interface DowntimeClock {
  /** When the vCPUs stopped. */
  since: number;
  /** vCPUs stopped → RESUMED; 0 until RESUMED. */
  total: number;
  /** Its parts; each runs from `lastMark`, where the previous one ended, so they add up to `total` exactly. */
  parts: DowntimeBreakdown;
  lastMark: number;
  /** Time since the start when RESUMED arrived: QEMU's total-time ends there. */
  completedAt?: number;
  /** The destination's time of its resume (RESUMED arrived). */
  resumedAt?: number;
}

/** The verification after the resume, off the downtime. */
export interface VerificationRecord {
  sourceHash?: string;
  /** Hashing the source's paused image (ms). */
  sourceHashTime: number;
  /** The source's whole verification: its hash + VERIFY → VERDICT (ms). */
  time: number;
  verdict?: DestinationVerdict;
  /** Why the CONFIG carried no guest, so nothing ran at the destination after its resume. */
  postRunSkipped?: string;
}

/** The guest's own dirty rate as calc-dirty-rate samples it: distinct pages over periods of ≥ 1 s. */
export interface GuestRateSample {
  /** Where the open period began (the migration's clock, ms). */
  since: number;
  /** Pages and ms over the closed periods. */
  pages: number;
  ms: number;
}

/** What one migration accumulated, as the engine hands it over at the end. */
export interface RunRecord {
  scenario: Scenario;
  memoryPlan?: MemoryPlan;
  clock: 'virtual' | 'wall';
  /** Fast mode: page states, not bytes; nothing verified. */
  metadataOnly: boolean;
  /** Time since the start now, and the setup's part of it (ms). */
  elapsed: number;
  setupTime: number;
  guestPages: number;
  /** cpu-throttle-percentage now. */
  throttle: number;
  /** The downtime-limit in force at the end (set-parameters can move it). */
  downtimeLimit: number;
  transfer: Transfer;
  downtime: DowntimeClock;
  verification: VerificationRecord;
  guestRate: GuestRateSample;
  rounds: RoundStats[];
  states: MigrationStatus[];
  parameterChanges: ParameterChange[];
  predictorError?: string;
  /** The MMU's costs since dirty logging started (absent: it never started). */
  mmu?: MmuCounters;
  /** The sender report, when multifd or the CPU model is on. */
  sender?: SenderReport;
  multifdBytes?: number;
  /** The parts set up with the migration; absent when it never got that far. */
  tracker?: { dirtyPages: number; regionPages: number };
  expectedDowntime?: number;
  period?: { syncCount: number; dirtyPagesRate: number };
  dirtyLimit?: { throttleTimePerRound: number; ringFullTime: number };
  /** XBZRLE's rates, when the capability is on. */
  xbzrle?: { cacheSize: number; cacheMissRate: number; encodingRate: number };
  /** Postcopy's phase, when the migration switched to it. */
  postcopy?: PostcopyReport;
  /** The live phase at the pause: its length, and the run time each vCPU lost in it (ms). */
  guestLive?: { ms: number; lostMs: number[] };
}

/** How the source machine ended: its status and the figures its context holds. */
export interface MachineEnd {
  status: MigrationStatus;
  /** Why it was cancelled or failed. */
  reason: string | null;
  /** The stop guard that fired (null: none did). */
  stopReason: StopReason | null;
  guestRunsOn: GuestSide;
  refusedCancel: string | null;
  verificationError: string | null;
}

/** QEMU's query-migrate for a migration that ended, with precopy's additions. */
export function assembleResult(run: RunRecord, end: MachineEnd): MigrationResult {
  const { status, stopReason } = end;
  const { transfer, downtime, verification } = run;
  const sent = transfer.sent;
  const completed = status === 'completed';
  // QEMU's total-time ends when the migration completes: RESUMED, before the verification.
  const totalTime = completed ? (downtime.completedAt ?? run.elapsed) : run.elapsed;
  const liveTime = Math.max(1, totalTime - run.setupTime);
  const v = verification.verdict;
  const m = run.scenario.migration;
  const limit = run.downtimeLimit;
  const downtimeLimitExceeded = completed && downtime.total > limit;
  // The caps' forced switchover warns (Xen's own last-round rules are its design, not a cap).
  const forced = stopReason === 'max-rounds' || stopReason === 'timeout' ? stopReason : null;
  const warnings = [
    ...(completed && forced
      ? [
          `forced switchover (${forced === 'max-rounds' ? `max-rounds ${m['max-rounds']}` : `timeout ${m.timeout} ms, on-timeout force`}): the dirty set never fit the downtime limit`,
        ]
      : []),
    ...(downtimeLimitExceeded
      ? [`downtime ${downtime.total.toFixed(1)} ms exceeds the downtime-limit of ${limit} ms`]
      : []),
  ];
  const normal = sent.pages - sent.zeroPages - sent.unchangedPages;
  return {
    status,
    ...(end.reason && !completed ? { 'error-desc': end.reason } : {}),
    'total-time': totalTime,
    'setup-time': run.setupTime,
    downtime: completed ? downtime.total : 0,
    'expected-downtime': run.expectedDowntime ?? m['downtime-limit'],
    ram: {
      transferred: sent.bytesWire + transfer.stateBytes,
      remaining: (run.tracker?.dirtyPages ?? run.guestPages) * PAGE_SIZE,
      total: run.guestPages * PAGE_SIZE,
      duplicate: sent.zeroPages,
      normal,
      'normal-bytes': normal * PAGE_SIZE,
      'dirty-sync-count': run.period?.syncCount ?? 0,
      'dirty-pages-rate': run.period?.dirtyPagesRate ?? 0,
      // QEMU's final figures: the average over the live part (migration_calculate_complete).
      mbps: (sent.bytesWire * 8) / liveTime / 1000,
      'pages-per-second': (sent.pages * 1000) / liveTime,
      'precopy-bytes': transfer.precopyBytes,
      'downtime-bytes': transfer.downtimeBytes,
      'page-size': PAGE_SIZE,
      ...(run.multifdBytes !== undefined ? { 'multifd-bytes': run.multifdBytes } : {}),
    },
    'cpu-throttle-percentage': run.throttle,
    ...(run.dirtyLimit
      ? {
          'dirty-limit-throttle-time-per-round': run.dirtyLimit.throttleTimePerRound,
          'dirty-limit-ring-full-time': run.dirtyLimit.ringFullTime,
        }
      : {}),
    ...(run.xbzrle
      ? {
          // QEMU's meanings: src/wire/batch.ts (BatchStats) and xbzrle-rates.ts.
          'xbzrle-cache': {
            'cache-size': run.xbzrle.cacheSize,
            bytes: sent.xbzrleBytes,
            pages: sent.xbzrleCacheHits,
            'cache-miss': sent.xbzrleCacheMisses,
            'cache-miss-rate': run.xbzrle.cacheMissRate,
            'encoding-rate': run.xbzrle.encodingRate,
            overflow: sent.xbzrleOverflows,
          },
        }
      : {}),
    precopy: {
      version: 1,
      clock: run.clock,
      converged: stopReason !== null && CONVERGED_REASONS.has(stopReason),
      guestDirtyPagesRate: run.guestRate.ms > 0 ? (run.guestRate.pages * 1000) / run.guestRate.ms : 0,
      downtimeLimitExceeded,
      ...(warnings.length ? { warnings } : {}),
      destinationDowntime: v?.destinationDowntimeMs ?? 0,
      ...(v ? { destinationDowntimeBreakdown: { ...v.downtimeBreakdown } } : {}),
      guestRunsOn: end.guestRunsOn,
      resumed: downtime.resumedAt !== undefined && !run.metadataOnly,
      postRun: v?.postRun ?? null,
      ...(verification.postRunSkipped || (v && !v.postRun)
        ? {
            postRunSkipped:
              verification.postRunSkipped ?? 'the destination resumed the image without a guest to run',
          }
        : {}),
      sourceHashTime: verification.sourceHashTime,
      verificationTime: { source: verification.time, destination: v?.verifyMs ?? 0 },
      ...(end.verificationError ? { verificationError: end.verificationError } : {}),
      ...(end.refusedCancel ? { refusedCancel: end.refusedCancel } : {}),
      downtimeBreakdown: { ...downtime.parts },
      verification: v && !run.metadataOnly ? verificationOf(v, verification.sourceHash ?? '') : null,
      regionPages: run.tracker?.regionPages ?? 0,
      rounds: run.rounds,
      predictionError: predictionErrors(run.rounds, totalTime, completed ? downtime.total : undefined),
      scenario: withoutSecrets(run.scenario),
      states: run.states,
      ...(run.sender ? { sender: run.sender } : {}),
      ...(run.postcopy ? { postcopy: run.postcopy } : {}),
      ...(completed && run.guestLive
        ? { guestSlowdown: slowdownOf(run, run.guestLive, totalTime, completed ? downtime.total : 0) }
        : {}),
      ...(run.mmu ? { mmu: run.mmu } : {}),
      ...(stopReason ? { stopReason } : {}),
      ...(run.memoryPlan ? { memory: memoryOf(run.memoryPlan) } : {}),
      ...(run.metadataOnly ? { metadataOnly: true as const } : {}),
      ...(run.predictorError ? { predictorError: run.predictorError } : {}),
      ...(run.parameterChanges.length > 0 ? { parameterChanges: run.parameterChanges } : {}),
    },
  };
}

function verificationOf(v: DestinationVerdict, sourceHash: string): Verification {
  return {
    passed: v.passed,
    sourceHash,
    destinationHash: v.destinationHash,
    ...(v.edgeCheck
      ? {
          edgeCheck: {
            passed: v.edgeCheck.passed,
            ...(v.edgeCheck.firstBadPage !== undefined ? { firstBadPage: v.edgeCheck.firstBadPage } : {}),
            ...(v.edgeCheck.value !== undefined
              ? { values: [v.edgeCheck.previousValue ?? 0, v.edgeCheck.value] }
              : {}),
          },
        }
      : {}),
    ...(v.reason ? { reason: v.reason } : {}),
  };
}

/**
 * Each round's prediction against what happened: predicted total rounds − actual total,
 * predicted ETA − actual time from that round's end to the end (ms), that error over the actual
 * time left, and the predicted downtime − the actual one. Null where there was no prediction.
 */
export function predictionErrors(
  rounds: {
    round: number;
    start: number;
    duration: number;
    predictedRoundsLeft: number | null;
    predictedEta: number | null;
    predictedDowntime?: number | null;
    final: boolean;
  }[],
  totalTime: number,
  downtime?: number,
): MigrationResult['precopy']['predictionError'] {
  const total = rounds.length;
  return rounds
    .filter((r) => !r.final)
    .map((r) => {
      const left = totalTime - (r.start + r.duration);
      const eta = r.predictedEta === null ? null : r.predictedEta - left;
      return {
        round: r.round,
        rounds: r.predictedRoundsLeft === null ? null : r.round + 1 + r.predictedRoundsLeft - total,
        eta,
        ...(eta !== null && left > 0 ? { etaRelative: eta / left } : {}),
        ...(downtime !== undefined && r.predictedDowntime != null
          ? { downtime: r.predictedDowntime - downtime }
          : {}),
      };
    });
}

/** What the result says of the memory plan: deterministic parts only (the machine's free memory is not). */
function memoryOf(plan: MemoryPlan): NonNullable<MigrationResult['precopy']['memory']> {
  return { mode: plan.mode, backing: plan.backing, estimate: plan.estimate, notMeasured: plan.notMeasured };
}

/** Postcopy's figures in the result: QEMU's names, states, the fault timeline. */
export type PostcopyReport = Omit<PostcopyResult, 'verdict' | 'verification'>;

function slowdownOf(
  run: RunRecord,
  live: NonNullable<RunRecord['guestLive']>,
  totalTime: number,
  downtimeMs: number,
): NonNullable<MigrationResult['precopy']['guestSlowdown']> {
  const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const liveMs = mean(live.lostMs);
  const blocktimeMs = mean(run.postcopy?.['postcopy-vcpu-blocktime'] ?? []);
  const window = Math.max(1, totalTime - run.setupTime);
  return { share: (liveMs + downtimeMs + blocktimeMs) / window, liveMs, downtimeMs, blocktimeMs };
}

/** The scenario as results keep it: the destination's token stays out (results are shared). */
function withoutSecrets(scenario: Scenario): Scenario {
  if (scenario.run.token === undefined) return scenario;
  const { token: _token, ...run } = scenario.run;
  return { ...scenario, run };
}
