/**
 * The dashboard's control bar (runs in the browser; served transpiled like dashboard-page.ts):
 * Cancel (QEMU's migrate_cancel), Continue (migrate-continue, while the run waits in
 * pre-switchover), Start postcopy (migrate-start-postcopy, while active) and a set-parameters
 * form for max-bandwidth and downtime-limit. It talks to
 * the server's /control endpoints with the page's token in a header, never a cookie, so another
 * site cannot drive them. A saved result has no control (/control says available: false) and
 * the bar stays hidden. The buttons follow the run's status as the page draws it (data-status on the panel).
 */

/** The endpoints' replies. */
export interface ControlReply {
  ok: boolean;
  /** GET /control: whether this dashboard has a run to control. */
  available?: boolean;
  state?: string;
  error?: string;
  applied?: Record<string, number>;
}

const FINISHED = new Set(['completed', 'cancelled', 'failed']);

function token(): string {
  return new URLSearchParams(location.search).get('token') ?? '';
}

async function call(path: string, body?: unknown): Promise<ControlReply> {
  const res = await fetch(`/control${path}`, {
    method: path === '' ? 'GET' : 'POST',
    headers: { 'X-Precopy-Token': token(), 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await res.json()) as ControlReply;
}

function button(id: string, text: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.id = id;
  b.type = 'button';
  b.textContent = text;
  return b;
}

function field(name: string, placeholder: string): HTMLInputElement {
  const input = document.createElement('input');
  input.name = name;
  input.placeholder = placeholder;
  input.size = 9;
  input.setAttribute('aria-label', name);
  return input;
}

async function mount(bar: HTMLElement): Promise<void> {
  const hello = await call('');
  if (!hello.available) return;
  const cancel = button('control-cancel', 'Cancel');
  const resume = button('control-continue', 'Continue');
  const postcopy = button('control-postcopy', 'Start postcopy');
  const form = document.createElement('form');
  form.id = 'control-parameters';
  const bandwidth = field('max-bandwidth', '1GiB/s');
  const limit = field('downtime-limit', '300ms');
  const apply = button('control-apply', 'Set');
  apply.type = 'submit';
  form.append(bandwidth, limit, apply);
  const message = document.createElement('span');
  message.id = 'control-message';
  message.setAttribute('role', 'status');
  bar.append(cancel, resume, postcopy, form, message);
  bar.hidden = false;

  const say = (reply: ControlReply, done: string) => {
    message.textContent = reply.ok ? done : (reply.error ?? 'refused');
    message.dataset.tone = reply.ok ? 'ok' : 'bad';
  };
  const status = () => document.querySelector<HTMLElement>('section.run')?.dataset.status ?? 'none';
  const refresh = () => {
    const s = status();
    cancel.disabled = FINISHED.has(s) || s === 'cancelling';
    resume.disabled = s !== 'pre-switchover';
    postcopy.disabled = s !== 'active';
    apply.disabled = FINISHED.has(s);
  };
  cancel.onclick = async () => say(await call('/cancel', {}), 'cancel requested');
  resume.onclick = async () => say(await call('/continue', {}), 'continuing');
  postcopy.onclick = async () => say(await call('/postcopy', {}), 'postcopy at the next round decision');
  form.onsubmit = async (e) => {
    e.preventDefault();
    const request: Record<string, string> = {};
    if (bandwidth.value.trim()) request['max-bandwidth'] = bandwidth.value.trim();
    if (limit.value.trim()) request['downtime-limit'] = limit.value.trim();
    say(await call('/parameters', request), 'set: in force from the next rate window');
  };
  new MutationObserver(refresh).observe(document.getElementById('runs')!, {
    subtree: true,
    attributes: true,
    attributeFilter: ['data-status'],
  });
  refresh();
}

const bar = document.getElementById('control');
if (bar) void mount(bar);
