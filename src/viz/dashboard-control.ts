/**
 * The dashboard's control endpoints, for a live run with a MigrationControl:
 *
 *   GET  /control             {ok, available, state}: available false for saved results
 *   POST /control/cancel      QEMU's migrate_cancel
 *   POST /control/continue    migrate-continue (only while waiting in pre-switchover, as QEMU)
 *   POST /control/postcopy    migrate-start-postcopy (needs the postcopy-ram capability)
 *   POST /control/parameters  {"max-bandwidth": "1GiB/s", "downtime-limit": "300ms"}
 *
 * Each needs the dashboard's token in the `X-Precopy-Token` header: not the cookie a browser
 * attaches by itself, so a page from another site cannot drive a migration (it cannot set the
 * header without a CORS preflight, which is never answered). Bodies are capped at 1 KiB.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LiveParameters, ParameterRequest } from '../migration/control';

/** What the endpoints drive: a MigrationControl (src/migration/control.ts) fits. */
export interface DashboardControl {
  readonly state: string;
  cancel(reason?: string): void;
  continue(): void;
  /** migrate-start-postcopy; throws (ControlError) when the capability is off. */
  startPostcopy(): void;
  setParameters(request: ParameterRequest): Partial<LiveParameters>;
}

export const MAX_CONTROL_BODY = 1024;
export const CONTROL_TOKEN_HEADER = 'x-precopy-token';

function sameToken(given: string | string[] | undefined, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(JSON.stringify(body));
}

/** The request's body as JSON, at most MAX_CONTROL_BODY bytes; null: already answered. */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<unknown | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (status: number | null, value: unknown, error?: string) => {
      if (done) return;
      done = true;
      if (status !== null) json(res, status, { ok: false, error });
      resolve(status === null ? value : null);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_CONTROL_BODY) {
        finish(413, null, `body over ${MAX_CONTROL_BODY} bytes`);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('error', () => finish(400, null, 'request failed'));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return finish(null, {});
      try {
        finish(null, JSON.parse(text));
      } catch {
        finish(400, null, 'body is not JSON');
      }
    });
  });
}

/** Answer a /control request (the caller has matched the path). */
export async function handleControl(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  token: string,
  control: DashboardControl | undefined,
): Promise<void> {
  if (!sameToken(req.headers[CONTROL_TOKEN_HEADER], token))
    return json(res, 403, { ok: false, error: `forbidden: the token goes in ${CONTROL_TOKEN_HEADER}` });
  if (path === '/control') {
    if (req.method !== 'GET') return json(res, 405, { ok: false, error: 'GET only' });
    return json(res, 200, { ok: true, available: control !== undefined, state: control?.state ?? 'none' });
  }
  if (!control) return json(res, 404, { ok: false, error: 'this dashboard shows saved results: no control' });
  if (req.method !== 'POST') return json(res, 405, { ok: false, error: 'POST only' });
  const body = await readBody(req, res);
  if (body === null) return;
  if (control.state === 'finished') return json(res, 409, { ok: false, error: 'the migration has ended' });
  switch (path) {
    case '/control/cancel':
      control.cancel('cancelled from the dashboard');
      return json(res, 200, { ok: true, state: control.state });
    case '/control/continue':
      if (control.state !== 'waiting-for-continue')
        return json(res, 409, { ok: false, error: 'not paused before switchover' });
      control.continue();
      return json(res, 200, { ok: true, state: control.state });
    case '/control/postcopy':
      try {
        control.startPostcopy();
        return json(res, 200, { ok: true, state: control.state });
      } catch (e) {
        return json(res, 409, { ok: false, error: (e as Error).message });
      }
    case '/control/parameters':
      try {
        const applied = control.setParameters(body as ParameterRequest);
        return json(res, 200, { ok: true, state: control.state, applied });
      } catch (e) {
        return json(res, 400, { ok: false, error: (e as Error).message });
      }
    default:
      return json(res, 404, { ok: false, error: 'no such control' });
  }
}
