/**
 * One commander option per scenario field, with the field's own name (`--max-bandwidth`,
 * `--downtime-limit`, `--memory`, ...). Values stay text here: the scenario schema parses and
 * checks them, so a flag and a file field fail with the same message.
 */
import { Option, type Command } from 'commander';
import {
  FLAG_OF_PATH,
  MIGRATION_FLAGS,
  RUN_FLAGS,
  WORKLOAD_FLAGS,
  type ScenarioError,
  type ScenarioFlags,
} from '../migration/scenario';

/** Capabilities: `--auto-converge` alone means on; `--auto-converge off` turns it off. */
export const BOOLEAN_FLAGS = new Set([
  'auto-converge',
  'dirty-limit',
  'xbzrle',
  'pause-before-switchover',
  'multifd',
  'postcopy-ram',
  'postcopy-on-stall',
  'postcopy-on-prediction',
]);

/** What each flag sets; the default, where the field has one, is added from DEFAULTS. */
const HELP: Record<string, string> = {
  memory: 'guest memory (4GiB, 512MiB)',
  vcpus: 'guest vCPUs',
  seed: 'seed of the guest workload and contents',
  populated: 'fill: how much memory holds data before migrating (50%, 1GiB)',
  content: 'fill: what it holds (random | text | zero)',
  workload: 'idle | uniform | hotcold | sequential | phased | incrementer | replay',
  rate: 'workload dirtying rate (200MiB/s, 1Gbit/s, 5000 pages/s; default 100MiB/s, idle 32KiB/s)',
  hot: 'hotcold: hot set size (default: a quarter of memory, at most 256MiB)',
  'hot-share': 'hotcold: share of writes to the hot set (0..1, default 0.9)',
  layout: 'hotcold: where the hot set lies (scattered | contiguous; default scattered)',
  offset: 'first byte of the written range (default 0; incrementer 1MiB)',
  size: 'uniform, hotcold, sequential: bytes of the written range (default: to the end of memory)',
  'write-size': 'bytes per write (4..4096; default 8)',
  'write-content': 'what writes store (random | text | zero; default random)',
  file: 'replay: the dirty-page trace to replay',
  period: 'replay: repeat the trace every this long (default: play it once)',
  'max-bandwidth': 'QEMU max-bandwidth for live rounds',
  'downtime-limit': 'QEMU downtime-limit',
  'auto-converge': 'QEMU auto-converge: throttle the vCPUs while the dirty rate outruns the send rate',
  'cpu-throttle-initial': 'auto-converge: first throttle step, % (1..99)',
  'cpu-throttle-increment': 'auto-converge: throttle added per step, % (1..100)',
  'max-cpu-throttle': 'auto-converge: throttle ceiling, % (1..99)',
  'throttle-trigger-threshold': 'auto-converge: throttle when dirtied > this % of sent in a period (1..100)',
  'dirty-limit': 'QEMU dirty-limit: per-vCPU penalties from the dirty ring (needs --dirty-log ring)',
  'vcpu-dirty-limit': 'dirty-limit: target dirty rate per vCPU, MB/s',
  'x-vcpu-dirty-limit-period': 'dirty-limit: ms between rate reads (1..1000)',
  xbzrle: 'QEMU xbzrle: resend pages as deltas against a cache of sent pages',
  'xbzrle-cache-size': 'xbzrle: cache size (a power of two, 4KiB..1TiB)',
  'pause-before-switchover': 'hold in pre-switchover until continued (Enter, SIGUSR1, dashboard, API)',
  multifd: 'QEMU multifd: pages over multifd-channels connections, a sync per round',
  'multifd-channels': 'multifd: channels (1..255)',
  'zero-page-detection': 'none | legacy (migration thread) | multifd (the channels)',
  'postcopy-ram':
    'QEMU postcopy-ram: the migration may switch to postcopy (the guest runs at the destination, pages on demand)',
  'postcopy-after-rounds': 'postcopy: switch after this many live rounds',
  'postcopy-on-stall': "postcopy: switch when a round's sync leaves no fewer bytes than the best before it",
  'postcopy-on-prediction': 'postcopy: switch when the in-run predictor says pre-copy will not converge',
  'stop-rule':
    "qemu (test every iteration) | round (test at round ends) | xen (Xen'05 last-round rules) | stall (KubeVirt VEP 248)",
  'stall-margin': 'stall rule: act when remaining ≤ best × (1 + margin)',
  'stall-downtime': 'stall rule: downtime budget the switchover may cost (default downtime-limit)',
  'downtime-limit-ramp': 'none | nova (a step every downtime-ramp-interval) | linear (a step per round)',
  'downtime-ramp-steps': 'ramp: steps to reach downtime-limit',
  'downtime-ramp-interval': 'nova ramp: time between steps',
  'dirty-log': 'get | manual (clear-before-send) | ring',
  tracking: 'wrprot | dbit',
  encodings: 'zero,lz4 | raw | any of zero,lz4,xbzrle',
  'encode-rate':
    'sender CPU model: page bytes/s one sender thread encodes (default: 1GiB/s per multifd channel, unmodelled without multifd)',
  'max-rounds': 'round cap: switch over after this many rounds',
  timeout: 'give up after this long (on-timeout decides how)',
  'on-timeout': 'cancel | force',
  clock: 'virtual (simulated time) | wall (real time)',
  transport: 'inproc | ws',
  dest: 'destination URL (ws://127.0.0.1:PORT); default: start one',
  bandwidth: 'link bandwidth: modelled in virtual time (default 10Gbit/s), a cap in wall time (default none)',
  latency: 'link latency (virtual time)',
  'post-run': 'how long the resumed guest runs at the destination before its check',
  mode: 'full (pages with contents, sent and verified) | fast (metadata only, virtual time, inproc)',
  backing: 'full mode pages: auto (stored while they fit comfortably, else generated) | stored | generated',
};

