/**
 * Honest progress: the figure is how much of the dirty set fits the threshold, never bytes
 * sent ÷ (sent + remaining); warnings for a forced switchover or a downtime over the limit
 * (`--strict` exits 1 on them); a round a cancel cut short is partial and gives no rates.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { createSource, migrate, openDestination, runScenario } from '../../src/migration/index';
import type { MigrationEvent, MigrationResult } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';
import { TerminalView } from '../../src/viz/terminal';

type Progress = Extract<MigrationEvent, { type: 'progress' }>;

const guest = (rate: string, hot: string) => ({
  memory: '32MiB',
  seed: 3,
  fill: { populated: '100%', content: 'random' },
  workload: { kind: 'hotcold', rate, hot, hotShare: 1 },
});
/** Converges in a few rounds. */
const converging = {
  guest: guest('8MiB/s', '4MiB'),
  migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '50ms' },
};
/** A 16 MiB hot set rewritten at 64 MiB/s over 16 MiB/s: never fits; forced after 6 rounds. */
const diverging = {
  guest: guest('64MiB/s', '16MiB'),
  migration: { 'max-bandwidth': '16MiB/s', 'downtime-limit': '50ms', 'max-rounds': 6 },
  run: { bandwidth: '16MiB/s' },
};

async function withEvents(input: unknown): Promise<{ r: MigrationResult; ticks: Progress[] }> {
  const ticks: Progress[] = [];
  const r = await runScenario(input, { onEvent: (e) => e.type === 'progress' && ticks.push(e) });
  return { r, ticks };
}

describe('the progress figure', () => {
  it.each([
    ['converging', converging],
    ['never converging', diverging],
  ])('never exceeds the real fraction (%s)', async (_name, input) => {
    const { r, ticks } = await withEvents(input);
    expect(ticks.length).toBeGreaterThan(5);
    let exact = 0;
    for (const p of ticks) {
      // Never optimistic about what is left, even against QEMU's own estimate.
      expect(p.convergence).toBeLessThanOrEqual(p.remaining > 0 ? p.threshold / p.remaining : 1);
      // Where a sync happened at the tick's instant, the synced dirty set is the real one.
      const synced = r.precopy.rounds.find(
        (round) => round.start + round.duration === p.time && !round.final,
      );
      if (synced && synced.remaining > 0) {
        expect(p.convergence).toBeLessThanOrEqual(p.threshold / synced.remaining + 1e-12);
        exact++;
      }
    }
    expect(exact).toBeGreaterThan(0);
  });

  it('stays below 100 % on a migration that never converges, where sent ÷ (sent + remaining) nears it', async () => {
    const { r, ticks } = await withEvents(diverging);
    expect(r.precopy.converged).toBe(false);
    const live = ticks.filter((p) => p.round > 0);
    expect(Math.max(...live.map((p) => p.convergence))).toBeLessThan(0.8);
    const old = live.map((p) => p.bytesSent / (p.bytesSent + p.remaining));
    expect(Math.max(...old)).toBeGreaterThan(0.9);
  });

  it('is what the terminal bar shows (its percent, the threshold and rounds left)', () => {
    const out: string[] = [];
    const view = new TerminalView({
      stream: { write: (s: string) => out.push(s), isTTY: true, columns: 200 },
      tty: true,
    });
    const tick: Progress = {
      type: 'progress',
      time: 500,
      round: 3,
      bytesSent: 900 * 2 ** 20,
      remaining: 40 * 2 ** 20,
      dirtiedSinceSync: 24 * 2 ** 20,
      threshold: 16 * 2 ** 20,
      convergence: 0.25,
      roundsLeft: null,
      dirtyRate: 64 * 2 ** 20,
      sendRate: 16 * 2 ** 20,
      throttle: 0,
      eta: null,
    };
    view.onEvent(tick);
    const text = out.join('');
    expect(text).toMatch(/ 25% \|/);
    expect(text).toMatch(/remaining 40\.0 MiB \+ 24\.0 MiB dirtied \/ threshold 16\.0 MiB \| rounds left ∞/);
  });
});

describe('warnings', () => {
  it('a forced switchover and a downtime over the limit are in the result', async () => {
    const r = await runScenario(diverging);
    expect(r.status).toBe('completed');
    expect(r.precopy.stopReason).toBe('max-rounds');
    expect(r.downtime).toBeGreaterThan(50);
    expect(r.precopy.downtimeLimitExceeded).toBe(true);
    expect(r.precopy.warnings).toEqual([
      'forced switchover (max-rounds 6): the dirty set never fit the downtime limit',
      `downtime ${r.downtime.toFixed(1)} ms exceeds the downtime-limit of 50 ms`,
    ]);
    const good = await runScenario(converging);
    expect(good.precopy.downtimeLimitExceeded).toBe(false);
    expect(good.precopy.warnings).toBeUndefined();
  });

  it('precopy run prints them; --strict exits 1 on them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-strict-'));
    const file = join(dir, 'scenario.json');
    writeFileSync(file, JSON.stringify(diverging));
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (
      stderr.push(String(chunk)),
      true
    )) as typeof process.stderr.write;
    try {
      for (const [strict, code] of [
        [false, 0],
        [true, 1],
      ] as const) {
        process.exitCode = 0;
        stderr.length = 0;
        await main(['run', file, '--transport', 'inproc', '--quiet', ...(strict ? ['--strict'] : [])]);
        expect(process.exitCode).toBe(code);
        expect(stderr.join('')).toMatch(/precopy: warning: forced switchover \(max-rounds 6\)/);
        expect(stderr.join('')).toMatch(/precopy: warning: downtime .* exceeds the downtime-limit of 50 ms/);
      }
    } finally {
      process.stderr.write = write;
      process.exitCode = 0;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a cancelled run', () => {
  it('marks the round a timeout cut short as partial: counts, no rates, no λ', async () => {
    const r = await runScenario({
      ...diverging,
      migration: { ...diverging.migration, 'max-rounds': 1000, timeout: '2500ms', 'on-timeout': 'cancel' },
    });
    expect(r.status).toBe('cancelled');
    const last = r.precopy.rounds[r.precopy.rounds.length - 1]!;
    expect(last).toMatchObject({
      partial: true,
      dirtyRate: 0,
      sendRate: 0,
      lambda: 0,
      predictedRoundsLeft: null,
    });
    expect(last.pagesSent).toBeGreaterThan(0);
    expect(r.precopy.rounds.slice(0, -1).every((round) => round.partial === undefined)).toBe(true);
    expect(r.precopy.stopReason).toBe('timeout'); // the chart's timeoutCancel guard
    // migrate_cancel does not sync: the setup's sync and one per closed round, none for the cut one.
    expect(r.ram['dirty-sync-count']).toBe(1 + r.precopy.rounds.length - 1);
  });

  it('keeps the round a cancel interrupted, marked partial', async () => {
    const scenario = parseScenario(diverging);
    const source = createSource(scenario);
    const controller = new AbortController();
    source.clock.schedule(() => controller.abort('operator'), 1700);
    const link = await openDestination(scenario, source.clock);
    const r = await migrate(scenario, source, link, { signal: controller.signal });
    source.stop();
    expect(r.status).toBe('cancelled');
    const last = r.precopy.rounds[r.precopy.rounds.length - 1]!;
    expect(last).toMatchObject({ partial: true, lambda: 0 });
    expect(last.start + last.duration).toBeCloseTo(1700, -1);
  });
});
