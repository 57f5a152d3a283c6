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
const BOOLEAN_FLAGS = new Set([
  'auto-converge',
  'dirty-limit',
  'xbzrle',
  'pause-before-switchover',
  'multifd',
]);

const HELP: Record<string, string> = {
  memory: 'guest memory (4GiB, 512MiB)',
  vcpus: 'guest vCPUs',
  seed: 'seed of the guest workload and contents',
  populated: 'fill: how much memory holds data before migrating (50%, 1GiB)',
  content: 'fill: what it holds (random | text | zero)',
  workload: 'idle | uniform | hotcold | sequential | phased | incrementer | replay',
  rate: 'workload dirtying rate (200MiB/s, 1Gbit/s, 5000 pages/s)',
  hot: 'hotcold: hot set size',
  'hot-share': 'hotcold: share of writes to the hot set (0..1)',
  'dirty-limit': 'QEMU dirty-limit: per-vCPU penalties from the dirty ring (needs --dirty-log ring)',
  'vcpu-dirty-limit': 'dirty-limit: target dirty rate per vCPU, MB/s (default 1)',
  'x-vcpu-dirty-limit-period': 'dirty-limit: ms between rate reads (1..1000, default 1000)',
  'max-bandwidth': 'QEMU max-bandwidth for live rounds (default 128MiB/s)',
  'downtime-limit': 'QEMU downtime-limit (default 300ms)',
  'stop-rule':
    "qemu (test every iteration) | round (test at round ends) | xen (Xen'05 last-round rules) | stall (KubeVirt VEP 248)",
  'stall-margin': 'stall rule: act when remaining ≤ best × (1 + margin) (default 0.1)',
  'stall-downtime': 'stall rule: downtime budget the switchover may cost (default downtime-limit)',
  'downtime-limit-ramp': 'none | nova (a step every downtime-ramp-interval) | linear (a step per round)',
  'downtime-ramp-steps': 'ramp: steps to reach downtime-limit (default 10)',
  'downtime-ramp-interval': 'nova ramp: time between steps (default 1s)',
  'dirty-log': 'get | manual (clear-before-send) | ring',
  tracking: 'wrprot | dbit',
  encodings: 'zero,lz4 (default) | raw | any of zero,lz4,xbzrle',
  multifd: 'QEMU multifd: pages over multifd-channels connections, a sync per round',
  'multifd-channels': 'multifd: channels (1..255, default 2)',
  'zero-page-detection': 'none | legacy (migration thread) | multifd (the channels; default)',
  'encode-rate':
    'sender CPU model: page bytes/s one sender thread encodes (default: 1GiB/s per multifd channel)',
  'max-rounds': 'round cap: switch over after this many rounds',
  timeout: 'give up after this long (on-timeout decides how)',
  'on-timeout': 'cancel | force',
  clock: 'virtual (simulated time) | wall (real time)',
  transport: 'inproc | ws',
  dest: 'destination URL (ws://127.0.0.1:PORT); default: start one',
  token: 'destination token',
  bandwidth: 'link bandwidth: modelled in virtual time, a cap in wall time',
  latency: 'link latency (virtual time)',
  mode: 'full (pages with contents, sent and verified; default) | fast (metadata only, virtual time, inproc)',
  backing: 'full mode pages: auto (stored while they fit comfortably, else generated) | stored | generated',
};

export const SCENARIO_FLAG_NAMES: string[] = [
  'memory',
  'vcpus',
  'seed',
  'populated',
  'content',
  'workload',
  ...Object.keys(WORKLOAD_FLAGS),
  ...MIGRATION_FLAGS,
  ...RUN_FLAGS,
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
export const RUN_ONLY_FLAGS = ['clock', 'transport', 'dest', 'token', 'post-run', 'mode', 'backing'];

export function addScenarioOptions(command: Command, except: readonly string[] = []): Command {
  for (const flag of SCENARIO_FLAG_NAMES) {
    if (except.includes(flag)) continue;
    const spec = BOOLEAN_FLAGS.has(flag) ? `--${flag} [on|off]` : `--${flag} <value>`;
    command.addOption(new Option(spec, HELP[flag] ?? `scenario field ${flag}`).helpGroup(groupOf(flag)));
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
