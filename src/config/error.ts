/**
 * The one error for bad configuration: a scenario (file or flags), the guest spec inside it (as
 * `parseGuestSpec` and a destination's CONFIG read it), and the checks made once a scenario is
 * parsed (the memory plan, fast mode). Each issue names its field by dotted path and says what is
 * allowed; the CLI respells a path as the flag the user typed (cli/scenario-options.ts).
 * Fields and messages are cut to excerpts: a scenario's 50 MB key or value is not echoed back whole.
 */
import { excerpt } from '../util/excerpt';

export interface ConfigIssue {
  /** `migration.max-bandwidth`, `guest.workload.rate`, `(scenario)` for the whole. */
  path: string;
  message: string;
}

/** An error lists at most this many fields (the rest are counted). */
const MAX_ISSUES = 10;

export class ConfigError extends Error {
  /**
   * `heading` (`bad scenario`) gives one line, `heading: path: message; path: message`; without
   * one, each issue is a line of its own (the guest spec's shape, which the destination quotes).
   */
  constructor(
    readonly issues: ConfigIssue[],
    heading?: string,
  ) {
    const shown = issues
      .slice(0, MAX_ISSUES)
      .map((i) => `${excerpt(i.path, 80)}: ${excerpt(i.message, 400)}`);
    if (issues.length > MAX_ISSUES) shown.push(`and ${issues.length - MAX_ISSUES} more`);
    super(heading === undefined ? shown.join('\n') : `${heading}: ${shown.join('; ')}`);
    this.name = 'ConfigError';
  }
}

/** A bad scenario (file, flags, or what a parsed one asks of this machine): `bad scenario: ...`. */
export function badScenario(issues: ConfigIssue[]): ConfigError {
  return new ConfigError(issues, 'bad scenario');
}
