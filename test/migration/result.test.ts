import { emptySendStats } from '../../src/link/index';
import { assembleResult, type MachineEnd, type RunRecord } from '../../src/migration/result';
import { parseScenario } from '../../src/migration/scenario';
import type { StopReason } from '../../src/migration/stop-rule';

/** A completed migration's record, as little as assembleResult needs. */
function record(): RunRecord {
  return {
    scenario: parseScenario({ guest: { memory: '16MiB' } }),
    clock: 'virtual',
    metadataOnly: false,
    elapsed: 1000,
    setupTime: 10,
    guestPages: 4096,
    throttle: 0,
    downtimeLimit: 300,
    transfer: { sent: emptySendStats(), precopyBytes: 0, downtimeBytes: 0, stateBytes: 0 },
    downtime: {
      since: 900,
      total: 100,
      parts: { finalHarvest: 1, finalSend: 90, vcpuState: 1, destinationResume: 8 },
      lastMark: 1000,
      completedAt: 1000,
      resumedAt: 1000,
    },
    verification: { sourceHashTime: 0, time: 0 },
    guestRate: { since: 0, pages: 0, ms: 0 },
    rounds: [],
    states: ['none', 'setup', 'active', 'completed'],
    parameterChanges: [],
  };
}

const end = (stopReason: StopReason | null, status: MachineEnd['status'] = 'completed'): MachineEnd => ({
  status,
  reason: status === 'completed' ? null : 'timeout after 60000 ms (on-timeout cancel)',
  stopReason,
  guestRunsOn: status === 'completed' ? 'destination' : 'source',
  refusedCancel: null,
  verificationError: null,
});

describe('the result: converged and forced come from the stop guard that fired', () => {
  it.each([
    ['threshold', true, false],
    ['xen-pages', true, false],
    ['stall', true, false],
    ['xen-iterations', false, false],
    ['xen-factor', false, false],
    ['xen-rate', false, false],
    ['max-rounds', false, true],
    ['timeout', false, true],
  ] as [StopReason, boolean, boolean][])(
    '%s: converged %s, forced-switchover warning %s',
    (reason, converged, warns) => {
      const r = assembleResult(record(), end(reason));
      expect([r.precopy.stopReason, r.precopy.converged]).toEqual([reason, converged]);
      expect((r.precopy.warnings ?? []).some((w) => w.startsWith('forced switchover'))).toBe(warns);
    },
  );

  it('a timeout cancel says why, converged false, no switchover warning; no guard: no stopReason', () => {
    const cancelled = assembleResult(record(), end('timeout', 'cancelled'));
    expect(cancelled.precopy).toMatchObject({ stopReason: 'timeout', converged: false });
    expect(cancelled['error-desc']).toMatch(/on-timeout cancel/);
    expect(cancelled.precopy.warnings).toBeUndefined();
    expect(cancelled.downtime).toBe(0);
    const none = assembleResult(record(), end(null, 'cancelled'));
    expect(none.precopy.converged).toBe(false);
    expect('stopReason' in none.precopy).toBe(false);
  });
});
