/**
 * The round engine: the I/O behind the source machine's actors (machines/source.machine.ts).
 * One `Migration` holds all the state of one migration: the dirty tracker, QEMU's counters, the
 * link session, the round list and the totals. The machine decides; this file does.
 *
 * Time: in virtual time every send over the ModelledLink (src/link/modelled.ts) advances the
 * VirtualClock by its bytes / link bandwidth (or the busiest sender thread's encode time), so
 * the guest writes exactly the writes of that simulated interval; sleeps jump the clock. In
 * wall time the same code runs against the real clock and the link's own speed.
 */
import { readFileSync } from 'node:fs';
import { createActor, fromPromise } from 'xstate';
import {
  guestSide,
  migrationStatus,
  sourceMachine,
  stateName,
  type DestinationVerdict as MachineVerdict,
  type PostcopyOutcome,
  type RecoveredOutcome,
  type RoundMeasure,
  type RoundPlan,
} from '../../machines/source.machine';
import { emptySendStats, type LinkConfig, type SendStats, type SourceSession } from '../link/index';
import { ModelledLink } from '../link/modelled';
import { MAX_CONFIG } from '../wire/constants';
import type { MemoryRegion, Vm } from '../mmu/api';
import type { GuestMemory } from '../guest/memory';
import { isVirtual, sleep, type Clock, type VirtualClock } from '../util/clock';
import { PAGE_SIZE } from '../util/units';
import { emptyStats as emptyBatchStats, type BatchStats } from '../wire/batch';
import { addStats, encodeRateOf } from '../link/sender';
import { DirtyLimit } from './dirty-limit';
import { DirtyPeriod } from './dirty-period';
import { DIRTY_RING_ENTRIES, DirtyTracker, type HarvestCost } from './dirty-tracker';
import type { FaultPlan } from '../config/faults';
import { applyEngineFaults, applyTrackerFaults } from './faults';
import { rampedLimit } from './downtime-ramp';
import { Predictor } from './predictor';
import { BUFFER_DELAY_MS, RateWindow } from './rate-window';
import { XbzrleRates } from './xbzrle-rates';
import { SenderStats } from './sender-stats';
import {
  assembleResult,
  type DowntimeClock,
  type GuestRateSample,
  type MigrationEvent,
  type MigrationResult,
  type MigrationStatus,
  type MmuCounters,
  type PostcopyReport,
  type RoundStats,
  type RunRecord,
  type Transfer,
  type VerificationRecord,
} from './result';
import type { MemoryPlan } from './memory-plan';
import type { Scenario } from './scenario';
import type { LiveParameters, MigrationControl, ParameterChange } from './control';
import { PostcopySource } from './postcopy';

/** What the engine needs of the source guest (src/guest provides it). */
export interface MigratableGuest {
  readonly vm: Vm;
  readonly memory: GuestMemory;
  readonly pages: number;
  /** The memslot backing guest RAM. */
  readonly region: MemoryRegion;
  pauseAll(): void;
  resumeAll(): void;
  readonly paused: boolean;
  setThrottle(percent: number): void;
  readonly throttle: number;
  /** dirty-limit: vCPU `vcpu` sleeps `usPerRingFull` µs per ring-full exit (needed for dirty-limit). */
  setVcpuPenalty?(vcpu: number, usPerRingFull: number): void;
  /** The device state captured at switchover (registers, the incrementer's position...). */
  vcpuState(): Uint8Array;
  /** Make the writes owed up to the clock's now (before a harvest that falls between ticks). */
  catchUp(): void;
  /** Distinct pages written since the last call (the writable working set of that interval). */
  takeDistinctWrites(): number;
  /** Same, on a separate window: the guest's own dirty rate, sampled over ≥ 1 s periods. */
  takeRateSample(): number;
  /**
   * Distinct pages written since the last dirty-bitmap sync, without resetting (the honest
   * progress figure adds them to what is left to send); `reset` at each sync. Absent: 0.
   */
  readonly writesSinceSync?: { peek(): number; reset(): void };
  readonly edgeRegion?: { firstPage: number; pages: number };
  /** vCPU run time lost in dirty-ring-full exits so far (ms, all vCPUs); absent: not measured. */
  readonly ringStallMs?: number;
  /** vCPU `vcpu`'s run time so far (Guest.vcpuRunMs); absent: the slowdown is not reported. */
  vcpuRunMs?(vcpu: number): number;
}

export interface EngineOptions {
  scenario: Scenario;
  clock: Clock;
  guest: MigratableGuest;
  /** Opens the link to the destination (a fresh session per migration). */
  connect: () => Promise<SourceSession>;
  /** Link bandwidth (bytes/s) and latency (ms) modelled in virtual time. */
  link: { bandwidth: number; latencyMs: number };
  onEvent?: (event: MigrationEvent) => void;
  signal?: AbortSignal;
  /** The fault plan (src/config/faults.ts): its tracker and engine parts apply here, for negative tests. */
  faults?: Pick<FaultPlan, 'tracker' | 'engine'>;
  /** pause-before-switchover: resolves when the user says migrate-continue. Default: at once. */
  continueSwitchover?: () => Promise<void>;
  /**
   * Cancel, migrate-continue and live set-parameters (src/migration/control.ts). Its cancel
   * aborts like `signal`; its continue releases pre-switchover unless `continueSwitchover` is given.
   */
  control?: MigrationControl;
  /**
   * Virtual time only: called once per rate window (and per window's worth of the final send)
   * with the migration's clock, so the host can run its event loop (a dashboard, signals) and
   * pace the run; the migration waits for the promise. Nothing the migration computes depends on it.
   */
  pace?: (now: number) => Promise<void> | void;
  /** The memory plan that chose the guest's backing (reported in the result as `precopy.memory`). */
  memoryPlan?: MemoryPlan;
}

