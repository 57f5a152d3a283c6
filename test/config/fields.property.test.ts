/**
 * One field parser for every layer (src/config/fields.ts): the guest spec and the scenario's
 * migration part accept and reject the same strings for sizes, rates, durations, integers and
 * numbers, with the same value. Fields of the same kind differ only in their ranges, so an
 * outcome is a value, "not a value of this kind" (the text), or "outside this field's range":
 * the first two must agree between the layers.
 */
import fc from 'fast-check';
import { ConfigError } from '../../src/config/error';
import { parseRateField } from '../../src/config/fields';
import { parseGuestSpec } from '../../src/guest';
import { parseScenario } from '../../src/migration/scenario';
import { parseRate } from '../../src/util/units';

type Outcome = number | 'not a value' | 'out of range';

/** What a parse of one field gave; anything but a ConfigError is a bug. */
function outcome(parse: () => number): Outcome {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const message = e.issues[0]!.message;
    if (/outside the allowed range|not a multiple|power of two|larger than memory/.test(message))
      return 'out of range';
    expect(message).toMatch(/not a (size|rate|duration)|needs a unit|must be (an integer|a number) in/);
    return 'not a value';
  }
}

/** The same kind of field in the two layers: the guest's and the migration's. */
const PAIRS = {
  size: {
    guest: (s: string) => parseGuestSpec({ memory: s }).memory,
    migration: (s: string) =>
      parseScenario({ guest: {}, migration: { 'xbzrle-cache-size': s } }).migration['xbzrle-cache-size'],
  },
  rate: {
    guest: (s: string) => {
      const w = parseGuestSpec({ workload: { kind: 'uniform', rate: s } }).workload;
      return w.kind === 'uniform' ? w.rate : NaN;
    },
    migration: (s: string) =>
      parseScenario({ guest: {}, migration: { 'max-bandwidth': s } }).migration['max-bandwidth'],
  },
  duration: {
    guest: (s: string) => {
      const w = parseGuestSpec({
        workload: { kind: 'phased', phases: [{ duration: s, workload: { kind: 'idle' } }] },
      }).workload;
      return w.kind === 'phased' ? w.phases[0]!.duration : NaN;
    },
    migration: (s: string) => parseScenario({ guest: {}, migration: { timeout: s } }).migration.timeout,
  },
  integer: {
    guest: (s: string) => parseGuestSpec({ vcpus: s }).vcpus,
    migration: (s: string) =>
      parseScenario({ guest: {}, migration: { 'multifd-channels': s } }).migration['multifd-channels'],
  },
  number: {
    guest: (s: string) => {
      const w = parseGuestSpec({ workload: { kind: 'hotcold', hotShare: s } }).workload;
      return w.kind === 'hotcold' ? w.hotShare : NaN;
    },
    migration: (s: string) =>
      parseScenario({ guest: {}, migration: { 'stall-margin': s } }).migration['stall-margin'],
  },
};

/** Strings people type, right and wrong: numbers with and without units, spaces, junk. */
const typed = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('', ' '),
      fc.oneof(
        fc.integer({ min: 0, max: 300 }).map(String),
        fc.double({ min: 0, max: 64, noNaN: true }).map((n) => n.toFixed(2)),
        fc.constantFrom('0', '1', '.5', '1e3', '2e1', '-1', '1.', '0x10', 'four'),
      ),
      fc.constantFrom('', ' '),
      fc.constantFrom(
        ...['', 'B', 'k', 'KiB', 'kb', 'MiB', 'M', 'MB', 'GiB', 'g', 'TiB', 'XB', '%'],
        ...['ms', 's', 'min', 'us', 'h', 'd'],
        ...[
          'MiB/s',
          'KiB/s',
          'MB/s',
          'Mbit/s',
          'Gbit/s',
          'mbps',
          'Mbps',
          'pages/s',
          'page/s',
          '/s',
          'bit/s',
          'GiB/h',
        ],
      ),
    )
    .map((parts) => parts.join('')),
  fc.string({ maxLength: 8 }),
);

function agree(kind: keyof typeof PAIRS, guest: (s: string) => number = PAIRS[kind].guest) {
  return fc.property(typed, (s) => {
    const g = outcome(() => guest(s));
    const m = outcome(() => PAIRS[kind].migration(s));
    if (g === 'not a value' || m === 'not a value') return g === m;
    // Both values of the kind: equal where both ranges hold them.
    return typeof g !== 'number' || typeof m !== 'number' || g === m;
  });
}

describe('the guest spec and the scenario read a field of each kind alike', () => {
  it.each(Object.keys(PAIRS) as (keyof typeof PAIRS)[])(
    '%s fields: same strings accepted, same values',
    (kind) => {
      fc.assert(agree(kind), { seed: 1818, numRuns: 400 });
    },
  );

  it('the strings reach both sides of each kind: values, non-values and out-of-range ones', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(typed, (s) => {
        for (const kind of Object.keys(PAIRS) as (keyof typeof PAIRS)[]) {
          const g = outcome(() => PAIRS[kind].guest(s));
          seen.add(`${kind} ${typeof g === 'number' ? 'value' : g}`);
        }
      }),
      { seed: 1818, numRuns: 400 },
    );
    for (const kind of Object.keys(PAIRS))
      for (const o of ['value', 'not a value', 'out of range']) expect(seen).toContain(`${kind} ${o}`);
  });

  it('negative: a guest rate read with util/units parseRate alone (as guest/spec did) is caught', () => {
    const oldGuestRate = (s: string) => {
      try {
        return parseRate(s);
      } catch (e) {
        throw new ConfigError([{ path: 'guest.workload.rate', message: (e as Error).message }]);
      }
    };
    expect(fc.check(agree('rate', oldGuestRate), { seed: 1818, numRuns: 400 }).failed).toBe(true);
    // The field parser itself: bare text is bytes/s, pages are 4 KiB.
    expect(parseRateField('1000')).toBe(1000);
    expect(parseRateField('5 pages/s')).toBe(5 * 4096);
  });
});
