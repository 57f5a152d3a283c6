import { getShortestPaths, getSimplePaths } from '@xstate/graph';
import { transition, type AnyEventObject } from 'xstate';
import {
  destinationDowntime,
  destinationMachine,
  stateName,
  type DestinationContext,
  type DestinationEvent,
  type Timeline,
} from '../../machines/destination.machine';

const t = { time: 0 };
const failure = { code: 'PRECOPY_ERR_BAD_GFN' as const, message: 'bad gfn', closeCode: 1002 };
const done = (id: string, output: unknown): AnyEventObject => ({ type: `xstate.done.actor.${id}`, output });

/** What can happen in a state: the next frames a source may send, link events, actors finishing. */
function events(state: { context: DestinationContext; children: Record<string, unknown> }): AnyEventObject[] {
  const c = state.context;
  const out: AnyEventObject[] = [
    { type: 'HELLO', ...t },
    { type: 'CONFIG', ...t },
    // Round 0 live, round 1 final: enough to reach every state.
    { type: 'ROUND_START', round: c.round + 1, final: c.round + 1 >= 1, ...t },
    { type: 'PAGES', round: c.round, count: 3, ...t },
    { type: 'ROUND_END', round: c.round, pages: c.roundPages, runningHash: 0, ...t },
    { type: 'VCPU_STATE', ...t },
    { type: 'PREPARE', ...t },
    { type: 'GO', ...t },
    { type: 'VERIFY', sourceHash: 'ab'.repeat(32), ...t },
    { type: 'CANCEL', reason: 'operator', ...t },
    { type: 'LINK_CLOSED', reason: 'gone', ...t },
    { type: 'FAULT', failure, ...t },
  ];
  if (state.children.prepareGuest) out.push(done('prepareGuest', 5));
  if (state.children.runResumed) out.push(done('runResumed', null));
  return out;
}

const paths = getShortestPaths(destinationMachine, {
  events: events as never,
  serializeState: (s) =>
    JSON.stringify([
      s.value,
      s.context.round,
      s.context.final,
      s.context.roundPages > 0,
      s.context.sourceHash,
    ]),
});
const names = (p: { steps: { event: { type: string } }[] }) => p.steps.map((s) => s.event.type).slice(1);
const ended = (value: unknown) => ['verified', 'cutOff', 'abandoned', 'failed'].includes(value as string);

