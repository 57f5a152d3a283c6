import fc from 'fast-check';
import { ConfigError } from '../../src/config/error';
import { parseGuestSpec } from '../../src/guest';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

function problem(input: object): string {
  try {
    parseGuestSpec(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('the spec was accepted');
}

describe('guest spec', () => {
  it('fills in documented defaults: 1 GiB, 1 vCPU, half of memory text, an idle workload', () => {
    expect(parseGuestSpec({})).toEqual({
      memory: GiB,
      vcpus: 1,
      seed: 1,
      fill: { populated: GiB / 2, content: 'text' },
      workload: { kind: 'idle', rate: 8 * 4096, content: 'random', writeSize: 8 },
    });
  });

  it('reads sizes and rates the way QEMU users write them', () => {
    const spec = parseGuestSpec({
      memory: '4GiB',
      fill: { populated: '1GiB', content: 'random' },
      workload: { kind: 'hotcold', rate: '300MiB/s', hot: '256MiB' },
    });
    expect(spec.memory).toBe(4 * GiB);
    expect(spec.fill.populated).toBe(GiB);
    expect(spec.workload).toMatchObject({ kind: 'hotcold', rate: 300 * MiB, hot: 256 * MiB, hotShare: 0.9 });
    expect(parseGuestSpec({ workload: { kind: 'uniform', rate: '1Gbit/s' } }).workload).toMatchObject({
      rate: 1.25e8,
    });
    expect(parseGuestSpec({ workload: { kind: 'uniform', rate: '5000 pages/s' } }).workload).toMatchObject({
      rate: 5000 * 4096,
    });
  });

  it('resolves region defaults against memory (the incrementer covers QEMU’s 1..100 MiB)', () => {
    expect(parseGuestSpec({ memory: '4GiB', workload: { kind: 'incrementer' } }).workload).toEqual({
      kind: 'incrementer',
      rate: 100 * MiB,
      offset: MiB,
      size: 99 * MiB,
    });
    expect(parseGuestSpec({ memory: '64MiB', workload: { kind: 'incrementer' } }).workload).toMatchObject({
      size: 63 * MiB,
    });
    expect(
      parseGuestSpec({ memory: '2GiB', workload: { kind: 'uniform', offset: '1GiB' } }).workload,
    ).toMatchObject({
      size: GiB,
    });
  });

  it('is idempotent: a parsed spec parses to itself', () => {
    const workloads = fc.oneof(
      fc.record({ kind: fc.constant('uniform'), rate: fc.constantFrom('10MiB/s', '1Gbit/s', 12345) }),
      fc.record({
        kind: fc.constant('hotcold'),
        hot: fc.constantFrom('4MiB', '64MiB'),
        hotShare: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      fc.record({ kind: fc.constant('sequential'), offset: fc.constantFrom(0, '1MiB') }),
      fc.record({ kind: fc.constant('incrementer') }),
      fc.record({
        kind: fc.constant('phased'),
        phases: fc.array(
          fc.record({ duration: fc.constantFrom('1s', 250), workload: fc.constant({ kind: 'idle' }) }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
      }),
    );
    fc.assert(
      fc.property(
        fc.record({
          memory: fc.constantFrom('128MiB', '1GiB', 3 * GiB),
          vcpus: fc.integer({ min: 1, max: 8 }),
          seed: fc.nat(1000),
          fill: fc.record({
            populated: fc.constantFrom('0%', '50%', '33.3%', '16MiB'),
            content: fc.constantFrom('random', 'text', 'zero'),
          }),
          workload: workloads,
        }),
        (input) => {
          const once = parseGuestSpec(input);
          expect(parseGuestSpec(once)).toEqual(once);
        },
      ),
      { seed: 4, numRuns: 60 },
    );
  });

  it.each([
    [{ memory: '-4GiB' }, /^guest\.memory: not a size: "-4GiB".*allowed range \[1\.00 MiB, 1\.00 TiB\]/],
    [{ memory: '2TiB' }, /^guest\.memory: 2TiB is outside the allowed range \[1\.00 MiB, 1\.00 TiB\]/],
    [{ memory: 4097 * 1024 }, /^guest\.memory: .* not a multiple of 4096 bytes/],
    [
      { workload: { kind: 'uniform', rate: '200MiB/h' } },
      /^guest\.workload\.rate: not a rate: "200MiB\/h".*allowed range \[0, 16\.00 GiB\/s\]/,
    ],
    [
      { workload: { kind: 'uniform', rate: '32GiB/s' } },
      /^guest\.workload\.rate: 32GiB\/s is outside the allowed range/,
    ],
    [
      { memory: '4GiB', workload: { kind: 'hotcold', hot: '8GiB' } },
      /^guest\.workload\.hot: 8\.00 GiB is larger than memory \(4\.00 GiB\); allowed range \[4\.00 KiB, 4\.00 GiB\]/,
    ],
    [
      { workload: { kind: 'hotcold', hotShare: 1.5 } },
      /^guest\.workload\.hotShare: 1\.5 is outside the allowed range: a number in \[0, 1\]/,
    ],
    [{ vcpus: 0 }, /^guest\.vcpus: 0 is outside the allowed range: an integer in \[1, 64\]/],
    [{ vcpus: 2.5 }, /^guest\.vcpus: 2\.5 is outside the allowed range: an integer in \[1, 64\]/],
    [
      { workload: { kind: 'thrash' } },
      /^guest\.workload\.kind: unknown workload kind; allowed: idle \| uniform \| hotcold/,
    ],
    [
      { fill: { populated: '150%' } },
      /^guest\.fill\.populated: 150% is outside the allowed range \[0%, 100%\]/,
    ],
    [
      { memory: '1GiB', fill: { populated: '2GiB' } },
      /^guest\.fill\.populated: 2\.00 GiB is larger than memory/,
    ],
    [{ fill: { content: 'lorem' } }, /^guest\.fill\.content: allowed: random \| text \| zero/],
    [
      { workload: { kind: 'uniform', writeSize: 48 } },
      /^guest\.workload\.writeSize: 48 is not a power of two in \[4, 4096\]/,
    ],
    [
      { memory: '1GiB', workload: { kind: 'uniform', offset: '768MiB', size: '512MiB' } },
      /^guest\.workload\.size: 512\.00 MiB from offset 768\.00 MiB runs past memory/,
    ],
    [{ workload: { kind: 'uniform', bogus: 1 } }, /^guest\.workload: Unrecognized key: "bogus"/],
    [{ workload: { kind: 'replay' } }, /^guest\.workload\.file: give exactly one of `file`/],
    [
      { workload: { kind: 'replay', file: '/nonexistent/trace.txt' } },
      /^guest\.workload\.file: cannot read trace file \/nonexistent\/trace\.txt: ENOENT/,
    ],
    [
      { memory: '1MiB', workload: { kind: 'replay', trace: '0 1\n5 300' } },
      /^guest\.workload\.trace: line 2: GFN 300 is outside guest memory, allowed range \[0, 255\]/,
    ],
    [
      { workload: { kind: 'replay', trace: '0 1\n5 2', period: '5ms' } },
      /^guest\.workload\.period: 5 ms must exceed the trace's last record time \(5 ms\)/,
    ],
    [{ workload: { kind: 'phased', phases: [] } }, /^guest\.workload\.phases: needs 1 to 64 phases/],
    [
      { workload: { kind: 'phased', phases: [{ duration: '1s', workload: { kind: 'incrementer' } }] } },
      /^guest\.workload\.phases\.0\.workload\.kind: unknown workload kind; allowed in a phase/,
    ],
  ])('rejects %j naming the field and the allowed range', (input, message) => {
    expect(problem(input)).toMatch(message);
  });

  it('reports every bad field at once', () => {
    const message = problem({ memory: '-1', vcpus: 99 });
    expect(message).toMatch(/guest\.memory/);
    expect(message).toMatch(/guest\.vcpus/);
  });
});
