/**
 * The fault plan: every fault precopy injects for a negative test, in one typed place, by the
 * seam it breaks; all are off unless named. A layer applies its part by wrapping the object at
 * that seam when (and only when) a fault is on, so the production path tests no fault switch:
 *
 * | part         | applied by                | wraps                                                          |
 * | ------------ | ------------------------- | -------------------------------------------------------------- |
 * | `mmu`        | `src/mmu/faults.ts`       | the VM's flush before consume, the reprotect walks, the fast path, the boot mapping |
 * | `guest`      | `src/guest/faults.ts`     | the vCPUs the guest writes through, its owed-writes queue      |
 * | `pageStates` | `src/guest/faults.ts`     | the page-state table of generated and metadata backings        |
 * | `tracker`    | `src/migration/faults.ts` | the dirty tracker's chunk clears and the link its pages go out on |
 * | `engine`     | `src/migration/faults.ts` | the guest the engine drives (its resume, its penalties)        |
 * | `dest`       | `src/dest/faults.ts`      | the page sink the destination applies pages to, its recovery table |
 * | `link`       | `src/link/faults.ts`      | the transports a session sends on, its xbzrle cache, a ws transport's bound and close |
 *
 * Read where they are decided instead, each once per round, SYNC or lost link, not per page:
 * the engine's resumeOnOrphan and mmuBaselineStuck, the multifd barrier's noBarrier. The model's
 * and the predictor's faults (below) are read by those pure computations, with no object between
 * them and their callers to wrap; so are postcopy's, each read where the phase decides it. Still
 * their own: the sweep's queue and store faults (src/sweep/queue.ts,
 * store.ts), which break an external store's bookkeeping, not a migration.
 */
import type { Transport } from '../link/transport';

/** The MMU (src/mmu): KVM's dirty-logging rules broken one at a time (research §3.8, §4). */
export interface MmuFaults {
  /** Skip the remote TLB flush that GET/CLEAR/enable/ring-reset owe before returning (§4 rule 1). */
  skipFlushAfterReprotect?: boolean;
  /** Make write-protect / clear-D paths mark the dirty bitmap (the seed's double report, §3.8). */
  markBitmapOnReprotect?: boolean;
  /** The fast page-fault path restores W but does not log the GFN. */
  dropFastPathLog?: boolean;
  /** The boot mapping (mapBootMemory) installs its leaves with W clear, as no running guest's are. */
  bootMapWithoutWrite?: boolean;
}

/** The guest (src/guest): its writes and the writes it owes. */
export interface GuestFaults {
  /** Workload writes go straight into memory, bypassing the vCPU and the MMU. */
  sideDoor?: boolean;
  /** A vCPU that is blocked (paused by the VMM, ring full) forgets the writes it owes. */
  dropOwedWrites?: boolean;
}

/** The generated and metadata backings' page states (src/guest/page-states.ts). */
export interface PageStateFaults {
  /** A non-zero write to a ZERO page leaves it ZERO (the metadata forgets zero → non-zero). */
  forgetZeroToNonzero?: boolean;
}

/** The dirty tracker (src/migration/dirty-tracker.ts). */
export interface TrackerFaults {
  /** manual dirty log: clear and re-protect a chunk after its pages were sent, not before (loses writes). */
  clearAfterSend?: boolean;
}

/** The destination (src/dest). */
export interface DestFaults {
  /** Every page applied is then changed (verification must fail). */
  corruptAppliedPage?: boolean;
  /** The first page of the stop-and-copy round is counted but never written: counts and hashes match, the image does not. */
  dropFinalPage?: boolean;
  /** multifd channels do not wait for each other at a round's SYNC. */
  noBarrier?: boolean;
  /** A QUERY answers discarded but a late GO still resumes. */
  ignoreQueryCommit?: boolean;
}

/** The migration engine (src/migration/engine.ts). */
export interface EngineFaults {
  /** Rollback forgets to give the guest its vCPUs back (cancel/failure leaves it paused). */
  noResumeOnRollback?: boolean;
  /** dirty-limit computes its penalties but never hands them to the vCPUs. */
  dirtyLimitUnserved?: boolean;
  /** A link lost after GO resumes the source guest anyway (the split brain the commit protocol prevents). */
  resumeOnOrphan?: boolean;
  /** The rounds' MMU baseline never moves: each round reports the costs since logging started. */
  mmuBaselineStuck?: boolean;
}

/** The link (src/link, src/wire): what a session and its transports must not get wrong. */
export interface LinkFaults {
  /** The encoder keeps a page's cached copy when the page goes out as zero: xbzrle's next delta has the wrong base. */
  keepStaleCache?: boolean;
  /** A frame's buffer is reused as soon as it is queued, not once it is written. */
  releaseWhenQueued?: boolean;
  /** The ws transport never waits for its send buffer to drain. */
  ignoreBackpressure?: boolean;
  /** The ws transport hands any close code and reason to ws unchecked. */
  rawClose?: boolean;
  /** Wrap multifd channel `index`'s source-side transport (delay it, ...). */
  channel?: (index: number, transport: Transport) => Transport;
}

/**
 * Postcopy's phase (src/migration/postcopy.ts), read where each is decided: per request, per
 * PAGES frame, once for the discard set. Not wrapped: the request queue, the frame counter and
 * the discard set are the phase's own state, with no object between them and the link.
 */
export interface PostcopyFaults {
  /** The source drops every page request and marks the page sent (the vCPU never unblocks). */
  skipRequests?: boolean;
  /** The source answers the first request for a page with the next page's bytes. */
  wrongAnswer?: boolean;
  /** The source never sends its n-th PAGES frame (counted, 1-based) but counts it in its tally. */
  dropFrame?: number;
  /** The destination leaves these pages out of the discard set (verification must catch them). */
  discardOmits?: number[];
  /** The destination's end closes the first link after this many frames arrived (a loss the source did not plan). */
  destDropsLinkAfter?: number;
}

/** The analytic model (src/model): costs it must not get wrong. Pure functions: it reads these itself. */
export interface ModelFaults {
  /** Zero pages cost a whole page (the textbook's assumption): predictions of half-empty guests go wrong. */
  zeroPagesAsData?: boolean;
  /** Generated and metadata runs' pages costed as stored ones (their sparse pages go wrong). */
  ignoreBacking?: boolean;
}

/** The round engine's predictor (src/migration/predictor.ts), which reads it itself. */
export interface PredictorFaults {
  /** Report the raw ETA even when it moves the completion earlier than the last band allows. */
  unclampedEta?: boolean;
}

/** One plan, by seam. */
export interface FaultPlan {
  mmu?: MmuFaults;
  guest?: GuestFaults;
  pageStates?: PageStateFaults;
  tracker?: TrackerFaults;
  dest?: DestFaults;
  engine?: EngineFaults;
  link?: LinkFaults;
  postcopy?: PostcopyFaults;
}

/** Whether any fault of `part` is on (a wrapper is owed). */
export function anyFault(part: object | undefined): boolean {
  return part !== undefined && Object.values(part).some((on) => on === true);
}
