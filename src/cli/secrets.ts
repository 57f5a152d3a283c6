/**
 * Secrets never travel on the command line: every user of the machine reads every process's
 * argv in `ps`. The destination token and the dashboard token come from the environment; a
 * `--token` flag is refused with a usage error that says where the secret goes instead.
 */
import { Option, type Command } from 'commander';
import { dashboardTokenSchema } from '../viz/dashboard-token';
import { usageError } from './usage';

/** The environment variable `precopy dest` and `precopy run --dest` read the destination token from. */
export const TOKEN_ENV = 'PRECOPY_TOKEN';
/** A fixed dashboard token (a stable URL); random when unset. */
export const DASHBOARD_TOKEN_ENV = 'PRECOPY_DASHBOARD_TOKEN';

/** Accept `--token` only to refuse it, before the command does anything. */
export function refuseTokenFlag(command: Command, env: string): Command {
  return command.addOption(new Option('--token <token>').hideHelp()).hook('preAction', (_command, action) => {
    if (action.opts().token !== undefined)
      throw usageError(
        `--token: not accepted on the command line, where ps shows it to every user; set ${env} in the environment`,
      );
  });
}

/** The environment's token, checked as HELLO carries it (a one-byte length). */
export function tokenFromEnv(env: string, required: string): string {
  const token = process.env[env];
  if (token === undefined) throw usageError(`${required}: set ${env} in the environment`);
  const bytes = Buffer.byteLength(token);
  if (bytes === 0) throw usageError(`${env}: must not be empty`);
  if (bytes > 255) throw usageError(`${env}: must be at most 255 bytes, got ${bytes}`);
  return token;
}

/** PRECOPY_DASHBOARD_TOKEN, checked; undefined (a random token) when unset. */
export function dashboardToken(): string | undefined {
  const token = process.env[DASHBOARD_TOKEN_ENV];
  if (token === undefined) return undefined;
  const parsed = dashboardTokenSchema.safeParse(token);
  if (!parsed.success) throw usageError(`${DASHBOARD_TOKEN_ENV}: ${parsed.error.issues[0]!.message}`);
  return token;
}