describe('destination machine', () => {
  it('goes handshake → configuring → rounds → state → preparing → ready → GO → resumed → verified', () => {
    const verified = paths.find((p) => p.state.value === 'verified')!;
    expect(names(verified)).toEqual([
      'HELLO',
      'CONFIG',
      'ROUND_START',
      'ROUND_END',
      'ROUND_START',
      'ROUND_END',
      'VCPU_STATE',
      'PREPARE',
      'xstate.done.actor.prepareGuest',
      'GO',
      'VERIFY',
      'xstate.done.actor.runResumed',
    ]);
  });

  it('resumes only on GO, and only once READY went out (the state loaded)', () => {
    for (const p of paths) {
      const into = p.steps.findIndex((s) => stateName(s.state.value).startsWith('resumed'));
      if (into < 0) continue;
      expect(p.steps[into]!.event.type).toBe('GO');
      expect(names(p)).toContain('xstate.done.actor.prepareGuest');
    }
    const ready = paths.find((p) => stateName(p.state.value) === 'migrating.ready')!;
    expect(transition(destinationMachine, ready.state, { type: 'PREPARE', ...t })[0].value).toBe('failed');
  });

  it('before GO, a cancel, an error from the source or a lost link discards; a fault fails', () => {
    const before = paths.filter((p) => stateName(p.state.value).startsWith('migrating'));
    expect(new Set(before.map((p) => stateName(p.state.value)))).toEqual(
      new Set([
        'migrating.handshake',
        'migrating.configuring',
        'migrating.receiving.betweenRounds',
        'migrating.receiving.inRound',
        'migrating.awaitingState',
        'migrating.stateReceived',
        'migrating.preparing',
        'migrating.ready',
      ]),
    );
    for (const p of before) {
      for (const e of [
        { type: 'CANCEL', reason: 'x', ...t },
        { type: 'PEER_ERROR', reason: 'x', ...t },
        { type: 'LINK_CLOSED', reason: 'x', ...t },
      ] as DestinationEvent[])
        expect([stateName(p.state.value), transition(destinationMachine, p.state, e)[0].value]).toEqual([
          stateName(p.state.value),
          'abandoned',
        ]);
      const [failed] = transition(destinationMachine, p.state, { type: 'FAULT', failure, ...t });
      expect([failed.value, failed.context.failure]).toEqual(['failed', failure]);
    }
  });

  it('after GO nothing discards the guest: every path from resumed ends verified or cut off', () => {
    const resumed = paths.filter((p) => stateName(p.state.value).startsWith('resumed'));
    expect(resumed.length).toBeGreaterThanOrEqual(3);
    for (const p of resumed) {
      for (const e of events(p.state as never)) {
        const [next] = transition(destinationMachine, p.state, e as DestinationEvent);
        expect([
          stateName(p.state.value),
          e.type,
          ['abandoned', 'failed'].includes(next.value as string),
        ]).toEqual([stateName(p.state.value), e.type, false]);
      }
      const [late] = transition(destinationMachine, p.state, { type: 'CANCEL', reason: 'too late', ...t });
      expect(late.value).toBe('cutOff');
      expect(late.context.reason).toMatch(/CANCEL after GO was refused/);
    }
  });

  it('a frame out of place fails before GO, naming the frame and the state', () => {
    const configuring = paths.find((p) => stateName(p.state.value) === 'migrating.configuring')!;
    const [s] = transition(destinationMachine, configuring.state, { type: 'GO', ...t });
    expect(s.value).toBe('failed');
    expect(s.context.failure).toEqual({
      code: 'PRECOPY_ERR_UNEXPECTED_FRAME',
      message: "GO is not allowed in state 'migrating.configuring'",
      closeCode: 1002,
    });
    const afterLive = paths.find(
      (p) => stateName(p.state.value) === 'migrating.receiving.betweenRounds' && p.state.context.rounds === 1,
    )!;
    expect(transition(destinationMachine, afterLive.state, { type: 'VCPU_STATE', ...t })[0].value).toBe(
      'failed',
    );
    const [outOfOrder] = transition(destinationMachine, afterLive.state, {
      type: 'ROUND_START',
      round: 5,
      final: false,
      ...t,
    });
    expect(outOfOrder.context.failure?.message).toBe('ROUND_START.round 5 out of order, expected 1');
  });

  it('every simple path ends in a final state or is still waiting for a frame', () => {
    const simple = getSimplePaths(destinationMachine, {
      events: events as never,
      serializeState: (s) =>
        JSON.stringify([s.value, s.context.round, s.context.final, s.context.sourceHash]),
    });
    const finals = new Set(simple.filter((p) => ended(p.state.value)).map((p) => p.state.value));
    expect(finals).toEqual(new Set(['verified', 'cutOff', 'abandoned', 'failed']));
  });
});

describe('destination downtime from the timeline', () => {
  it('runs from the last live page to the resume; its parts add up to it', () => {
    const timeline: Timeline = {
      lastLiveEnd: 15,
      finalStart: 1005,
      finalEnd: 1047,
      prepare: 1105,
      ready: 1107,
      go: 1115,
      resumed: 1116,
    };
    const { total, breakdown } = destinationDowntime(timeline);
    expect(total).toBe(1101);
    expect(breakdown).toEqual({ stop: 990, finalRound: 42, vcpuState: 58, prepare: 2, commit: 8, resume: 1 });
    expect(Object.values(breakdown).reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('starts at the final round when there was no live round', () => {
    const { total, breakdown } = destinationDowntime({
      lastLiveEnd: null,
      finalStart: 0,
      finalEnd: 4,
      prepare: 4,
      ready: 4,
      go: 6,
      resumed: 6,
    });
    expect([total, breakdown.stop]).toEqual([6, 0]);
  });
});
