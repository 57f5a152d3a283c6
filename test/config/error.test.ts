import { ConfigError } from '../../src/config/error';
import { parseGuestSpec } from '../../src/guest';
import { parseScenario, ScenarioError } from '../../src/migration/scenario';
import { parseSweepSpec, SweepSpecError } from '../../src/sweep/spec';

function thrown(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('accepted');
}

describe('ConfigError: the one error for a bad configuration', () => {
  it('is what the scenario, the guest spec and the API name ScenarioError throw, each field by its path', () => {
    expect(ScenarioError).toBe(ConfigError);
    const scenario = thrown(() => parseScenario({ migration: { 'max-rounds': 0 }, run: { clock: 'sun' } }));
    expect(scenario.issues.map((i) => i.path)).toEqual(['migration.max-rounds', 'run.clock']);
    expect(scenario.message).toMatch(
      /^bad scenario: migration\.max-rounds: .*; run\.clock: must be virtual or wall$/,
    );
    const guest = thrown(() => parseGuestSpec({ vcpus: 0, seed: -1 }));
    expect(guest.issues.map((i) => i.path)).toEqual(['guest.vcpus', 'guest.seed']);
    expect(guest.message.split('\n')).toHaveLength(2);
  });

  it('lists ten fields and counts the rest; a long value is cut to an excerpt', () => {
    const issues = Array.from({ length: 12 }, (_, i) => ({
      path: `f${i}`,
      message: 'x'.repeat(i === 0 ? 5000 : 1),
    }));
    const e = new ConfigError(issues, 'bad scenario');
    expect(e.message).toMatch(/; and 2 more$/);
    expect(e.message).toContain('(5000 characters)');
    expect(e.message).not.toContain('f10');
  });

  it('a bad sweep spec is one too: each field by its path, under the sweep heading', () => {
    const e = thrown(() => parseSweepSpec({ base: {}, grid: {}, seeds: 0, mode: 'slow' }));
    expect(e).toBeInstanceOf(SweepSpecError);
    expect(e.issues.map((i) => i.path).sort()).toEqual(['mode', 'seeds']);
    expect(e.message).toMatch(/^bad sweep spec: .*seeds: /);
  });
});
