/**
 * The textbook model of pre-copy (Liu, Xu, Jin et al., HPDC'11; Akoush'10; research §5.2),
 * corrected by the writable working set (WWS): a round re-sends only the distinct pages written
 * during the previous one, which saturate at the WWS.
 *
 *   V₀ = V_mem, T_i = V_i / R, V_i = min(D·T_{i−1}, WWS)    (without a WWS: V_mem·λ^i, λ = D/R)
 *   stop-and-copy with V_n once V_n < V_thd = R × downtime-limit (or the round cap is reached)
 *   downtime = V_n / R_final + T_resume, data = Σ V_i, time = Σ T_i + downtime
 *
 * precopy's model (index.ts) is the scenario model; this closed recurrence stays for what the
 * literature reports (the golden case of research §5.2) and as the baseline the accuracy
 * benchmark measures the scenario model against.
 */

export interface AnalyticInput {
  /** Guest memory V_mem (bytes). */
  memory: number;
  /** Transfer rate R of the live rounds (bytes/s). */
  rate: number;
  /** Distinct bytes dirtied per second D. */
  dirtyRate: number;
  /** Downtime limit (ms); V_thd = rate × limit. */
  downtimeLimit: number;
  /** Writable working set (bytes): the most distinct bytes a round can dirty. Default: memory. */
  workingSet?: number;
  /** Round cap n_max (live rounds after the bulk round). Default 30, Xen's. */
  maxRounds?: number;
  /** Rate of stop-and-copy (QEMU lifts max-bandwidth for it). Default: rate. */
  finalRate?: number;
  /** Fixed time to resume on the destination (ms), T_resume. Default 0. */
  resume?: number;
}

export interface AnalyticRound {
  round: number;
  /** Bytes sent in the round. */
  bytes: number;
  /** Its duration (ms). */
  duration: number;
}

export interface AnalyticOutput {
  /** λ = D / R. */
  lambda: number;
  /** V_thd (bytes). */
  threshold: number;
  /** n: index of the stop-and-copy round (bulk = 0). */
  rounds: number;
  /** True when V_n fell below V_thd; false when the round cap forced the switchover. */
  converges: boolean;
  /** Every round, the bulk first and stop-and-copy last. */
  perRound: AnalyticRound[];
  /** T_down (ms). */
  downtime: number;
  /** V_mig (bytes). */
  bytes: number;
  /** T_mig (ms). */
  totalTime: number;
  /** The closed form ⌈ln(V_thd/V_mem)/ln λ⌉ when it applies (λ < 1, no WWS cap), else null. */
  closedFormRounds: number | null;
}

function check(name: string, value: number, min: number): void {
  if (!Number.isFinite(value) || value < min)
    throw new RangeError(`model: ${name} must be ≥ ${min}, got ${value}`);
}

/** The recurrence from a dirty set of `volume` bytes: live rounds until it fits, then stop-and-copy. */
export function roundsToGo(
  volume: number,
  input: Omit<AnalyticInput, 'memory'> & { maxRounds: number },
): { rounds: AnalyticRound[]; converges: boolean } {
  const threshold = (input.rate * input.downtimeLimit) / 1000;
  const cap = input.workingSet ?? Infinity;
  const rounds: AnalyticRound[] = [];
  let v = volume;
  for (let i = 0; v >= threshold && v > 0 && i < input.maxRounds; i++) {
    const duration = (v / input.rate) * 1000;
    rounds.push({ round: i, bytes: v, duration });
    v = Math.min((input.dirtyRate * duration) / 1000, cap);
  }
  const converges = v < threshold || v === 0;
  const finalDuration = (v / (input.finalRate ?? input.rate)) * 1000;
  rounds.push({ round: rounds.length, bytes: v, duration: finalDuration });
  return { rounds, converges };
}

export function analyticModel(input: AnalyticInput): AnalyticOutput {
  check('memory', input.memory, 1);
  check('rate', input.rate, Number.MIN_VALUE);
  check('dirtyRate', input.dirtyRate, 0);
  check('downtimeLimit', input.downtimeLimit, 0);
  const maxRounds = input.maxRounds ?? 30;
  const lambda = input.dirtyRate / input.rate;
  const threshold = (input.rate * input.downtimeLimit) / 1000;
  // The bulk round always runs, whatever the threshold: it is what moves the memory at all.
  const bulk: AnalyticRound = { round: 0, bytes: input.memory, duration: (input.memory / input.rate) * 1000 };
  const afterBulk = Math.min(
    (input.dirtyRate * bulk.duration) / 1000,
    input.workingSet ?? Infinity,
    input.memory,
  );
  const rest = roundsToGo(afterBulk, { ...input, maxRounds: Math.max(0, maxRounds - 1) });
  const perRound = [bulk, ...rest.rounds.map((r, i) => ({ ...r, round: i + 1 }))];
  const final = perRound[perRound.length - 1]!;
  const downtime = final.duration + (input.resume ?? 0);
  const bytes = perRound.reduce((sum, r) => sum + r.bytes, 0);
  const totalTime = perRound.reduce((sum, r) => sum + r.duration, 0) + (input.resume ?? 0);
  const closedForm =
    lambda > 0 && lambda < 1 && input.workingSet === undefined && threshold < input.memory
      ? Math.min(Math.ceil(Math.log(threshold / input.memory) / Math.log(lambda)), maxRounds)
      : null;
  return {
    lambda,
    threshold,
    rounds: perRound.length - 1,
    converges: rest.converges,
    perRound,
    downtime,
    bytes,
    totalTime,
    closedFormRounds: closedForm,
  };
}
