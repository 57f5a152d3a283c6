/**
 * The dashboard's control endpoints (src/viz/dashboard-control.ts) over loopback HTTP: the token
 * in a header (never the cookie or the query alone), bodies capped, bad parameters named, and
 * nothing applied by a refused request.
 */
import { MigrationControl } from '../../src/migration/control';
import { dashboardForResults, startDashboard, type Dashboard } from '../../src/viz/dashboard-server';
import { MAX_CONTROL_BODY } from '../../src/viz/dashboard-control';
import { buildResult } from './fixtures';

let dashboard: Dashboard;
let control: MigrationControl;
let origin: string;
let token: string;

beforeEach(async () => {
  control = new MigrationControl();
  dashboard = await startDashboard({ title: 'control', control });
  const url = new URL(dashboard.url);
  origin = url.origin;
  token = url.searchParams.get('token')!;
});
afterEach(() => dashboard.close());

function post(path: string, body: unknown, headers: Record<string, string> = { 'X-Precopy-Token': token }) {
  return fetch(`${origin}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

it('cancel needs the token in the header: query or cookie alone is 403', async () => {
  expect((await post(`/control/cancel?token=${token}`, {}, {})).status).toBe(403);
  const cookie = `precopy_token_${new URL(origin).port}=${token}`;
  expect((await post('/control/cancel', {}, { Cookie: cookie })).status).toBe(403);
  expect((await post('/control/cancel', {}, { 'X-Precopy-Token': 'x'.repeat(token.length) })).status).toBe(
    403,
  );
  expect(control.cancelled).toBe(false);
  const ok = await post('/control/cancel', {});
  expect(ok.status).toBe(200);
  expect(control.cancelled).toBe(true);
  expect(control.signal.reason).toBe('cancelled from the dashboard');
});

it('continue only while waiting in pre-switchover (409 otherwise), then releases the hold', async () => {
  const refused = await post('/control/continue', {});
  expect(refused.status).toBe(409);
  expect(await refused.json()).toEqual({ ok: false, error: 'not paused before switchover' });
  let released = false;
  const held = control.waitForContinue().then(() => (released = true));
  const state = await fetch(`${origin}/control`, { headers: { 'X-Precopy-Token': token } });
  expect(await state.json()).toEqual({ ok: true, available: true, state: 'waiting-for-continue' });
  expect((await post('/control/continue', {})).status).toBe(200);
  await held;
  expect(released).toBe(true);
});

it('postcopy: migrate-start-postcopy with the capability (200), refused naming it without (409)', async () => {
  const refused = await post('/control/postcopy', {});
  expect(refused.status).toBe(409);
  expect(await refused.json()).toEqual({
    ok: false,
    error: 'migrate-start-postcopy: the postcopy-ram capability is off',
  });
  let asked = 0;
  control.allowPostcopy(true, () => asked++);
  expect((await post('/control/postcopy', {})).status).toBe(200);
  expect(asked).toBe(1);
});

it('set-parameters: applied values back; a mistyped field or bad value is 400 naming it, nothing applied', async () => {
  const ok = await post('/control/parameters', { 'max-bandwidth': '1GiB/s', 'downtime-limit': '250ms' });
  expect(await ok.json()).toEqual({
    ok: true,
    state: 'running',
    applied: { 'max-bandwidth': 2 ** 30, 'downtime-limit': 250 },
  });
  expect(control.takeParameters()).toEqual({ 'max-bandwidth': 2 ** 30, 'downtime-limit': 250 });
  const typo = await post('/control/parameters', { 'max-bandwith': '1GiB/s' });
  expect(typo.status).toBe(400);
  expect((await typo.json()).error).toMatch(/unknown parameter "max-bandwith"/);
  const bad = await post('/control/parameters', { 'max-bandwidth': 'fast', 'downtime-limit': '1s' });
  expect((await bad.json()).error).toMatch(/^max-bandwidth: not a rate: "fast"/);
  expect((await post('/control/parameters', '[1,')).status).toBe(400);
  expect((await post('/control/parameters', 'x'.repeat(MAX_CONTROL_BODY + 1))).status).toBe(413);
  expect(control.takeParameters()).toEqual({});
});

it('GET on an action is 405; once the migration has ended, 409', async () => {
  const get = await fetch(`${origin}/control/cancel`, { headers: { 'X-Precopy-Token': token } });
  expect(get.status).toBe(405);
  control.finish();
  expect((await post('/control/cancel', {})).status).toBe(409);
  expect(control.cancelled).toBe(false);
});

it('a dashboard of saved results has no control: it says so, and actions are 404', async () => {
  const saved = await dashboardForResults([buildResult()]);
  try {
    const url = new URL(saved.url);
    const headers = { 'X-Precopy-Token': url.searchParams.get('token')! };
    const res = await fetch(`${url.origin}/control`, { headers });
    expect(await res.json()).toEqual({ ok: true, available: false, state: 'none' });
    expect((await fetch(`${url.origin}/control/cancel`, { method: 'POST', headers })).status).toBe(404);
  } finally {
    await saved.close();
  }
});
