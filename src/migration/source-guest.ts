/**
 * The source guest as the round engine sees it (engine.ts `MigratableGuest`): the guest layer's
 * Guest on its own simulated VM, with dirty tracking and the dirty ring chosen by the scenario,
 * running from the scenario's clock.
 */
import { Guest } from '../guest';
import type { Backing } from '../guest/memory';
import type { FaultPlan } from '../config/faults';
import type { Clock } from '../util/clock';
import { DIRTY_RING_ENTRIES } from './dirty-tracker';
import type { MigratableGuest } from './engine';
import type { Scenario } from './scenario';

export interface SourceGuest extends MigratableGuest {
  readonly guest: Guest;
  stop(): void;
}

/** The fault plan's parts a source applies: its own (MMU, guest, page states), the tracker's and the engine's. */
export type SourceFaults = Omit<FaultPlan, 'dest'>;

export interface SourceGuestOptions {
  /** What holds the pages (guest/memory.ts); default stored. */
  backing?: Backing;
  /** The guest takes the MMU, guest and page-state parts. */
  faults?: SourceFaults;
}

export function createSourceGuest(
  scenario: Scenario,
  clock: Clock,
  options: SourceGuestOptions = {},
): SourceGuest {
  const faults = options.faults;
  const guest = Guest.create(scenario.guest, clock, {
    vm: { tracking: scenario.migration.tracking },
    dirtyRing: scenario.migration['dirty-log'] === 'ring' ? DIRTY_RING_ENTRIES : undefined,
    backing: options.backing,
    faults,
  });
  // The writable working set of each round: distinct pages written between two samples.
  const window = guest.meter.open();
  const rateWindow = guest.meter.open();
  const syncWindow = guest.meter.open();
  guest.start();
  return {
    guest,
    vm: guest.vm,
    memory: guest.memory,
    pages: guest.pages,
    region: guest.memoryRegion(),
    edgeRegion: guest.edgeRegion,
    get paused() {
      return guest.paused;
    },
    get throttle() {
      return guest.throttle;
    },
    get ringStallMs() {
      return guest.ringStallMs;
    },
    pauseAll: () => guest.pauseAll(),
    resumeAll: () => guest.resumeAll(),
    setThrottle: (percent) => guest.setThrottle(percent),
    setVcpuPenalty: (vcpu, us) => guest.setVcpuPenalty(vcpu, us),
    vcpuState: () => guest.vcpuState(),
    vcpuRunMs: (vcpu) => guest.vcpuRunMs(vcpu),
    catchUp: () => guest.catchUp(),
    takeDistinctWrites: () => window.reset().distinct,
    takeRateSample: () => rateWindow.reset().distinct,
    writesSinceSync: { peek: () => syncWindow.distinct, reset: () => void syncWindow.reset() },
    stop: () => {
      guest.stop();
      window.close();
      rateWindow.close();
      syncWindow.close();
    },
  };
}
