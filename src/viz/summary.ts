/**
 * The headline figures of a run, as label/value pairs: the dashboard's summary strip, the HTML
 * report's table and the terminal's closing lines all show this list.
 * Browser-shared module: no runtime imports except the other browser-shared viz modules.
 */
import { fmtBytes, fmtMs, fmtRate } from './format';
import type { RunView } from './run-view';

export interface SummaryItem {
  label: string;
  value: string;
  /** Colours the value: good (green), bad (red), or plain. */
  tone?: 'good' | 'bad';
}

function isImported(view: RunView): boolean {
  const scenario = view.result?.precopy.scenario as { source?: unknown } | null | undefined;
  return scenario?.source === 'qemu-qmp';
}

/**
 * `detail` adds what an engineer checks after a run (the terminal's closing lines, the HTML
 * report): the downtime breakdown, QEMU's dirty-pages-rate beside the guest's own rate, the
 * sync count and the edge check.
 */
export function summarize(
  view: RunView,
  options: { detail?: boolean; scenario?: boolean } = {},
): SummaryItem[] {
  const result = view.result;
  const last = view.rounds[view.rounds.length - 1];
  const live = view.progress;
  const items: SummaryItem[] = [
    {
      label: 'status',
      value: view.status,
      tone:
        view.status === 'completed'
          ? 'good'
          : view.status === 'failed' || view.status === 'cancelled'
            ? 'bad'
            : undefined,
    },
    { label: 'rounds', value: String(view.rounds.length) },
  ];
  if (!result) {
    items.push(
      { label: 'time', value: fmtMs(view.time) },
      { label: 'sent', value: live ? fmtBytes(live.bytesSent) : '–' },
      { label: 'remaining', value: live ? fmtBytes(live.remaining) : last ? fmtBytes(last.remaining) : '–' },
      { label: 'dirty / send', value: live ? `${fmtRate(live.dirtyRate)} / ${fmtRate(live.sendRate)}` : '–' },
      { label: 'throttle', value: live ? `${live.throttle} %` : '–' },
      { label: 'ETA', value: live ? fmtMs(live.eta) : '–' },
    );
    return items;
  }
  const verification = result.precopy.verification;
  const scenario = options.scenario ? scenarioLine(result) : null;
  if (scenario) items.push({ label: 'scenario', value: scenario });
  items.push(
    { label: 'total time', value: fmtMs(result['total-time']) },
    { label: 'setup', value: fmtMs(result['setup-time']) },
    { label: 'downtime (source)', value: result.status === 'completed' ? fmtMs(result.downtime) : '–' },
    {
      label: 'downtime (dest.)',
      value:
        result.status === 'completed' && !isImported(view) ? fmtMs(result.precopy.destinationDowntime) : '–',
    },
    { label: 'transferred', value: fmtBytes(result.ram.transferred) },
    { label: 'guest RAM', value: fmtBytes(result.ram.total) },
    { label: 'zero pages', value: String(result.ram.duplicate) },
    { label: 'max throttle', value: `${Math.max(0, ...view.rounds.map((r) => r.throttle))} %` },
    {
      label: 'converged',
      value: result.precopy.converged ? 'yes' : 'no',
      tone: result.precopy.converged ? 'good' : 'bad',
    },
    {
      label: 'verified',
      value:
        verification === null
          ? '–'
          : verification.passed
            ? 'yes'
            : `NO${verification.reason ? `: ${verification.reason}` : ''}`,
      tone: verification === null ? undefined : verification.passed ? 'good' : 'bad',
    },
  );
  const memory = result.precopy.memory;
  if (memory) {
    items.push({
      label: 'mode',
      value: `${memory.mode}, ${memory.backing} pages (about ${fmtBytes(memory.estimate)})`,
    });
    if (memory.notMeasured.length)
      items.push({ label: 'not measured', value: memory.notMeasured.join('; ') });
  }
  const first = firstPrediction(result);
  if (first) items.push(first);
  if (options.detail && !isImported(view)) items.push(...detailItems(result));
  for (const warning of result.precopy.warnings ?? [])
    items.push({ label: 'warning', value: warning, tone: 'bad' });
  if (result['error-desc']) items.push({ label: 'error', value: result['error-desc'], tone: 'bad' });
  return items;
}

/** How far off the predictor's first ETA (after the bulk round) turned out: the headline accuracy. */
function firstPrediction(result: NonNullable<RunView['result']>): SummaryItem | null {
  const error = result.precopy.predictionError[0];
  const round = result.precopy.rounds.find((r) => r.round === error?.round);
  if (!error || !round || error.eta === null || round.predictedEta === null) return null;
  const actual = round.predictedEta - error.eta;
  const relative = actual > 0 ? ` (${((error.eta / actual) * 100).toFixed(1)} %)` : '';
  return {
    label: 'first prediction',
    value: `ETA ${fmtMs(round.predictedEta)} after round ${round.round}, actual ${fmtMs(actual)}: off by ${error.eta >= 0 ? '+' : ''}${fmtMs(error.eta)}${relative}`,
  };
}

