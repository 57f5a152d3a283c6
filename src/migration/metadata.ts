/**
 * Fast mode (metadata-only) for sweeps: the same migration as runScenario's, with the guest
 * keeping one content state per page instead of its bytes (src/guest/page-states.ts) and a link
 * that counts what the real one would send (src/link/metadata-session.ts). Everything that
 * decides round statistics stays: the workload's writes through the MMU (faults, dirty logging,
 * harvests, TLBs), throttling and penalties, the engine's statechart, virtual-time bandwidth,
 * stop rules. What only concerns contents goes: page bytes, encoding, the destination, hashing
 * and verification. Virtual time and the in-process link only; no xbzrle (no size model).
 */
import { MetadataSession } from '../link/metadata-session';
import type { EncodingName } from '../link/index';
import type { Guest } from '../guest';
import type { Clock } from '../util/clock';
import { badScenario } from '../config/error';
import type { Scenario } from './scenario';

/** The link options multifd sets: its channels and where zero pages are found. */
export function multifdLink(scenario: Scenario): { channels: number; zeroOnMain: boolean } {
  const m = scenario.migration;
  return {
    channels: m.multifd ? m['multifd-channels'] : 0,
    zeroOnMain: m.multifd && m['zero-page-detection'] === 'legacy',
  };
}

/** Refuse a scenario fast mode cannot run, naming the field. */
export function checkMetadataScenario(scenario: Scenario): void {
  const issues: { path: string; message: string }[] = [];
  if (scenario.run.clock !== 'virtual')
    issues.push({
      path: 'run.clock',
      message: `fast (metadata-only) mode runs in virtual time only; got ${scenario.run.clock}, allowed: virtual`,
    });
  if (scenario.run.transport !== 'inproc' || scenario.run.dest !== undefined)
    issues.push({
      path: scenario.run.dest !== undefined ? 'run.dest' : 'run.transport',
      message: 'fast (metadata-only) mode sends nothing over a real link; allowed: transport inproc, no dest',
    });
  if (scenario.migration.encodings.includes('xbzrle'))
    issues.push({
      path: 'migration.encodings',
      message:
        'fast (metadata-only) mode has no size model for xbzrle (a delta depends on page history; the xbzrle capability implies the encoding); allowed: zero, lz4, raw, xbzrle off',
    });
  if (issues.length) throw badScenario(issues);
}

/** The metadata link's session over a metadata-only guest's page states. */
export function metadataSession(scenario: Scenario, guest: Guest, clock: Clock): MetadataSession {
  if (!guest.pageStates) throw new Error('metadataSession: the guest keeps bytes, not page states');
  return new MetadataSession({
    states: guest.pageStates,
    samples: guest.pageSamples(),
    encodings: scenario.migration.encodings as EncodingName[],
    clock,
    ...multifdLink(scenario),
  });
}
