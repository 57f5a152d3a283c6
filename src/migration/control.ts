/**
 * Steering a running migration, as QEMU's monitor does: `migrate_cancel`, `migrate-continue`
 * (after `pause-before-switchover`), `migrate-start-postcopy` (with postcopy-ram) and live
 * `migrate-set-parameters` for `max-bandwidth` and `downtime-limit`. One MigrationControl per migration; the CLI's signals and keys, the
 * dashboard's buttons and library callers all drive the same object, and the engine reads it.
 *
 *   const control = new MigrationControl();
 *   const run = runScenario(scenario, { control });
 *   control.setParameters({ 'max-bandwidth': '1GiB/s' });   // from the next rate window
 *   control.cancel('operator');                             // status cancelled
 */
import { z } from 'zod';
import { durationField, rateField } from '../config/fields';

/** The parameters that may change while a migration runs (QEMU's names and units). */
export interface LiveParameters {
  /** Bytes per second for live rounds. */
  'max-bandwidth': number;
  /** Milliseconds. */
  'downtime-limit': number;
}

/** A set-parameters request as people write it: `'1GiB/s'`, `'300ms'`, or numbers (bytes/s, ms). */
export type ParameterRequest = Partial<Record<keyof LiveParameters, string | number>>;

const MAX_DOWNTIME_LIMIT_MS = 2000000; // QEMU's MAX_MIGRATE_DOWNTIME (2000 s)

/** The request schema: strict, so `max-bandwith` is an error naming it. */
export const parameterRequestSchema = z
  .object({
    'max-bandwidth': rateField({
      min: 0,
      above: true,
      max: Number.MAX_SAFE_INTEGER,
      text: '(0, ∞) bytes/s',
    }).optional(),
    'downtime-limit': durationField({
      min: 0,
      above: true,
      max: MAX_DOWNTIME_LIMIT_MS,
      text: '(0, 2000s]',
    }).optional(),
  })
  .strict();

export class ControlError extends Error {}

/** Validate a set-parameters request; throws ControlError naming the field. */
export function parseParameters(request: unknown): Partial<LiveParameters> {
  const parsed = parameterRequestSchema.safeParse(request);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys')
    throw new ControlError(
      `unknown parameter ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (settable: max-bandwidth, downtime-limit)`,
    );
  throw new ControlError(`${issue.path.join('.') || 'parameters'}: ${issue.message}`);
}

/** One applied change, as the result and the events report it. */
export interface ParameterChange extends Partial<LiveParameters> {
  /** ms from the migration's start, when the rate window that uses it began. */
  time: number;
}

export type ControlState = 'running' | 'waiting-for-continue' | 'finished';

export class MigrationControl {
  private readonly abort = new AbortController();
  private pending: Partial<LiveParameters> = {};
  private continueRequested = false;
  private wakeContinue: (() => void) | undefined;
  private waiting = false;
  private finished = false;
  private postcopy: (() => void) | undefined;
  private readonly listeners = new Set<(state: ControlState) => void>();

  /** Aborts on cancel: hand it to runScenario as `signal` (the control does that itself). */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get state(): ControlState {
    if (this.finished) return 'finished';
    return this.waiting ? 'waiting-for-continue' : 'running';
  }

  /** Whether a cancel was asked for. */
  get cancelled(): boolean {
    return this.abort.signal.aborted;
  }

  /** QEMU's migrate_cancel: the run ends `cancelled` with the guest running at the source (before the commit point). */
  cancel(reason = 'cancelled by user'): void {
    if (!this.abort.signal.aborted) this.abort.abort(reason);
  }

  /** QEMU's migrate-continue: release a run held in pre-switchover (ahead of time is fine too). */
  continue(): void {
    this.continueRequested = true;
    const wake = this.wakeContinue;
    this.wakeContinue = undefined;
    wake?.();
  }

  /**
   * QEMU's migrate-set-parameters for max-bandwidth and downtime-limit. Validated now (throws
   * ControlError naming the field, nothing applied); the engine applies it from the next window.
   */
  setParameters(request: ParameterRequest): Partial<LiveParameters> {
    const parsed = parseParameters(request);
    this.pending = { ...this.pending, ...parsed };
    return parsed;
  }

  /**
   * QEMU's migrate-start-postcopy: switch to postcopy at the next round's decision (a dirty set
   * that fits the threshold still completes the pre-copy way). Throws ControlError when the
   * migration has no postcopy-ram capability or is not running.
   */
  startPostcopy(): void {
    if (this.finished) throw new ControlError('migrate-start-postcopy: the migration has ended');
    if (!this.postcopy) throw new ControlError('migrate-start-postcopy: the postcopy-ram capability is off');
    this.postcopy();
  }

  /** Called when the control's state changes (the dashboard shows its buttons by it). */
  onStateChange(listener: (state: ControlState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ////     the engine's side     ////

  /** @internal The parameters asked for since the last call (empty when none). */
  takeParameters(): Partial<LiveParameters> {
    const taken = this.pending;
    this.pending = {};
    return taken;
  }

  /** @internal Resolves on continue (at once if it was already asked for). */
  waitForContinue(): Promise<void> {
    if (this.continueRequested) return Promise.resolve();
    this.setWaiting(true);
    return new Promise<void>((resolve) => {
      this.wakeContinue = () => {
        this.setWaiting(false);
        resolve();
      };
    });
  }

  /** @internal The engine says whether postcopy is on, and how to ask its chart for it. */
  allowPostcopy(on: boolean, start: () => void): void {
    this.postcopy = on ? start : undefined;
  }

  /** @internal The migration reached a final state. */
  finish(): void {
    this.waiting = false;
    this.finished = true;
    this.notify();
  }

  private setWaiting(waiting: boolean): void {
    this.waiting = waiting;
    this.notify();
  }

  private notify(): void {
    for (const listener of this.listeners) listener(this.state);
  }
}