/**
 * The defaults of the fields that have one, as a user writes them. A test parses each through the
 * scenario schema and checks it gives the schema's own default, so help cannot drift from it.
 */
export const DEFAULTS: Record<string, string> = {
  memory: '1GiB',
  vcpus: '1',
  seed: '1',
  populated: '50%',
  content: 'text',
  workload: 'idle',
  'max-bandwidth': '128MiB/s',
  'downtime-limit': '300ms',
  'auto-converge': 'off',
  'cpu-throttle-initial': '20',
  'cpu-throttle-increment': '10',
  'max-cpu-throttle': '99',
  'throttle-trigger-threshold': '50',
  'dirty-limit': 'off',
  'vcpu-dirty-limit': '1',
  'x-vcpu-dirty-limit-period': '1000',
  xbzrle: 'off',
  'xbzrle-cache-size': '64MiB',
  'pause-before-switchover': 'off',
  multifd: 'off',
  'multifd-channels': '2',
  'zero-page-detection': 'multifd',
  'postcopy-ram': 'off',
  'postcopy-on-stall': 'off',
  'postcopy-on-prediction': 'off',
  'stop-rule': 'qemu',
  'stall-margin': '0.1',
  'downtime-limit-ramp': 'none',
  'downtime-ramp-steps': '10',
  'downtime-ramp-interval': '1s',
  'dirty-log': 'get',
  tracking: 'wrprot',
  encodings: 'zero,lz4',
  'max-rounds': '1000',
  timeout: '1h',
  'on-timeout': 'cancel',
  clock: 'virtual',
  transport: 'inproc',
  latency: '0ms',
  'post-run': '300ms',
  mode: 'full',
  backing: 'auto',
};

/** A flag's help line: what it sets, then its default. */
export function helpOf(flag: string): string {
  const text = HELP[flag] ?? `scenario field ${flag}`;
  return DEFAULTS[flag] === undefined ? text : `${text} (default ${DEFAULTS[flag]})`;
}

export const SCENARIO_FLAG_NAMES: string[] = [
  'memory',
  'vcpus',
  'seed',
  'populated',
  'content',
  'workload',
  ...Object.keys(WORKLOAD_FLAGS),
  ...MIGRATION_FLAGS,
  // A scenario file may carry run.token; the command line never does (src/cli/secrets.ts).
  ...RUN_FLAGS.filter((flag) => flag !== 'token'),
];

/** Help headings: the scenario's three parts. */
function groupOf(flag: string): string {
  if ((MIGRATION_FLAGS as string[]).includes(flag))
    return 'Migration (QEMU migrate-set-parameters / capabilities; sizes 4GiB, rates 1GiB/s, durations 300ms):';
  if ((RUN_FLAGS as string[]).includes(flag)) return 'Run (clock, link, destination):';
  return 'Guest and workload:';
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Run fields the model has no use for: `predict` does not list them. */
export const RUN_ONLY_FLAGS = ['clock', 'transport', 'dest', 'post-run', 'mode', 'backing'];

export function addScenarioOptions(command: Command, except: readonly string[] = []): Command {
  for (const flag of SCENARIO_FLAG_NAMES) {
    if (except.includes(flag)) continue;
    const spec = BOOLEAN_FLAGS.has(flag) ? `--${flag} [on|off]` : `--${flag} <value>`;
    command.addOption(new Option(spec, helpOf(flag)).helpGroup(groupOf(flag)));
  }
  return command;
}

/**
 * A scenario error in the user's spelling: `--hot-share` for a field set by a flag they gave,
 * the file's dotted path (`guest.workload.hotShare`) otherwise.
 */
export function scenarioUsage(e: ScenarioError, flags: ScenarioFlags): string {
  const spelled = e.issues.map((issue) => {
    const flag = FLAG_OF_PATH[issue.path];
    return `${flag !== undefined && flags[flag] !== undefined ? `--${flag}` : issue.path}: ${issue.message}`;
  });
  return `bad scenario: ${spelled.join('; ')}`;
}

/** The scenario flags commander collected, under their field names. */
export function scenarioFlags(options: Record<string, unknown>): ScenarioFlags {
  const flags: ScenarioFlags = {};
  for (const flag of SCENARIO_FLAG_NAMES) {
    const value = options[camel(flag)];
    if (value !== undefined) flags[flag] = value as string | boolean;
  }
  return flags;
}
