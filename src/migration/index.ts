/**
 * The migration layer's entry points. `runScenario` is what the CLI, sweeps and the dashboard
 * call: validate a scenario, build the source guest on its MMU, open the link to a destination,
 * run the source machine to a final state, and return QEMU's query-migrate shape with precopy's
 * additions. The pieces are exported too, so tests can keep one source guest across a cancel
 * and retry to a fresh destination.
 */
import { randomBytes } from 'node:crypto';
import { Destination } from '../dest/destination';
import { startDestinationServer } from '../dest/server';
import { connectSource, type EncodingName, type SourceSession } from '../link/index';
import { virtualClock, wallClock, type Clock } from '../util/clock';
import { PAGE_SIZE } from '../util/units';
import { Migration } from './engine';
import type { MigrationEvent, MigrationResult } from './result';
import { planMemory, type MemoryPlan } from './memory-plan';
import { checkMetadataScenario, metadataSession, multifdLink } from './metadata';
import { DEFAULT_VIRTUAL_BANDWIDTH, parseScenario, type Scenario } from './scenario';
import {
  createSourceGuest,
  type SourceFaults,
  type SourceGuest,
  type SourceGuestOptions,
} from './source-guest';
import type { MigrationControl } from './control';

export { ScenarioError, parseScenario, type Scenario } from './scenario';
export { analyticModel, predictScenario, predictionResult } from '../model/index';
export type { MigrationEvent, MigrationResult, RoundStats } from './result';
export type { MigratableGuest } from './engine';
export {
  ControlError,
  MigrationControl,
  parseParameters,
  type ControlState,
  type LiveParameters,
  type ParameterChange,
  type ParameterRequest,
} from './control';

export interface RunScenarioOptions {
  onEvent?: (event: MigrationEvent) => void;
  /** Abort = QEMU's migrate_cancel. */
  signal?: AbortSignal;
  /**
   * The fault plan (src/config/faults.ts), for negative tests: the source's parts (MMU, guest,
   * page states), the tracker's and the engine's. A destination takes its part in its own options.
   */
  faults?: SourceFaults;
  /** pause-before-switchover: resolves on migrate-continue (default: at once, or the control's continue). */
  continueSwitchover?: () => Promise<void>;
  /** Cancel, migrate-continue and live set-parameters (src/migration/control.ts). */
  control?: MigrationControl;
  /** Virtual time: the host's turn once per rate window, to pace the run (EngineOptions.pace). */
  pace?: (now: number) => Promise<void> | void;
  /**
   * full (default): pages with contents, sent, verified. fast: metadata only (sweeps): page
   * states instead of bytes, sizes counted, nothing verified (src/migration/metadata.ts).
   */
  mode?: 'full' | 'fast';
  /** Set by runScenario: the plan that chose the backing (reported in the result). */
  memoryPlan?: MemoryPlan;
}

/** The source side: its clock and its running guest. */
export interface SourceSide {
  clock: Clock;
  guest: SourceGuest;
  stop(): void;
}

/** A way to reach one destination, and to let it go. */
export interface DestinationLink {
  connect(): Promise<SourceSession>;
  /** The in-process destination, when there is one (tests look at it). */
  destination?: Destination;
  close(): Promise<void>;
}

/** Build the source: its clock (virtual or wall), its MMU and its guest, already running. */
export function createSource(scenario: Scenario, options: SourceGuestOptions = {}): SourceSide {
  const clock = scenario.run.clock === 'virtual' ? virtualClock() : wallClock();
  const guest = createSourceGuest(scenario, clock, options);
  return { clock, guest, stop: () => guest.stop() };
}

function linkEncodings(scenario: Scenario): EncodingName[] {
  return scenario.migration.encodings as EncodingName[];
}

/**
 * The destination a scenario names: in-process (inproc), the `dest` URL (ws), or a WebSocket
 * destination server started here on a free loopback port (ws without a URL).
 */
