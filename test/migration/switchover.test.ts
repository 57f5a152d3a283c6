/**
 * The destination really resumes: the guest runs there for `post-run` through its own MMU, and
 * the workload's own check reads what it left; a lost page shows up as the guest reading wrong
 * memory. And one clock per run: in virtual time both ends report the run's clock, so the same
 * seed gives the same result over inproc and ws (two processes), byte for byte.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import type { DestFaults } from '../../src/config/faults';
import { Destination } from '../../src/dest/destination';
import { connectSource } from '../../src/link/index';
import { createSource, migrate, runScenario, type DestinationLink } from '../../src/migration/index';
import type { MigrationResult } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';

const incrementer = {
  guest: {
    memory: '16MiB',
    seed: 5,
    fill: { populated: '50%', content: 'random' },
    workload: { kind: 'incrementer', rate: '8MiB/s', offset: '1MiB', size: '8MiB' },
  },
  migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '50ms' },
  run: { latency: '1ms', 'post-run': '400ms' },
};

/** An in-process destination with the given fault switches. */
function destinationLink(faults: DestFaults): DestinationLink & { destination: Destination } {
  const token = 'switchover-test';
  const destination = new Destination({ token, faults });
  return {
    destination,
    connect: () => connectSource({ transport: 'inproc', token, destination, encodings: ['zero', 'lz4'] }),
    close: async () => undefined,
  };
}

async function run(faults: DestFaults): Promise<MigrationResult> {
  const scenario = parseScenario(incrementer);
  const source = createSource(scenario);
  try {
    return await migrate(scenario, source, destinationLink(faults));
  } finally {
    source.stop();
  }
}

describe('the destination resumes the guest and runs it', () => {
  it('holds a runnable image: the incrementer runs post-run there and its counters check out', async () => {
    const r = await run({});
    expect(r.status).toBe('completed');
    expect(r.precopy.resumed).toBe(true);
    expect(r.precopy.guestRunsOn).toBe('destination');
    const post = r.precopy.postRun!;
    expect(post).toMatchObject({
      check: 'edge-rule',
      passed: true,
      edgeCheck: { passed: true, badPages: 0 },
    });
    // 400 ms of the guest's clock at 8 MiB/s = 2048 pages/s: the same writes as on the source.
    expect(post.ms).toBeCloseTo(400, 6);
    expect(post.writes).toBe(Math.round((8 * 2 ** 20 * 0.4) / 4096));
    expect(r.precopy.verification?.passed).toBe(true);
    // The stop-and-copy round carried several incrementer pages (what the negative test drops).
    expect(r.precopy.rounds[r.precopy.rounds.length - 1]!.pagesSent).toBeGreaterThan(2);
  });

  it('NEGATIVE: a page dropped at the destination (fault switch) makes the post-run check fail', async () => {
    const r = await run({ dropFinalPage: true });
    expect(r.status).toBe('completed'); // resumed before anyone knew
    expect(r.precopy.postRun).toMatchObject({ check: 'edge-rule', passed: false });
    expect(r.precopy.postRun!.reason).toMatch(/after the post-run: edge rule broken/);
    expect(r.precopy.verification?.passed).toBe(false);
  });

  it('says there is no post-run in fast mode (no destination)', async () => {
    const r = await runScenario(incrementer, { mode: 'fast' });
    expect(r.precopy).toMatchObject({ resumed: false, postRun: null });
    expect(r.precopy.postRunSkipped).toMatch(/fast .* no destination/);
  });
});

describe('one clock per run', () => {
  /**
   * The only differences, both about how the run was wired, not what it measured:
   * precopy.scenario.run echoes the transport (and the dest URL, token), and
   * precopy.memory.estimate is this process's memory plan, which holds the destination's image
   * only when the destination runs in-process.
   */
  function withoutWiring(text: string): string {
    const r = JSON.parse(text) as MigrationResult;
    const scenario = r.precopy.scenario as { run: Record<string, unknown> };
    for (const key of ['transport', 'dest', 'token']) delete scenario.run[key];
    if (r.precopy.memory) r.precopy.memory.estimate = 0;
    return JSON.stringify(r, null, 2);
  }

  it('virtual time: the same seed gives byte-identical results over inproc and ws', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-clock-'));
    const file = join(dir, 'scenario.json');
    writeFileSync(file, JSON.stringify({ ...incrementer, run: { ...incrementer.run, clock: 'virtual' } }));
    process.exitCode = 0;
    try {
      const outputs: string[] = [];
      for (const transport of ['inproc', 'ws']) {
        const json = join(dir, `${transport}.json`);
        await main(['run', file, '--transport', transport, '--quiet', '--json', json]);
        expect(process.exitCode).toBe(0);
        outputs.push(readFileSync(json, 'utf8'));
      }
      const [inproc, ws] = outputs.map(withoutWiring);
      const r = JSON.parse(inproc!) as MigrationResult;
      expect(r.precopy.destinationDowntime).toBeGreaterThan(0);
      expect(r.precopy.postRun?.writes).toBeGreaterThan(0);
      expect(ws).toBe(inproc);
    } finally {
      process.exitCode = 0;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