function detailItems(result: NonNullable<RunView['result']>): SummaryItem[] {
  const p = result.precopy;
  const b = p.downtimeBreakdown;
  const items: SummaryItem[] = [];
  // A migration that did not complete had no downtime to break down.
  if (result.status === 'completed')
    items.push({
      label: 'downtime breakdown',
      value:
        `final harvest ${fmtMs(b.finalHarvest)}, final send ${fmtMs(b.finalSend)}, ` +
        `vCPU state ${fmtMs(b.vcpuState)}, destination resume ${fmtMs(b.destinationResume)}`,
    });
  items.push(
    {
      label: 'dirty-pages-rate',
      value:
        `${result.ram['dirty-pages-rate'].toFixed(0)} pages/s (QEMU's: newly dirty per sync period ≥ 1 s); ` +
        `guest's own ${p.guestDirtyPagesRate.toFixed(0)} pages/s`,
    },
    { label: 'dirty-sync-count', value: String(result.ram['dirty-sync-count']) },
  );
  const d = p.destinationDowntimeBreakdown;
  if (d)
    items.push({
      label: 'dest. breakdown',
      value:
        `stop ${fmtMs(d.stop)}, final round ${fmtMs(d.finalRound)}, vCPU state ${fmtMs(d.vcpuState)}, ` +
        `prepare ${fmtMs(d.prepare)}, commit ${fmtMs(d.commit)}, resume ${fmtMs(d.resume)}`,
    });
  if (p.resumed !== undefined)
    items.push({
      label: 'resumed at dest.',
      value: p.postRun
        ? `yes; post-run ${fmtMs(p.postRun.ms)}, ${p.postRun.writes} writes, check ${p.postRun.check} ${p.postRun.passed ? 'passed' : 'FAILED'}`
        : `${p.resumed ? 'yes' : 'no'}${p.postRunSkipped ? ` (no post-run: ${p.postRunSkipped})` : ''}`,
      tone: p.postRun && !p.postRun.passed ? 'bad' : undefined,
    });
  if (p.verificationTime)
    items.push({
      label: 'verification',
      value: `after the resume, not in downtime: source ${fmtMs(p.verificationTime.source)}, destination ${fmtMs(p.verificationTime.destination)}`,
    });
  const edge = p.verification?.edgeCheck;
  if (edge)
    items.push({
      label: 'edge check',
      value: edge.passed ? 'passed' : `FAILED at page ${edge.firstBadPage ?? '?'}`,
      tone: edge.passed ? 'good' : 'bad',
    });
  return items;
}

type Fields = Record<string, unknown>;
const num = (o: Fields | undefined, key: string) =>
  typeof o?.[key] === 'number' ? (o[key] as number) : null;

/**
 * The scenario a result came from, in a line: guest, workload, the migration parameters that
 * matter and the link (precopy's own results), or where a QEMU trace came from. Null when the
 * result carries no scenario precopy knows.
 */
export function scenarioLine(result: NonNullable<RunView['result']>): string | null {
  const scenario = result.precopy.scenario as Fields | null | undefined;
  if (!scenario || typeof scenario !== 'object') return null;
  if (scenario.source === 'qemu-qmp') {
    const limit = num(scenario, 'downtime-limit');
    return (
      `real QEMU over QMP${typeof scenario.file === 'string' ? ` (${scenario.file})` : ''}, ` +
      `${num(scenario, 'samples') ?? '?'} samples${limit !== null ? `; threshold estimated with downtime-limit ${fmtMs(limit)}` : ''}`
    );
  }
  const guest = scenario.guest as Fields | undefined;
  const migration = scenario.migration as Fields | undefined;
  const run = scenario.run as Fields | undefined;
  if (!guest || !migration) return null;
  const workload = guest.workload as Fields | undefined;
  const memory = num(guest, 'memory');
  const rate = num(workload, 'rate');
  const parts = [
    `${memory !== null ? fmtBytes(memory) : '?'} guest, ${num(guest, 'vcpus') ?? 1} vCPU`,
    workload ? `workload ${String(workload.kind)}${rate !== null ? ` at ${fmtRate(rate)}` : ''}` : null,
    `max-bandwidth ${fmtRate(num(migration, 'max-bandwidth') ?? NaN)}`,
    `downtime-limit ${fmtMs(num(migration, 'downtime-limit'))}`,
    ...['auto-converge', 'xbzrle', 'dirty-limit', 'pause-before-switchover'].filter(
      (cap) => migration[cap] === true,
    ),
    migration['stop-rule'] && migration['stop-rule'] !== 'qemu'
      ? `stop-rule ${String(migration['stop-rule'])}`
      : null,
    run
      ? `link ${fmtRate(num(run, 'bandwidth') ?? NaN)}, ${String(run.clock)} time, ${String(run.transport)}`
      : null,
  ];
  return parts.filter((p): p is string => p !== null).join(' · ');
}