/** Pages per sendPages call: small enough to honour a window budget, big enough to batch. */
const MAX_BATCH_PAGES = 256;
/** QEMU's MAX_WAIT: an iteration returns to the convergence test at least this often (ms). */
const MAX_WAIT_MS = 50;
/** Postcopy: a lost link is recovered (migrate-recover) this long after it went, in the migration's clock (ms). */
const POSTCOPY_RECOVER_MS = 1000;
/** Progress events at most this often, in the migration's clock (ms). */
const PROGRESS_EVERY_MS = 100;

/** One round's running figures, turned into RoundStats when it closes. */
interface RoundAccumulator {
  round: number;
  final: boolean;
  start: number;
  pagesHarvested: number;
  send: SendStats;
}

/** The migration's own times (its clock, ms). */
interface Timeline {
  /** setup began (`start` is its clock then): elapsed() counts from there. */
  started: boolean;
  start: number;
  /** The setup's length, and when the live phase began (the ramp counts from there). */
  setupTime: number;
  liveStart: number;
  /** The last progress event, and the last pace call (the final send paces once per window's worth). */
  lastProgress: number;
  lastPace: number;
}

/** The cumulative MMU figures the rounds' counters are differences of. */
interface MmuSnapshot {
  fast: number;
  slow: number;
  spurious: number;
  pmlFull: number;
  ringFull: number;
  cost: HarvestCost;
  ringStallMs: number;
}

function mmuSnapshot(guest: MigratableGuest, cost: HarvestCost): MmuSnapshot {
  const { faults, exits } = guest.vm.stats();
  return { ...faults, ...exits, cost: { ...cost }, ringStallMs: guest.ringStallMs ?? 0 };
}

function mmuDelta(from: MmuSnapshot, to: MmuSnapshot): MmuCounters {
  return {
    faults: { fast: to.fast - from.fast, slow: to.slow - from.slow, spurious: to.spurious - from.spurious },
    exits: { pmlFull: to.pmlFull - from.pmlFull, ringFull: to.ringFull - from.ringFull },
    harvest: {
      syncs: to.cost.syncs - from.cost.syncs,
      bitmapWords: to.cost.bitmapWords - from.cost.bitmapWords,
      ringEntries: to.cost.ringEntries - from.cost.ringEntries,
      clearCalls: to.cost.clearCalls - from.cost.clearCalls,
    },
    ringStalls: to.cost.ringBlockedAtReap - from.cost.ringBlockedAtReap,
    ringStallMs: to.ringStallMs - from.ringStallMs,
  };
}

/** The per-thread shares of a send: the migration thread (what no channel carried), then each channel. */
function threadShares(sent: SendStats): BatchStats[] {
  if (!sent.channels) return [sent];
  const main = { ...emptyBatchStats() };
  addStats(main, sent);
  for (const c of sent.channels)
    for (const key of Object.keys(main) as (keyof BatchStats)[]) main[key] -= c[key];
  return [main, ...sent.channels];
}

/**
 * The guest spec as CONFIG carries it: a replay trace goes inline (a destination reads no file a
 * peer names).
 */
function resumableGuest(spec: Scenario['guest']): Record<string, unknown> {
  const workload = spec.workload;
  if (workload.kind === 'replay' && workload.file !== undefined) {
    const { file, ...rest } = workload;
    return { ...spec, workload: { ...rest, trace: readFileSync(file, 'utf8') } };
  }
  return { ...spec } as Record<string, unknown>;
}

class Aborted extends Error {
  constructor() {
    super('migration step abandoned (cancelled)');
  }
}

export class Migration {
  private readonly clock: Clock;
  private readonly virtual: boolean;
  private readonly params: Scenario['migration'];
  private readonly batch = new Uint32Array(MAX_BATCH_PAGES);
  private tracker!: DirtyTracker;
  private window!: RateWindow;
  private period!: DirtyPeriod;
  /** XBZRLE's per-period rates, when the capability is on. */
  private readonly xbzrleRates = new XbzrleRates();
  /** dirty-limit's controller, when the capability is on. */
  private dirtyLimit: DirtyLimit | undefined;
  private session: SourceSession | undefined;
  /** Tells the machine the link failed (set once the actor exists). */
  private notifyLinkLoss: (reason: string) => void = () => undefined;
  /** A step is running: a link failure reaches the machine through its rejection instead. */
  private stepRunning = false;
  /** The step in flight, so rollback waits for it before touching the guest. */
  private inFlight: Promise<unknown> = Promise.resolve();

  /** When it started, its setup and live phases, and the host-facing ticks (all in the migration's clock). */
  private readonly timeline: Timeline = {
    started: false,
    start: 0,
    setupTime: 0,
    liveStart: 0,
    lastProgress: -Infinity,
    lastPace: 0,
  };
  private roundNo = 0;
  private current!: RoundAccumulator;
  /** A round is open (started, not yet recorded): a cancel records it as partial. */
  private roundOpen = false;
  private readonly rounds: RoundStats[] = [];
  private readonly transfer: Transfer = {
    sent: emptySendStats(),
    precopyBytes: 0,
    downtimeBytes: 0,
    stateBytes: 0,
  };
  private readonly downtime: DowntimeClock = {
    since: 0,
    total: 0,
    parts: { finalHarvest: 0, finalSend: 0, vcpuState: 0, destinationResume: 0 },
    lastMark: 0,
  };
  private readonly verification: VerificationRecord = { sourceHashTime: 0, time: 0 };
  private readonly guestRate: GuestRateSample = { since: 0, pages: 0, ms: 0 };
  /** Dirty bytes the last bitmap sync found (QEMU's expected-downtime reads it). */
  private dirtyBytesLastSync = 0;
  private readonly states: MigrationStatus[] = [];
  /** The MMU's counters when dirty logging started and when the current round opened, and the total so far. */
  private mmu: { start: MmuSnapshot; round: MmuSnapshot; total?: MmuCounters } | undefined;
  /** max-bandwidth and downtime-limit in force (set-parameters moves them from the next window). */
  private readonly live: LiveParameters;
  private readonly parameterChanges: ParameterChange[] = [];
  /** Fast mode: the guest keeps page states, not bytes; the link only counts; nothing is verified. */
  private readonly metadataOnly: boolean;
  /** The in-run predictor (src/migration/predictor.ts), and why it failed if it did. */
  private readonly predictor: Predictor;
  private predictorError: string | undefined;
  /** The sender threads' figures (multifd channels, the CPU model). */
  private readonly sender: SenderStats;
  /** Virtual time: sending over it advances the clock by the transfer time. */
  private readonly link: ModelledLink;
  /** Postcopy's phase, once it ran; and the status events it reports (paused, recover). */
  private postcopy: PostcopyReport | undefined;
  private postcopyState: (status: MigrationStatus) => void = () => undefined;
  /** The guest's run time at the live phase's start, and the live phase as it stood at the pause. */
  private readonly guestRun: { start?: number[]; live?: { ms: number; lostMs: number[] } } = {};

