/**
 * `precopy view result.json [other.json]`: the live dashboard's page for saved results, two side
 * by side to compare (e.g. with and without auto-converge). Serves until Ctrl-C.
 */
import { Command } from 'commander';
import { dashboardForResults } from '../viz/dashboard-server';
import { OVERLAY_ALIGNS, type OverlayAlign } from '../viz/overlay';
import { InputError, loadResult, titleOf } from '../viz/result-file';
import { DASHBOARD_TOKEN_ENV, dashboardToken, refuseTokenFlag } from './secrets';

export interface ViewFlags {
  host: string;
  port: string;
  overlay?: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InputError(`--port: expected an integer 0..65535 (0 = any free port), got '${value}'`);
  }
  return port;
}

/** `--overlay time|round`: the runs on shared charts too. */
export function parseOverlay(value: string | undefined): OverlayAlign | undefined {
  if (value === undefined) return undefined;
  if ((OVERLAY_ALIGNS as readonly string[]).includes(value)) return value as OverlayAlign;
  throw new InputError(`--overlay: one of ${OVERLAY_ALIGNS.join(', ')}, got '${value}'`);
}

export async function view(files: string[], flags: ViewFlags, until: Promise<unknown>): Promise<void> {
  const overlay = parseOverlay(flags.overlay);
  const results = files.map((f) => loadResult(f));
  let dashboard;
  try {
    dashboard = await dashboardForResults(results, {
      host: flags.host,
      port: parsePort(flags.port),
      token: dashboardToken(),
      titles: files.map(titleOf),
      overlay,
    });
  } catch (e) {
    if (e instanceof RangeError) throw new InputError(e.message);
    throw e;
  }
  // stderr, as `run --dashboard` prints it: a dashboard URL is a message to the user, never output.
  process.stderr.write(`precopy view: ${dashboard.url}\n`);
  await until;
  await dashboard.close();
}

function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

export function viewCommand(): Command {
  const command = new Command('view')
    .description('serve the dashboard for saved results; give two to compare them side by side')
    .argument('<result>', 'a result JSON (precopy run --json, precopy import-qmp)')
    .argument('[other]', 'a second result, shown beside the first')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on, 0 for any free one', '0')
    .option('--overlay <align>', 'also draw the runs on shared charts, aligned by time or round')
    .addHelpText('after', `\nThe URL's access token is random; set ${DASHBOARD_TOKEN_ENV} for a fixed one.`);
  return refuseTokenFlag(command, DASHBOARD_TOKEN_ENV).action(
    async (result: string, other: string | undefined, flags: ViewFlags) => {
      try {
        await view(other ? [result, other] : [result], flags, interrupted());
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        process.stderr.write(`precopy view: ${e.message}\n`);
        process.exitCode = 2;
      }
    },
  );
}
