import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../../src/migration/index';
import type { MigrationResult } from '../../src/migration/result';
import { example } from './load';

/**
 * The golden, QEMU-rule and peer (xen, stall) figures pinned to the last digit in virtual time.
 * golden-round.test.ts and golden-qemu.test.ts check them against the research's worked figures
 * within a tolerance; this file catches any change at all, so a refactor that claims to change
 * no behaviour can show it. Re-pin only for a deliberate model change, and say why in the commit.
 * Each round is [pagesSent, bytesWire, start ms, duration ms].
 */
function figures(r: MigrationResult) {
  return {
    status: r.status,
    stopReason: r.precopy.stopReason,
    'dirty-sync-count': r.ram['dirty-sync-count'],
    transferred: r.ram.transferred,
    'total-time': r['total-time'],
    downtime: r.downtime,
    rounds: r.precopy.rounds.map((x) => [x.pagesSent, x.bytesWire, x.start, x.duration]),
  };
}

/** The stop-rules sweep's base (examples/strategies/stop-rules) at 160 MiB/s, where the peers' rules fire. */
function peer(rule: 'xen' | 'stall'): unknown {
  const sweep = JSON.parse(
    readFileSync(join(__dirname, '..', '..', 'examples', 'strategies', 'stop-rules', 'sweep.json'), 'utf8'),
  );
  const s = structuredClone(sweep.base);
  s.guest.seed = 1;
  s.guest.workload.rate = '160MiB/s';
  s.migration['stop-rule'] = rule;
  return s;
}

describe('pinned figures (virtual time, to the last digit)', () => {
  it('examples/golden/golden-round.json (stop-rule round)', async () => {
    expect(figures(await runScenario(example('golden/golden-round.json')))).toEqual({
      status: 'completed',
      stopReason: 'threshold',
      'dirty-sync-count': 4,
      transferred: 5309307936,
      'total-time': 4944.678336381912,
      downtime: 153.4130424261093,
      rounds: [
        [1048576, 4302700664, 0, 4007.202260196209],
        [205168, 841881272, 4007.202260196209, 784.063033759594],
        [40144, 164725904, 4791.265293955803, 153.41295301914215],
      ],
    });
  });
  it('examples/golden/golden-qemu.json (stop-rule qemu)', async () => {
    expect(figures(await runScenario(example('golden/golden-qemu.json')))).toEqual({
      status: 'completed',
      stopReason: 'threshold',
      'dirty-sync-count': 6,
      transferred: 5279841581,
      'total-time': 4917.235654778779,
      downtime: 266.23712200671434,
      rounds: [
        [981528, 4027577568, 0, 3750.9739100933075],
        [183176, 751639840, 3750.9739100933075, 700.0191509723663],
        [39024, 160130112, 4450.993061065674, 149.13278818130493],
        [13312, 54624128, 4600.125849246979, 50.87268352508545],
        [69667, 285869837, 4650.998532772064, 266.2370325997472],
      ],
    });
  });
  it('xen: the stop-rules base at 160 MiB/s', async () => {
    expect(figures(await runScenario(peer('xen')))).toEqual({
      status: 'completed',
      stopReason: 'xen-factor',
      'dirty-sync-count': 7,
      transferred: 267884892,
      'total-time': 2143.0791360000053,
      downtime: 275.91176799999903,
      rounds: [
        [16384, 67229696, 0, 537.8375679999999],
        [12187, 50007869, 537.8375679999999, 400.0629520000019],
        [10286, 42207322, 937.9005200000018, 337.6585760000015],
        [9272, 38046496, 1275.5590960000034, 304.3719680000015],
        [8750, 35904538, 1579.9310640000049, 287.2363040000014],
        [8405, 34488883, 1867.1673680000063, 275.911063999999],
      ],
    });
  });
  it('stall: the stop-rules base at 160 MiB/s', async () => {
    expect(figures(await runScenario(peer('stall')))).toEqual({
      status: 'completed',
      stopReason: 'stall',
      'dirty-sync-count': 13,
      transferred: 462590146,
      'total-time': 3700.7211679999705,
      downtime: 255.03378399999428,
      rounds: [
        [16384, 67229696, 0, 537.8375679999999],
        [12187, 50007869, 537.8375679999999, 400.0629520000019],
        [10286, 42207322, 937.9005200000018, 337.6585760000015],
        [9272, 38046496, 1275.5590960000034, 304.3719680000015],
        [8750, 35904538, 1579.9310640000049, 287.2363040000014],
        [8405, 34488883, 1867.1673680000063, 275.91106399999853],
        [8186, 33590230, 2143.078432000005, 268.72183999999424],
        [8033, 32962447, 2411.800271999999, 263.69957599999407],
        [7923, 32511045, 2675.499847999993, 260.0883599999943],
        [7791, 31969425, 2935.5882079999874, 255.75539999999455],
        [7748, 31792972, 3191.343607999982, 254.34377599999425],
        [7769, 31879135, 3445.687383999976, 255.03307999999424],
      ],
    });
  });
});