  constructor(private readonly options: EngineOptions) {
    const engineFaults = options.faults?.engine;
    if (engineFaults) this.options = { ...options, guest: applyEngineFaults(options.guest, engineFaults) };
    this.clock = options.clock;
    this.metadataOnly = options.guest.memory.backing === 'metadata';
    this.virtual = isVirtual(options.clock);
    this.params = options.scenario.migration;
    this.live = {
      'max-bandwidth': this.params['max-bandwidth'],
      'downtime-limit': this.params['downtime-limit'],
    };
    this.predictor = new Predictor(options.scenario, {}, options.guest.memory.backing);
    const p = this.params;
    const channels = p.multifd ? p['multifd-channels'] : 0;
    const rate = encodeRateOf(p['encode-rate'], p.multifd);
    const source = p['encode-rate'] !== undefined ? 'scenario' : p.multifd ? 'default' : 'not modelled';
    this.sender = new SenderStats(channels, rate, source, this.virtual);
    this.link = new ModelledLink(options.clock, options.link, this.sender.encodeRate);
  }

  /** Run the migration to a final state and report it. Never throws for a migration failure. */
  async run(): Promise<MigrationResult> {
    const p = this.params;
    const actor = createActor(
      sourceMachine.provide({
        actors: {
          setupMigration: fromPromise<void>(({ signal }) => this.step(() => this.setup(signal))),
          runRound: fromPromise<RoundMeasure, RoundPlan>(({ signal, input }) =>
            this.step(() => this.runRound(signal, input)),
          ),
          switchover: fromPromise<void>(({ signal }) => this.step(() => this.switchover(signal))),
          sendDeviceState: fromPromise<void>(() => this.step(() => this.sendDeviceState())),
          prepareDestination: fromPromise<void>(() => this.step(() => this.prepareDestination())),
          commitSwitchover: fromPromise<void>(() => this.step(() => this.commitSwitchover())),
          verifyDestination: fromPromise<MachineVerdict>(() => this.step(() => this.verifyDestination())),
          rollback: fromPromise<void, { reason: string }>(({ input }) => this.rollback(input.reason)),
          settleOrphaned: fromPromise<RecoveredOutcome, { reason: string }>(() => this.settleOrphaned()),
          runPostcopy: fromPromise<PostcopyOutcome>(() => this.step(() => this.runPostcopy())),
        },
      }),
      {
        input: {
          maxRounds: p['max-rounds'],
          timeout: p.timeout,
          onTimeout: p['on-timeout'],
          pauseBeforeSwitchover: p['pause-before-switchover'],
          stopRule: p['stop-rule'],
          stallMargin: p['stall-margin'],
          stallDowntime: p['stall-downtime'] ?? null,
          postcopyRam: p['postcopy-ram'],
          postcopyAfterRounds: p['postcopy-after-rounds'] ?? null,
          postcopyOnStall: p['postcopy-on-stall'],
          postcopyOnPrediction: p['postcopy-on-prediction'],
        },
      },
    );
    let lastState = '';
    actor.subscribe((snapshot) => {
      const name = stateName(snapshot.value);
      if (name === lastState) return;
      lastState = name;
      const status = migrationStatus(snapshot.value, p['pause-before-switchover']);
      if (this.states[this.states.length - 1] !== status) this.states.push(status);
      const { stopReason } = snapshot.context;
      this.emit({
        type: 'state',
        time: this.elapsed(),
        status,
        machineState: name,
        ...(stopReason ? { stopReason } : {}),
      });
      if (name === 'preSwitchover') void this.continued().then(() => actor.send({ type: 'CONTINUE' }));
    });
    // Postcopy's own states (QEMU's postcopy-paused / -recover), inside the chart's postcopy.
    this.postcopyState = (status) => {
      if (this.states[this.states.length - 1] !== status) this.states.push(status);
      this.emit({ type: 'state', time: this.elapsed(), status, machineState: 'postcopy' });
    };
    this.notifyLinkLoss = (reason) => actor.send({ type: 'LINK_LOST', reason });
    this.options.control?.allowPostcopy(p['postcopy-ram'], () => actor.send({ type: 'START_POSTCOPY' }));
    const signals = [this.options.signal, this.options.control?.signal].filter((s) => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const onAbort = () => actor.send({ type: 'CANCEL', reason: String(signal?.reason ?? 'cancelled') });
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = new Promise<void>((resolve) =>
      actor.subscribe({ complete: resolve, error: () => resolve() }),
    );
    actor.start();
    if (signal?.aborted) onAbort();
    else actor.send({ type: 'START' });
    await done;
    signal?.removeEventListener('abort', onAbort);
    this.options.control?.finish();
    const snapshot = actor.getSnapshot();
    const { context } = snapshot;
    const result = assembleResult(this.record(), {
      status: migrationStatus(snapshot.value, p['pause-before-switchover']),
      reason: context.reason,
      stopReason: context.stopReason,
      guestRunsOn: guestSide(snapshot.value),
      refusedCancel: context.refusedCancel,
      verificationError: context.verificationError,
    });
    this.emit({ type: 'done', time: result['total-time'], result });
    return result;
  }

  /** migrate-continue: the caller's promise, else the control's continue, else at once. */
  private continued(): Promise<void> {
    if (this.options.continueSwitchover) return this.options.continueSwitchover();
    return this.options.control?.waitForContinue() ?? Promise.resolve();
  }

  // ////     the actors     ////

  private step<T>(work: () => Promise<T>): Promise<T> {
    this.stepRunning = true;
    const promise = work().finally(() => (this.stepRunning = false));
    this.inFlight = promise.catch(() => undefined);
    return promise;
  }

  private async setup(signal: AbortSignal): Promise<void> {
    const { guest } = this.options;
    this.timeline.start = this.clock.now();
    this.timeline.started = true;
    this.session = await this.options.connect();
    // Only an idle engine (the pre-switchover hold) needs telling; a running step rejects.
    this.session.onError((e) => {
      if (!this.stepRunning) this.notifyLinkLoss(e.message);
    });
    this.checkAbort(signal);
    await this.session.hello(
      {
        pages: guest.pages,
        pageSize: PAGE_SIZE,
        edgeRegion: guest.edgeRegion,
        image: guest.memory.destinationImage,
      },
      this.linkConfig(),
    );
    this.checkAbort(signal);
    const tracker = new DirtyTracker(guest.vm, guest.region, guest.pages, this.params['dirty-log']);
    const trackerFaults = this.options.faults?.tracker;
    this.tracker = trackerFaults ? applyTrackerFaults(tracker, this.link, trackerFaults) : tracker;
    const baseline = mmuSnapshot(guest, this.tracker.cost);
    this.mmu = { start: baseline, round: baseline };
    this.tracker.enable();
    guest.takeDistinctWrites();
    guest.takeRateSample();
    const now = this.clock.now();
    this.guestRate.since = now;
    this.window = new RateWindow(this.params['downtime-limit'], this.params['max-bandwidth'], now);
    this.period = new DirtyPeriod(
      {
        enabled: this.params['auto-converge'],
        initial: this.params['cpu-throttle-initial'],
        increment: this.params['cpu-throttle-increment'],
        max: this.params['max-cpu-throttle'],
        triggerThreshold: this.params['throttle-trigger-threshold'],
        dirtyLimit: this.params['dirty-limit'],
      },
      now,
    );
    if (this.params['dirty-limit']) {
      if (!guest.setVcpuPenalty) throw new Error('dirty-limit: this guest has no per-vCPU penalty');
      this.dirtyLimit = new DirtyLimit(
        {
          quota: this.params['vcpu-dirty-limit'],
          periodMs: this.params['x-vcpu-dirty-limit-period'],
          ringEntries: DIRTY_RING_ENTRIES,
        },
        guest.vm.vcpus.length,
      );
    }
    // The sync that enabling dirty logging did (ram_init_bitmaps) counts, as in QEMU.
    this.period.onSync(now, 0, 0);
    this.dirtyBytesLastSync = this.tracker.dirtyPages * PAGE_SIZE;
    this.timeline.setupTime = now - this.timeline.start;
    this.timeline.liveStart = now;
    this.guestRun.start = this.vcpuRuns();
  }

  /**
   * One round as the chart planned it: from the sync that opened it to the sync that closes it
   * (or, cut at the deadline, to no sync). Returns what it measured; the chart decides.
   */
  private async runRound(signal: AbortSignal, plan: RoundPlan): Promise<RoundMeasure> {
    await this.openRound(false);
    for (;;) {
      this.checkAbort(signal);
      const pending = this.tracker.dirtyPages * PAGE_SIZE;
      const atDeadline = this.elapsed() >= plan.deadline;
      // fits: the estimate below the threshold → sync (the chart decides on the synced figure).
      // sent: only a fully sent dirty set ends the round.
      const ends = pending === 0 || (plan.endWhen === 'fits' && pending < this.window.threshold);
      if (atDeadline && plan.atDeadline === 'cut') {
        await this.cutRound();
        return this.measure(true);
      }
      if (atDeadline || ends) {
        await this.closeRound();
        return this.measure(atDeadline);
      }
      await this.iterate(signal);
    }
  }

  /**
   * The downtime starts: the vCPUs stop and the final sync (ram_save_complete) harvests what the
   * guest wrote since the deciding one. Stop-and-copy and the postcopy switch both begin here.
   */
  private stopAndSync(): void {
    // A migration shorter than one sampling period still reports the guest's rate.
    if (this.guestRate.ms === 0) this.sampleGuestRate(true);
    this.notePause();
    this.options.guest.pauseAll();
    this.downtime.since = this.clock.now();
    this.downtime.lastMark = this.downtime.since;
    this.syncBitmap();
    this.mark('finalHarvest');
  }

  private async switchover(signal: AbortSignal): Promise<void> {
    this.stopAndSync();
    this.window.lift();
    await this.openRound(true);
    while (this.tracker.dirtyPages > 0) {
      this.checkAbort(signal);
      await this.sendBatch(MAX_BATCH_PAGES, true);
      if (this.clock.now() - this.timeline.lastPace >= BUFFER_DELAY_MS) await this.paceHost();
    }
    await this.endRound();
    this.mark('finalSend');
    this.recordRound(true);
  }

  private async sendDeviceState(): Promise<void> {
    const blob = this.options.guest.vcpuState();
    await this.session!.sendVcpuState(blob);
    this.link.carry(blob.length, 0);
    this.transfer.stateBytes = blob.length;
    this.transfer.downtimeBytes += blob.length;
    this.mark('vcpuState');
  }

  /** PREPARE → READY: the destination has everything and can resume (or says why not). */
  private async prepareDestination(): Promise<void> {
    await this.session!.prepare();
    this.link.carry(0, 2);
  }

  /** GO → RESUMED: the commit point; the downtime ends when the destination says it runs. */
  private async commitSwitchover(): Promise<void> {
    const { resumedAt } = await this.session!.go();
    this.link.carry(0, 2);
    this.mark('destinationResume');
    this.downtime.resumedAt = resumedAt;
    this.downtime.total = this.clock.now() - this.downtime.since;
    this.downtime.completedAt = this.elapsed();
    // The guest runs on the destination: dirty logging is over here.
    this.tracker.disable();
  }

  /** After the resume, off the downtime: hash the paused image, get the destination's verdict. */
  private async verifyDestination(): Promise<MachineVerdict> {
    // Hash after the chart has told everyone the guest resumed, not inside that transition.
    await Promise.resolve();
    const start = this.clock.now();
    const sourceHash = this.options.guest.memory.imageHash() ?? '';
    this.verification.sourceHash = sourceHash;
    this.verification.sourceHashTime = this.clock.now() - start;
    try {
      this.verification.verdict = await this.session!.verify(sourceHash);
      this.link.carry(0, 2);
    } finally {
      this.verification.time = this.clock.now() - start;
      await this.session!.close().catch(() => undefined);
    }
    return { passed: this.verification.verdict.passed, reason: this.verification.verdict.reason };
  }

  /**
   * After GO with no RESUMED: the destination may run the guest, so the source must not until
   * the destination has said it does not (the recovery query). Let the link go, stop tracking
   * and ask; the chart resumes the guest (rollback) only on `discarded`.
   */
  private async settleOrphaned(): Promise<RecoveredOutcome> {
    await this.inFlight;
    await this.session?.close().catch(() => undefined);
    this.liftAids();
    if (this.options.faults?.engine?.resumeOnOrphan) this.options.guest.resumeAll();
    const recovery = (await this.session?.recover?.()) ?? {
      outcome: 'unreachable' as const,
      error: 'this link cannot reach the destination again',
    };
    return { outcome: recovery.outcome, detail: recovery.error };
  }

  /**
   * migrate-start-postcopy (src/migration/postcopy.ts): pause the vCPUs, sync; the dirty set is
   * the discard set. The link goes to the postcopy protocol with it and the device state, and
   * the destination runs the guest from there: the downtime ends when it does. Virtual time only.
   */
  private async runPostcopy(): Promise<PostcopyOutcome> {
    const { guest } = this.options;
    const imageHash = guest.memory.imageHash();
    const handOff = this.session!.handOffPostcopy;
    if (!this.virtual || imageHash === undefined || !handOff)
      throw new Error(
        'postcopy runs in virtual time on a full-mode guest over a link that can hand over (not wall time, fast mode or multifd)',
      );
    this.stopAndSync();
    const discard = new Uint8Array(guest.pages);
    for (let n; (n = this.tracker.nextBatch(this.batch, MAX_BATCH_PAGES)) > 0;)
      for (let i = 0; i < n; i++) discard[this.batch[i]!] = 1;
    this.tracker.disable();
    const link = handOff.call(this.session);
    const encodings = this.session!.encodings;
    const phase = new PostcopySource({
      transport: link.transport,
      clock: this.clock as VirtualClock,
      source: { pages: guest.pages, peek: (g) => guest.memory.peek(g), imageHash: () => imageHash },
      discard,
      vcpuState: guest.vcpuState(),
      link: this.options.link,
      reopen: link.reopen,
      // A link that goes in postcopy: both sides pause; the engine recovers after a second.
      autoRecoverMs: POSTCOPY_RECOVER_MS,
      migrationId: link.migrationId,
      token: link.token,
      encodings: { zero: encodings.includes('zero'), lz4: encodings.includes('lz4') },
      onState: (status) => {
        if (status === 'postcopy-active' || status === 'postcopy-paused' || status === 'postcopy-recover')
          this.postcopyState(status);
      },
    });
    const { result, verdict } = await phase.run();
    this.postcopy = result;
    this.downtime.total = result.downtime;
    this.downtime.resumedAt = this.downtime.since + result.downtime;
    this.downtime.parts.destinationResume = result.downtime;
    this.transfer.downtimeBytes += guest.vcpuState().length + Math.ceil(guest.pages / 8);
    this.downtime.completedAt = this.elapsed();
    this.verification.sourceHash = imageHash;
    if (verdict) this.verification.verdict = verdict;
    return {
      passed: verdict?.passed === true,
      ...(result['error-desc'] ? { reason: result['error-desc'] } : {}),
      failed: verdict === undefined,
    };
  }

  /** Each vCPU's run time now, or undefined when the guest does not say. */
  private vcpuRuns(): number[] | undefined {
    const { guest } = this.options;
    if (!guest.vcpuRunMs) return undefined;
    return guest.vm.vcpus.map((_, v) => guest.vcpuRunMs!(v));
  }

  /** The live phase when the source's vCPUs stopped: its length, and the run time each vCPU lost in it. */
  private notePause(): void {
    const start = this.guestRun.start;
    const now = this.vcpuRuns();
    if (!start || !now) return;
    const ms = this.clock.now() - this.timeline.liveStart;
    this.guestRun.live = { ms, lostMs: now.map((run, v) => Math.max(0, ms - (run - start[v]!))) };
  }

  /** Stop throttling, dirty-limit penalties and dirty logging (the migration is over here). */
  private liftAids(): void {
    this.options.guest.setThrottle(0);
    this.liftDirtyLimit();
    this.tracker?.disable();
  }

  /** End a downtime part now: it ran from the previous part's end. */
  private mark(part: keyof DowntimeClock['parts']): void {
    const now = this.clock.now();
    this.downtime.parts[part] = now - this.downtime.lastMark;
    this.downtime.lastMark = now;
  }

  /** CONFIG: the run's clock and latency, and the guest the destination resumes (post-run). */
  private linkConfig(): LinkConfig {
    const { scenario } = this.options;
    const config: LinkConfig = {
      clock: this.virtual ? 'virtual' : 'wall',
      latencyMs: scenario.run.latency,
      postRunMs: scenario.run['post-run'],
      guest: resumableGuest(scenario.guest),
    };
    if (this.metadataOnly) {
      this.verification.postRunSkipped =
        'fast (metadata-only) mode has no destination: nothing resumes there';
      return { ...config, guest: null };
    }
    if (this.options.guest.memory.destinationImage === 'digests') {
      this.verification.postRunSkipped =
        'generated pages: the destination keeps their digests, no memory a guest could run on';
      return { ...config, guest: null };
    }
    if (JSON.stringify(config).length > MAX_CONFIG) {
      this.verification.postRunSkipped = `the guest description is longer than CONFIG's ${MAX_CONFIG} bytes`;
      return { ...config, guest: null };
    }
    return config;
  }

  /** Cancel or failure: abandon the destination, give the guest back its vCPUs, untracked. */
  private async rollback(reason: string): Promise<void> {
    await this.inFlight;
    const { guest } = this.options;
    // A round a cancel cut short is kept, marked partial (no rates from a cut-off interval).
    if (this.roundOpen && this.tracker) this.recordRound(this.current.final, true);
    // Rollback is reachable before GO (the chart's commit point), or after it once the recovery
    // query answered discarded: either way the destination does not run the guest.
    await this.session?.cancel(reason).catch(() => undefined);
    await this.session?.close().catch(() => undefined);
    this.liftAids();
    if (guest.paused) guest.resumeAll();
  }

  // ////     rounds, windows and batches     ////

  /** One pass of migration_iteration_run: send up to the window budget, then rate-limit. */
  private async iterate(signal: AbortSignal): Promise<void> {
    const iterationStart = this.clock.now();
    while (
      !this.window.exceeded &&
      this.tracker.dirtyPages > 0 &&
      this.clock.now() - iterationStart < MAX_WAIT_MS
    ) {
      this.checkAbort(signal);
      const budgetPages = Math.ceil(this.window.budgetLeft / PAGE_SIZE);
      await this.sendBatch(Math.max(1, Math.min(MAX_BATCH_PAGES, budgetPages)), false);
    }
    if (this.window.exceeded) await this.sleepUntil(this.window.windowEnd);
    else if (!this.virtual) await sleep(this.clock, 0); // let the guest's timers run
    this.tracker.reapRings();
    this.pollDirtyLimit();
    this.sampleGuestRate();
    this.applyRamp();
    if (this.window.update(this.clock.now(), this.dirtyBytesLastSync, this.period.dirtyPagesRate)) {
      this.applyParameters();
      this.progress();
    }
    await this.paceHost();
  }

  /** set-parameters asked for during the window that just closed: in force from this one. */
  private applyParameters(): void {
    const asked = this.options.control?.takeParameters() ?? {};
    const change: ParameterChange = { time: this.elapsed() };
    for (const key of ['max-bandwidth', 'downtime-limit'] as const) {
      const value = asked[key];
      if (value === undefined || value === this.live[key]) continue;
      this.live[key] = value;
      change[key] = value;
    }
    if (change['max-bandwidth'] === undefined && change['downtime-limit'] === undefined) return;
    if (change['max-bandwidth'] !== undefined) this.window.setMaxBandwidth(change['max-bandwidth']);
    // Under a ramp the new limit is the ramp's target; applyRamp moves the threshold to its step.
    if (change['downtime-limit'] !== undefined) {
      if (this.params['downtime-limit-ramp'] === 'none')
        this.window.setDowntimeLimit(change['downtime-limit']);
      else this.applyRamp();
    }
    this.parameterChanges.push(change);
    this.emit({ type: 'parameters', ...change, parameters: { ...this.live } });
  }

  /** Virtual time: let the host's event loop run (and pace the run) once per window. */
  private async paceHost(): Promise<void> {
    if (!this.virtual || !this.options.pace) return;
    this.timeline.lastPace = this.clock.now();
    await this.options.pace(this.timeline.lastPace);
  }

  private async sendBatch(max: number, final: boolean): Promise<void> {
    const n = this.tracker.nextBatch(this.batch, max);
    if (n === 0) return;
    const sent = await this.session!.sendPages(this.batch, n, this.options.guest.memory);
    const threads = threadShares(sent);
    this.sender.record(threads);
    this.link.carryPages(sent.bytesWire, threads);
    addStats(this.current.send, sent);
    addStats(this.transfer.sent, sent);
    if (final) this.transfer.downtimeBytes += sent.bytesWire;
    else this.transfer.precopyBytes += sent.bytesWire;
    this.window.record(sent.bytesWire, sent.pages);
  }

  /** The guest's own distinct-page rate, as calc-dirty-rate would see it: 1 s periods. */
  private sampleGuestRate(partial = false): void {
    const now = this.clock.now();
    if (now - this.guestRate.since < (partial ? Number.MIN_VALUE : 1000)) return;
    this.options.guest.catchUp();
    this.guestRate.pages += this.options.guest.takeRateSample();
    this.guestRate.ms += now - this.guestRate.since;
    this.guestRate.since = now;
  }

  private async openRound(final: boolean): Promise<void> {
    this.roundOpen = true;
    this.current = {
      round: this.roundNo,
      final,
      start: this.clock.now(),
      pagesHarvested: this.tracker.dirtyPages,
      send: emptySendStats(),
    };
    await this.session!.startRound(this.roundNo, { final });
  }

  private async endRound(): Promise<void> {
    await this.session!.endRound(this.roundNo);
    this.link.carry(0, 2);
    this.roundNo++;
  }

  /**
   * A round the timeout cuts short before a cancel: recorded as partial (its rates mean nothing)
   * and closed without a sync, as QEMU's migrate_cancel stops without another bitmap sync.
   */
  private async cutRound(): Promise<void> {
    await this.endRound();
    this.recordRound(false, true);
  }

  /** Close the live round with a sync (migration_bitmap_sync), record it, let a ramp move the limit. */
  private async closeRound(): Promise<void> {
    await this.endRound();
    this.syncBitmap();
    this.recordRound(false);
    this.applyRamp();
  }

  /** What the round that just ended measured, for the chart's stop rules. */
  private measure(atDeadline: boolean): RoundMeasure {
    const live = this.rounds.filter((r) => !r.final);
    const last = live[live.length - 1];
    return {
      atDeadline,
      rounds: live.length,
      remainingPages: this.tracker.dirtyPages,
      remainingBytes: this.tracker.dirtyPages * PAGE_SIZE,
      pagesSent: last?.pagesSent ?? 0,
      previousPagesSent: live[live.length - 2]?.pagesSent ?? 0,
      totalPagesSent: this.transfer.sent.pages,
      guestPages: this.options.guest.pages,
      bandwidth: this.window.bandwidth,
      threshold: this.window.threshold,
      downtimeLimit: this.window.limit,
      elapsed: this.elapsed(),
      predictedConverges: last?.predictedOutcome ? last.predictedOutcome === 'converged' : null,
    };
  }

  /** A ramped downtime limit: move the threshold to the step reached by now. */
  private applyRamp(): void {
    const p = this.params;
    if (p['downtime-limit-ramp'] === 'none') return;
    const limit = rampedLimit(
      {
        ramp: p['downtime-limit-ramp'],
        limit: this.live['downtime-limit'],
        steps: p['downtime-ramp-steps'],
        interval: p['downtime-ramp-interval'],
      },
      this.clock.now() - this.timeline.liveStart,
      this.rounds.length,
    );
    if (limit !== this.window.limit) this.window.setDowntimeLimit(limit);
  }

  /** migration_bitmap_sync: harvest, account the period, let auto-converge act. */
  private syncBitmap(): void {
    this.options.guest.catchUp();
    const synced = this.tracker.sync();
    this.options.guest.writesSinceSync?.reset();
    this.dirtyBytesLastSync = this.tracker.dirtyPages * PAGE_SIZE;
    const outcome = this.period.onSync(this.clock.now(), synced.newlyDirty, this.transfer.sent.bytesWire);
    if (outcome.periodClosed) this.xbzrleRates.closePeriod(this.transfer.sent);
    if (outcome.throttled) this.options.guest.setThrottle(outcome.throttle);
    if (outcome.limitTriggered) this.dirtyLimit?.start(this.clock.now(), this.tracker.reapedByVcpu);
  }

  /** dirty-limit's thread: once per period, new per-vCPU penalties from the rings' rates. */
  private pollDirtyLimit(): void {
    const limit = this.dirtyLimit;
    if (!limit?.poll(this.clock.now(), this.tracker.reapedByVcpu)) return;
    limit.penaltyUs.forEach((us, v) => this.options.guest.setVcpuPenalty?.(v, us));
  }

  /** Lift every dirty-limit penalty (QEMU cancels the limit when the migration ends). */
  private liftDirtyLimit(): void {
    if (!this.dirtyLimit) return;
    for (let v = 0; v < this.dirtyLimit.penaltyUs.length; v++) this.options.guest.setVcpuPenalty?.(v, 0);
  }

  /**
   * Record the round that just ended. A partial round (cut short by a cancel) keeps its counts
   * but no rates: its dirty rate, send rate and λ are 0 and it feeds no working set or prediction.
   */
  private recordRound(final: boolean, partial = false): void {
    this.roundOpen = false;
    const now = this.clock.now();
    const acc = this.current;
    const duration = now - acc.start;
    const seconds = partial ? 0 : duration / 1000;
    const distinct = final ? 0 : this.options.guest.takeDistinctWrites();
    const dirtyRate = seconds > 0 ? (distinct * PAGE_SIZE) / seconds : 0;
    const sendRate = seconds > 0 ? acc.send.bytesWire / seconds : 0;
    const remaining = this.tracker.dirtyPages * PAGE_SIZE;
    const stats: RoundStats = {
      round: acc.round,
      start: acc.start - this.timeline.start,
      duration,
      pagesHarvested: acc.pagesHarvested,
      pagesSent: acc.send.pages,
      pagesZero: acc.send.zeroPages,
      bytesRaw: acc.send.bytesRaw,
      bytesWire: acc.send.bytesWire,
      compressionRatio: acc.send.bytesWire > 0 ? acc.send.bytesRaw / acc.send.bytesWire : 1,
      dirtyRate,
      sendRate,
      lambda: sendRate > 0 ? dirtyRate / sendRate : 0,
      workingSetPages: distinct,
      remaining,
      threshold: this.window.threshold,
      expectedDowntime: this.window.expectedDowntime,
      throttle: this.options.guest.throttle,
      ...(this.dirtyLimit
        ? {
            dirtyLimitPenalty: this.dirtyLimit.meanPenaltyUs,
            dirtyLimitRates: Array.from(this.dirtyLimit.rates),
          }
        : {}),
      predictedRoundsLeft: final ? 0 : null,
      predictedEta: final ? 0 : null,
      dirtyByRegion: this.tracker.takeRegionCounts(),
      final,
      mmu: this.takeRoundMmu(),
      downtimeLimit: this.window.limit,
      maxBandwidth: this.live['max-bandwidth'],
      ...(partial ? { partial: true as const } : {}),
    };
    if (!final && !partial) Object.assign(stats, this.predict(stats));
    this.rounds.push(stats);
    const regionBytes = this.tracker.regionPages * PAGE_SIZE;
    this.emit({ type: 'round', time: this.elapsed(), round: stats, regionBytes });
  }

  /** The in-run predictor's answer after a live round; a model that fails leaves it empty. */
  private predict(stats: RoundStats): Partial<RoundStats> {
    try {
      const p = this.predictor.afterRound({
        rounds: [...this.rounds.filter((r) => !r.final), stats],
        time: this.elapsed(),
        remainingPages: this.tracker.dirtyPages,
        throttle: this.options.guest.throttle,
        bandwidth: this.window.bandwidth,
        threshold: this.window.threshold,
        totalPages: this.transfer.sent.pages,
        totalBytes: this.transfer.sent.bytesWire,
        ...(this.dirtyLimit ? { penaltyUs: this.dirtyLimit.meanPenaltyUs } : {}),
      });
      return {
        predictedRoundsLeft: p.roundsLeft,
        predictedEta: p.eta,
        predictedEtaBand: p.etaBand,
        predictedDowntime: p.downtime,
        predictedOutcome: p.outcome,
      };
    } catch (e) {
      this.predictorError ??= (e as Error).message;
      return {};
    }
  }

  /** The MMU's costs since the previous round closed. */
  private takeRoundMmu(): MmuCounters {
    const now = mmuSnapshot(this.options.guest, this.tracker.cost);
    const mmu = this.mmu!;
    const delta = mmuDelta(mmu.round, now);
    if (!this.options.faults?.engine?.mmuBaselineStuck) mmu.round = now;
    mmu.total = mmuDelta(mmu.start, now);
    return delta;
  }

  // ////     time     ////

  private elapsed(): number {
    return this.timeline.started ? this.clock.now() - this.timeline.start : 0;
  }

  private async sleepUntil(time: number): Promise<void> {
    const now = this.clock.now();
    if (time <= now) return;
    if (this.virtual) (this.clock as VirtualClock).advanceTo(time);
    else await sleep(this.clock, time - now);
  }

  private checkAbort(signal: AbortSignal): void {
    if (signal.aborted) throw new Aborted();
  }

  // ////     events and the result     ////

  private emit(event: MigrationEvent): void {
    this.options.onEvent?.(event);
  }

  private progress(): void {
    const now = this.elapsed();
    if (now - this.timeline.lastProgress < PROGRESS_EVERY_MS) return;
    this.timeline.lastProgress = now;
    const last = this.rounds[this.rounds.length - 1];
    const remaining = this.tracker.dirtyPages * PAGE_SIZE;
    const dirtied = (this.options.guest.writesSinceSync?.peek() ?? 0) * PAGE_SIZE;
    const threshold = this.window.threshold;
    this.emit({
      type: 'progress',
      time: now,
      round: this.roundNo,
      bytesSent: this.transfer.sent.bytesWire,
      remaining,
      dirtiedSinceSync: dirtied,
      threshold,
      // What a sync now would find is at most remaining + dirtied: never an optimistic figure.
      convergence: remaining + dirtied > 0 ? Math.min(1, threshold / (remaining + dirtied)) : 1,
      roundsLeft: last?.predictedRoundsLeft ?? null,
      dirtyRate: last?.dirtyRate ?? 0,
      sendRate: this.window.bandwidth * 1000,
      throttle: this.options.guest.throttle,
      eta: last?.predictedEta ?? null,
    });
  }

  /** Everything the result reports, as it stands now (src/migration/result.ts assembles it). */
  private record(): RunRecord {
    const p = this.params;
    const started = this.tracker !== undefined;
    return {
      scenario: this.options.scenario,
      ...(this.options.memoryPlan ? { memoryPlan: this.options.memoryPlan } : {}),
      clock: this.virtual ? 'virtual' : 'wall',
      metadataOnly: this.metadataOnly,
      elapsed: this.elapsed(),
      setupTime: this.timeline.setupTime,
      guestPages: this.options.guest.pages,
      throttle: this.options.guest.throttle,
      downtimeLimit: this.live['downtime-limit'],
      transfer: this.transfer,
      downtime: this.downtime,
      verification: this.verification,
      guestRate: this.guestRate,
      rounds: this.rounds,
      states: this.states,
      parameterChanges: this.parameterChanges,
      ...(this.predictorError ? { predictorError: this.predictorError } : {}),
      ...(this.mmu?.total ? { mmu: this.mmu.total } : {}),
      ...(p.multifd || this.sender.encodeRate > 0
        ? { sender: this.sender.report(p['zero-page-detection']) }
        : {}),
      ...(p.multifd ? { multifdBytes: this.sender.multifdBytes } : {}),
      ...(this.postcopy ? { postcopy: this.postcopy } : {}),
      ...(this.guestRun.live ? { guestLive: this.guestRun.live } : {}),
      ...(started
        ? { tracker: { dirtyPages: this.tracker.dirtyPages, regionPages: this.tracker.regionPages } }
        : {}),
      ...(this.window ? { expectedDowntime: this.window.expectedDowntime } : {}),
      ...(this.period
        ? { period: { syncCount: this.period.syncCount, dirtyPagesRate: this.period.dirtyPagesRate } }
        : {}),
      ...(this.dirtyLimit
        ? {
            dirtyLimit: {
              throttleTimePerRound: this.dirtyLimit.throttleTimePerRound,
              ringFullTime: this.dirtyLimit.ringFullTime,
            },
          }
        : {}),
      ...(p.xbzrle
        ? {
            xbzrle: {
              cacheSize: p['xbzrle-cache-size'],
              cacheMissRate: this.xbzrleRates.cacheMissRate,
              encodingRate: this.xbzrleRates.encodingRate,
            },
          }
        : {}),
    };
  }
}
