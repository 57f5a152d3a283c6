/**
 * The result of one migration: QEMU's `query-migrate` shape (same field names, same meaning,
 * research/live-migration.md §3) with precopy's additions beside it, so a result diffs directly
 * against QEMU's output. This is the contract between the round engine (producer) and the
 * viewers, reports and sweeps (consumers). Times are milliseconds, sizes bytes, rates per second.
 */
import type { MigrationStatus } from '../../machines/migration-status';
import type { Backing } from '../guest/memory';
import type { DestinationBreakdown, PostRun } from '../wire/verdict';

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
    /** The MMU's costs over the whole migration (the sum of the rounds' `mmu`). */
    mmu?: MmuCounters;
    /**
     * Why the live phase ended: `threshold` (the dirty set fit the downtime limit), `stall`
     * (VEP 248's local minimum), `xen-pages` / `xen-iterations` / `xen-factor` / `xen-rate`
     * (Xen'05's last-round rules), `max-rounds`, `timeout`; absent if it never ended.
     */
    stopReason?: string;
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
  | { type: 'state'; time: number; status: MigrationStatus; machineState: string }
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