export async function openDestination(scenario: Scenario, clock: Clock): Promise<DestinationLink> {
  const run = scenario.run;
  const virtual = run.clock === 'virtual';
  const common = {
    encodings: linkEncodings(scenario),
    xbzrleCacheSize: scenario.migration['xbzrle-cache-size'],
    clock,
    // In virtual time the engine models the link; a token bucket would wait on a clock nobody advances.
    maxBandwidth: virtual ? 0 : (run.bandwidth ?? 0),
    keepaliveMs: virtual ? 0 : undefined,
    ...multifdLink(scenario),
  };
  if (run.transport === 'inproc') {
    const token = randomBytes(8).toString('hex');
    // Its own clock, as a destination process has: in virtual time it reports the source's
    // timestamps (CONFIG says so), never a clock it shares with the source.
    // The source's own guest, in this process: any size the memory plan let through.
    const destination = new Destination({ token, maxGuestPages: scenario.guest.memory / PAGE_SIZE });
    return {
      destination,
      connect: () => connectSource({ ...common, transport: 'inproc', token, destination }),
      close: async () => undefined,
    };
  }
  if (run.dest !== undefined) {
    const token = run.token ?? '';
    return {
      connect: () => connectSource({ ...common, transport: 'ws', url: run.dest, token }),
      close: async () => undefined,
    };
  }
  const token = randomBytes(8).toString('hex');
  const server = await startDestinationServer({
    port: 0,
    token,
    maxGuestPages: scenario.guest.memory / PAGE_SIZE,
  });
  return {
    destination: server.destination,
    connect: () => connectSource({ ...common, transport: 'ws', url: server.url, token }),
    close: () => server.close(),
  };
}

/** One migration of `source` over `link`. Never throws for a migration that fails. */
export function migrate(
  scenario: Scenario,
  source: SourceSide,
  link: DestinationLink,
  options: RunScenarioOptions = {},
): Promise<MigrationResult> {
  return new Migration({
    scenario,
    clock: source.clock,
    guest: source.guest,
    connect: () => link.connect(),
    link: {
      bandwidth: scenario.run.bandwidth ?? DEFAULT_VIRTUAL_BANDWIDTH,
      latencyMs: scenario.run.latency,
    },
    onEvent: options.onEvent,
    signal: options.signal,
    faults: options.faults,
    continueSwitchover: options.continueSwitchover,
    control: options.control,
    pace: options.pace,
    memoryPlan: options.memoryPlan,
  }).run();
}

/**
 * Validate `input` (a scenario {guest, migration, run}; throws ScenarioError naming the field),
 * run the migration it describes, and return its result.
 */
export async function runScenario(
  input: unknown,
  options: RunScenarioOptions = {},
): Promise<MigrationResult> {
  const scenario = parseScenario(input);
  const mode = options.mode ?? scenario.run.mode;
  if (mode === 'fast') checkMetadataScenario(scenario);
  const memoryPlan = planMemory(scenario, mode);
  if (mode === 'fast') return runMetadataOnly(scenario, { ...options, memoryPlan });
  const source = createSource(scenario, { backing: memoryPlan.backing, faults: options.faults });
  let link: DestinationLink | undefined;
  try {
    link = await openDestination(scenario, source.clock);
    return await migrate(scenario, source, link, { ...options, memoryPlan });
  } finally {
    source.stop();
    await link?.close();
  }
}

/** Fast mode: the migration over a metadata-only guest and the counting link (no destination). */
async function runMetadataOnly(scenario: Scenario, options: RunScenarioOptions): Promise<MigrationResult> {
  const source = createSource(scenario, { backing: 'metadata', faults: options.faults });
  const link: DestinationLink = {
    connect: async () => metadataSession(scenario, source.guest.guest, source.clock),
    close: async () => undefined,
  };
  try {
    return await migrate(scenario, source, link, options);
  } finally {
    source.stop();
  }
}
