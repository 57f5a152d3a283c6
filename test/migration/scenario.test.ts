import fc from 'fast-check';
import { parseScenario, ScenarioError } from '../../src/migration/scenario';

const guest = { memory: '64MiB', workload: { kind: 'idle' } };

describe('scenario schema', () => {
  it("fills QEMU's defaults under QEMU's names", () => {
    const s = parseScenario({ guest });
    expect(s.migration).toMatchObject({
      'max-bandwidth': 128 * 2 ** 20,
      'downtime-limit': 300,
      'auto-converge': false,
      'cpu-throttle-initial': 20,
      'cpu-throttle-increment': 10,
      'max-cpu-throttle': 99,
      'throttle-trigger-threshold': 50,
      xbzrle: false,
      'xbzrle-cache-size': 64 * 2 ** 20,
      'pause-before-switchover': false,
      'stop-rule': 'qemu',
      'dirty-log': 'get',
      tracking: 'wrprot',
      encodings: ['zero', 'lz4'],
      'on-timeout': 'cancel',
    });
    expect(s.run).toMatchObject({ clock: 'virtual', transport: 'inproc', latency: 0 });
  });

  it('lets flags override the file, field by field, with the same names', () => {
    const file = {
      guest,
      migration: { 'downtime-limit': '1s', 'max-bandwidth': '1GiB/s' },
      run: { clock: 'wall' },
    };
    const s = parseScenario(file, {
      'downtime-limit': '30s',
      encodings: 'raw',
      'auto-converge': 'on',
      'max-rounds': '7',
      transport: 'ws',
      memory: '128MiB',
    });
    expect(s.migration['downtime-limit']).toBe(30_000);
    expect(s.migration['max-bandwidth']).toBe(2 ** 30);
    expect(s.migration.encodings).toEqual(['raw']);
    expect(s.migration['auto-converge']).toBe(true);
    expect(s.migration['max-rounds']).toBe(7);
    expect(s.run).toMatchObject({ clock: 'wall', transport: 'ws' });
    expect((s.guest as { memory: unknown }).memory).not.toBe('64MiB');
  });

  it.each([
    [{ 'downtime-limit': '-1ms' }, /migration\.downtime-limit: not a duration/],
    [
      { 'downtime-limit': '3000s' },
      /migration\.downtime-limit: 3000s is outside the allowed range \[0, 2000s\]/,
    ],
    [
      { 'cpu-throttle-initial': '120' },
      /migration\.cpu-throttle-initial: 120 is outside the allowed range: an integer in \[1, 99\]/,
    ],
    [{ 'stop-rule': 'kvm' }, /migration\.stop-rule: must be one of qemu, round, xen, stall/],
    [
      { 'stall-margin': '-0.5' },
      /migration\.stall-margin: -0\.5 is outside the allowed range: a number in \[0, 10\]/,
    ],
    [{ 'downtime-limit-ramp': 'steep' }, /migration\.downtime-limit-ramp: must be one of none, nova, linear/],
    [
      { 'downtime-ramp-steps': '0' },
      /migration\.downtime-ramp-steps: 0 is outside the allowed range: an integer in \[1, 1000\]/,
    ],
    [{ encodings: 'raw,lz4' }, /migration\.encodings: `raw` stands alone/],
    [{ encodings: 'zstd' }, /migration\.encodings\.0: each must be one of zero, lz4, xbzrle, raw/],
    [{ encodings: 'xbzrle' }, /needs the xbzrle capability/],
    [{ 'xbzrle-cache-size': '3MiB' }, /power of two/],
    [{ clock: 'sundial' }, /run\.clock: must be virtual or wall/],
    [{ dest: 'http://x' }, /run\.dest: must be a ws:\/\/ or wss:\/\/ URL/],
    [{ 'max-bandwidth': '0' }, /migration\.max-bandwidth: 0 is outside the allowed range \(0, ∞\) bytes\/s/],
  ])('rejects %j with one error naming the field and its range', (flags, message) => {
    expect(() => parseScenario({ guest }, flags)).toThrow(ScenarioError);
    expect(() => parseScenario({ guest }, flags)).toThrow(message);
  });

  it('takes the stop rules and the downtime ramp from flags, with their defaults otherwise', () => {
    const d = parseScenario({ guest }).migration;
    expect(d).toMatchObject({
      'stall-margin': 0.1,
      'downtime-limit-ramp': 'none',
      'downtime-ramp-steps': 10,
      'downtime-ramp-interval': 1000,
    });
    expect(d['stall-downtime']).toBeUndefined();
    const m = parseScenario(
      { guest },
      {
        'stop-rule': 'stall',
        'stall-margin': '0.25',
        'stall-downtime': '1s',
        'downtime-limit-ramp': 'nova',
        'downtime-ramp-steps': '5',
        'downtime-ramp-interval': '75s',
      },
    ).migration;
    expect(m).toMatchObject({
      'stop-rule': 'stall',
      'stall-margin': 0.25,
      'stall-downtime': 1000,
      'downtime-limit-ramp': 'nova',
      'downtime-ramp-steps': 5,
      'downtime-ramp-interval': 75_000,
    });
  });

  it('names unknown fields and non-object parts', () => {
    expect(() => parseScenario({ guest, migration: { 'max-bandwith': 1 } })).toThrow(
      /unknown field\(s\) max-bandwith/,
    );
    expect(() => parseScenario([1, 2])).toThrow(/must be a JSON object/);
    expect(() => parseScenario({ guest, run: 'fast' })).toThrow(/run: must be an object/);
  });

  it('parses any valid downtime-limit and bandwidth the same from a file or a flag', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 1, max: 2 ** 40 }), (ms, bw) => {
        const fromFile = parseScenario({
          guest,
          migration: { 'downtime-limit': `${ms}ms`, 'max-bandwidth': bw },
        });
        const fromFlags = parseScenario({ guest }, { 'downtime-limit': `${ms}ms`, 'max-bandwidth': `${bw}` });
        expect(fromFlags.migration).toEqual(fromFile.migration);
        expect(fromFile.migration['downtime-limit']).toBe(ms);
      }),
      { seed: 6, numRuns: 200 },
    );
  });
});
