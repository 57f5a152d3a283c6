/**
 * The resumed guest at the destination: built at PREPARE from the received image and vCPU state
 * (Guest.create over the image, through the destination's own MMU), started at GO, run for the
 * scenario's post-run, then checked by the workload's own rule on what it reads. A page the
 * migration lost is then the guest seeing wrong memory, as it would be on a real host: the
 * incrementer's counters break QEMU's edge rule. Workloads without a self-check say so
 * (`check: 'none'`); the image hash at resume is their proof.
 *
 * Clocks: in virtual time the guest runs on a simulated clock of its own that starts at the
 * resume time of the run's clock, so its writes are those of exactly post-run ms; in wall time
 * it runs on the real clock.
 */
import { checkEdgeRule, Guest, parseGuestSpec, type GuestSpec, type SparseMemory } from '../guest/index';
import { isVirtual, sleep, virtualClock, type Clock, type VirtualClock } from '../util/clock';
import { WireError } from '../wire/errors';
import type { PostRun } from '../wire/verdict';
import { edgeReason } from './verify';

/** The guest description from CONFIG, checked by the guest layer's schema; never a file path. */
export function resumableSpec(input: Record<string, unknown>, pages: number): GuestSpec {
  const workload = input.workload as { kind?: unknown; file?: unknown } | undefined;
  if (workload?.kind === 'replay' && workload.file !== undefined)
    throw new WireError(
      'PRECOPY_ERR_BAD_FIELD',
      'CONFIG.guest.workload.file: a destination reads no files a peer names; send the trace inline',
    );
  let spec: GuestSpec;
  try {
    spec = parseGuestSpec(input);
  } catch (e) {
    throw new WireError('PRECOPY_ERR_BAD_FIELD', `CONFIG.guest: ${(e as Error).message}`.slice(0, 1024));
  }
  if (spec.memory / 4096 !== pages)
    throw new WireError(
      'PRECOPY_ERR_BAD_FIELD',
      `CONFIG.guest.memory is ${spec.memory / 4096} pages, HELLO said ${pages}`,
    );
  return spec;
}

/** A guest ready to resume: the image as its memory, the vCPU state loaded, not yet running. */
export interface LoadedGuest {
  guest: Guest;
  clock: Clock;
}

/** PREPARE: build the guest on the image and load its vCPU state (throws if the state does not fit). */
export function loadGuest(
  spec: GuestSpec,
  memory: SparseMemory,
  vcpuState: Uint8Array,
  wall: Clock,
  virtual: boolean,
): LoadedGuest {
  const clock = virtual ? virtualClock() : wall;
  const guest = Guest.create(spec, clock, { memory });
  guest.loadVcpuState(vcpuState);
  return { guest, clock };
}

export interface ResumedRun {
  loaded: LoadedGuest;
  /** When the guest resumed, in the run's clock (the GO's arrival). */
  resumedAt: number;
  postRunMs: number;
  /** Inspect the image at resume; runs before the guest's first write. */
  inspect(): void;
  signal: AbortSignal;
}

/** GO: the guest runs from resumedAt; the image is inspected before its first write lands. */
export async function runResumedGuest(run: ResumedRun): Promise<PostRun> {
  const { guest, clock } = run.loaded;
  if (isVirtual(clock)) {
    (clock as VirtualClock).advanceTo(Math.max(clock.now(), run.resumedAt));
    run.inspect();
    guest.start();
    (clock as VirtualClock).advanceBy(run.postRunMs);
  } else {
    // Let RESUMED leave before the inspection holds the thread; the guest's run time counts from
    // resumedAt all the same, and its first tick makes the writes it owes since then.
    await sleep(clock, 0);
    run.inspect();
    guest.start(run.resumedAt);
    await sleep(clock, Math.max(0, run.resumedAt + run.postRunMs - clock.now()));
  }
  guest.stop();
  const ms = guest.stats().runMs;
  if (run.signal.aborted) throw new Error('the migration ended before the post-run did');
  return { ms, writes: guest.writes, ...selfCheck(guest) };
}

/** The workload's own check on what the resumed guest left in memory. */
function selfCheck(guest: Guest): Pick<PostRun, 'check' | 'passed' | 'edgeCheck' | 'reason'> {
  const region = guest.edgeRegion;
  if (!region) return { check: 'none', passed: true };
  const result = checkEdgeRule(guest.memory, region.firstPage, region.pages);
  const edgeCheck = {
    passed: result.passed,
    badPages: result.bad,
    ...(result.edgePage !== undefined ? { edgePage: result.edgePage } : {}),
    ...(result.firstBadPage !== undefined
      ? {
          firstBadPage: result.firstBadPage,
          value: guest.memory.byte0(result.firstBadPage),
          previousValue: guest.memory.byte0(result.firstBadPage - 1),
          values: result.values?.slice(0, 10),
        }
      : {}),
  };
  return {
    check: 'edge-rule',
    passed: result.passed,
    edgeCheck,
    ...(result.passed ? {} : { reason: `after the post-run: ${edgeReason(edgeCheck)}` }),
  };
}
