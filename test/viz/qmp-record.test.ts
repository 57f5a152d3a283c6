/**
 * precopy record-qmp: against a scripted QMP server (what it sends, what it writes, when it
 * stops), and against a real QEMU migrating between two TCG guests over loopback where
 * qemu-system-x86_64 is installed (skipped with the reason printed otherwise).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordQmpCommandAction } from '../../src/cli/record-qmp';
import { wallClock } from '../../src/util/clock';
import { importQmp } from '../../src/viz/qmp-import';
import { parseQmpAddress, QmpError, recordQmp } from '../../src/viz/qmp-record';
import { InputError } from '../../src/viz/result-file';

type Json = Record<string, unknown>;

const GREETING = {
  QMP: { version: { qemu: { major: 9, minor: 2, micro: 0 }, package: '' }, capabilities: [] },
};

function ram(transferred: number, remaining: number, syncs: number, extra: Json = {}) {
  return {
    transferred,
    remaining,
    total: 64 * 4096,
    duplicate: 0,
    normal: Math.round(transferred / 4096),
    'normal-bytes': transferred,
    'dirty-sync-count': syncs,
    'page-size': 4096,
    ...extra,
  };
}

/** A migration as query-migrate shows it, one reply per poll (the last one repeats). */
const MIGRATION: Json[] = [
  { status: 'completed', 'total-time': 99, downtime: 5, ram: ram(999, 0, 9) }, // the previous one: stale
  { status: 'setup' },
  { status: 'active', 'total-time': 10, 'setup-time': 5, ram: ram(0, 64 * 4096, 1) },
  { status: 'active', 'total-time': 30, 'setup-time': 5, ram: ram(40 * 4096, 24 * 4096, 1) },
  { status: 'active', 'total-time': 50, 'setup-time': 5, ram: ram(64 * 4096, 8 * 4096, 2) },
  // QEMU 7.2 says completed before it has the totals: the recorder polls on until they are set.
  { status: 'completed', 'total-time': 0, downtime: 0, ram: ram(72 * 4096, 0, 3) },
  {
    status: 'completed',
    'total-time': 60,
    'setup-time': 5,
    downtime: 4,
    ram: ram(72 * 4096, 0, 3, { 'downtime-bytes': 8 * 4096 }),
  },
];

interface Script {
  replies: Json[];
  /** QEMU's answer to `migrate`: an error description refuses it. */
  refuseMigrate?: string;
  /** After this poll's reply, an event QEMU stamped 200 ms earlier (emitted while the query was in flight). */
  lateEventAfterPoll?: number;
}

/** A QMP server on a unix socket: greets, answers commands by id, sends MIGRATION events. */
class FakeQmp {
  readonly commands: Json[] = [];
  readonly path: string;
  private readonly server: Server;
  private polls = 0;

  constructor(dir: string, script: Script) {
    this.path = join(dir, `qmp-${Math.random().toString(36).slice(2)}.sock`);
    this.server = createServer((socket) => this.serve(socket, script));
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket, script: Script): void {
    const send = (o: Json) => socket.write(JSON.stringify(o) + '\r\n');
    const stamp = (ms: number) => ({ seconds: Math.floor(ms / 1000), microseconds: (ms % 1000) * 1000 });
    // QEMU stamps events with its wall clock.
    const event = (status: string) =>
      send({ event: 'MIGRATION', data: { status }, timestamp: stamp(Date.now()) });
    send(GREETING);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const command = JSON.parse(buffer.slice(0, nl)) as Json;
        buffer = buffer.slice(nl + 1);
        this.commands.push(command);
        const id = command.id;
        if (command.execute === 'migrate' && script.refuseMigrate) {
          send({ error: { class: 'GenericError', desc: script.refuseMigrate }, id });
          continue;
        }
        if (command.execute !== 'query-migrate') {
          send({ return: {}, id });
          continue;
        }
        const reply = script.replies[Math.min(this.polls++, script.replies.length - 1)]!;
        // Events come as QEMU sends them: the status change before the reply that shows it.
        const before = script.replies[this.polls - 2]?.status;
        if ((reply.status === 'setup' || reply.status === 'completed') && before !== reply.status)
          event(String(reply.status));
        send({ return: reply, id });
        if (this.polls === script.lateEventAfterPoll)
          send({ event: 'MIGRATION_PASS', data: { pass: 2 }, timestamp: stamp(Date.now() - 200) });
      }
    });
    socket.on('error', () => socket.destroy());
  }
}

describe('precopy record-qmp (scripted QMP server)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'precopy-record-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function record(script: Script, options: Partial<Parameters<typeof recordQmp>[0]> = {}) {
    const qmp = new FakeQmp(dir, script);
    await qmp.listen();
    const lines: string[] = [];
    try {
      const summary = await recordQmp({
        address: { kind: 'unix', path: qmp.path },
        intervalMs: 10,
        clock: wallClock(),
        write: (l) => lines.push(l),
        ...options,
      });
      return { summary, lines, commands: qmp.commands };
    } finally {
      await qmp.close();
    }
  }

  it('starts the migration, records it from its first status to completed, and import-qmp reads the file', async () => {
    const { summary, lines, commands } = await record(
      { replies: MIGRATION },
      { migrate: 'tcp:127.0.0.1:4444', maxBandwidth: 32 * 1024 * 1024, downtimeLimit: 300 },
    );
    expect(commands.slice(0, 4).map((c) => [c.execute, c.arguments])).toEqual([
      ['qmp_capabilities', undefined],
      ['migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] }],
      ['migrate-set-parameters', { 'max-bandwidth': 32 * 1024 * 1024, 'downtime-limit': 300 }],
      ['migrate', { uri: 'tcp:127.0.0.1:4444' }],
    ]);
    expect(summary).toEqual({ samples: 6, events: 2, status: 'completed', stopped: 'ended' });
    const objects = lines.map((l) => JSON.parse(l) as Json);
    expect(objects[0]).toEqual(GREETING);
    // The stale `completed` of the previous migration is not in the file; its samples are QMP-framed and stamped.
    const statuses = objects.filter((o) => 'return' in o).map((o) => (o.return as Json).status);
    expect(statuses).toEqual(['setup', 'active', 'active', 'active', 'completed', 'completed']);
    const stamps = objects
      .filter((o) => 'return' in o)
      .map((o) => o.timestamp as { seconds: number; microseconds: number });
    for (const t of stamps) expect(t.microseconds).toBeLessThan(1e6);
    const ms = stamps.map((t) => t.seconds * 1000 + t.microseconds / 1000);
    expect([...ms].sort((a, b) => a - b)).toEqual(ms);
    // No poll after the final status.
    expect(commands.filter((c) => c.execute === 'query-migrate')).toHaveLength(MIGRATION.length);
    const { result } = importQmp(lines.join('\n'));
    expect(result.status).toBe('completed');
    expect([result['total-time'], result.downtime]).toEqual([60, 4]);
    expect(result.precopy.rounds.map((r) => [r.round, r.final])).toEqual([
      [0, false],
      [1, false],
      [2, true],
    ]);
    expect(result.precopy.states).toEqual(['setup', 'active', 'completed']);
  });

  it('lines go out in time order: an event stamped before a reply that arrived first is written before it', async () => {
    const { lines } = await record({ replies: MIGRATION, lateEventAfterPoll: 4 });
    const stamped = lines.map((l) => JSON.parse(l) as Json).filter((o) => 'timestamp' in o);
    const ms = stamped.map((o) => {
      const t = o.timestamp as { seconds: number; microseconds: number };
      return t.seconds * 1000 + t.microseconds / 1000;
    });
    expect(stamped.some((o) => o.event === 'MIGRATION_PASS')).toBe(true);
    expect([...ms].sort((a, b) => a - b)).toEqual(ms);
    expect(importQmp(lines.join('\n')).result.status).toBe('completed');
  });

  it('NEGATIVE: with the stale sample kept, import-qmp refuses the file (its counters go back)', () => {
    const stamp = (i: number) => ({ seconds: 1000, microseconds: i * 20_000 });
    const lines = (from: number) =>
      MIGRATION.slice(from)
        .map((q, i) => JSON.stringify({ return: q, timestamp: stamp(i + from) }))
        .join('\n');
    expect(importQmp(lines(1)).result.status).toBe('completed');
    expect(() => importQmp(lines(0))).toThrow(/dirty-sync-count went down/);
  });

  it('records one started elsewhere; stops at the timeout if it never ends, or when aborted', async () => {
    const endless = { replies: [{ status: 'active', 'total-time': 1, ram: ram(0, 4096, 1) }] };
    const timed = await record(endless, { timeoutMs: 80 });
    expect(timed.commands.map((c) => c.execute)).not.toContain('migrate');
    expect(timed.summary.stopped).toBe('timeout');
    expect(timed.summary.samples).toBeGreaterThan(0);
    const stop = new AbortController();
    const aborted = record(endless, { signal: stop.signal });
    setTimeout(() => stop.abort(), 50);
    expect((await aborted).summary.stopped).toBe('aborted');
  });

  it("QEMU's refusal is an error quoting QEMU; a missing socket names the address", async () => {
    await expect(
      record(
        { replies: MIGRATION, refuseMigrate: 'There is already a migration in progress' },
        { migrate: 'tcp:x:1' },
      ),
    ).rejects.toThrow(new QmpError('QEMU refused: There is already a migration in progress'));
    await expect(
      recordQmp({
        address: { kind: 'unix', path: join(dir, 'nobody.sock') },
        intervalMs: 10,
        clock: wallClock(),
        write: () => {},
      }),
    ).rejects.toThrow(/^cannot connect to QMP at unix:.*nobody\.sock \(ENOENT\)$/);
  });

  it('bad flags are input errors naming the flag (exit 2)', async () => {
    expect(parseQmpAddress('tcp:localhost:4445')).toEqual({ kind: 'tcp', host: 'localhost', port: 4445 });
    expect(parseQmpAddress('tcp:[::1]:4445')).toEqual({ kind: 'tcp', host: '::1', port: 4445 });
    expect(parseQmpAddress('unix:/run/qmp.sock')).toEqual({ kind: 'unix', path: '/run/qmp.sock' });
    const signal = new AbortController().signal;
    const flags = { qmp: 'unix:/nowhere', interval: '100ms' };
    for (const [bad, message] of [
      [{ qmp: 'localhost:4445' }, /^--qmp: expected unix:PATH or tcp:HOST:PORT/],
      [{ qmp: 'tcp:host:0' }, /^--qmp: /],
      [{ interval: '5' }, /^--interval: /],
      [{ interval: '1ms' }, /^--interval: 10ms to 60s/],
      [{ maxBandwidth: '1GiB/s' }, /^--max-bandwidth, --downtime-limit: only with --migrate/],
      [{ migrate: 'tcp:x:1', downtimeLimit: 'soon' }, /^--downtime-limit: /],
    ] as const) {
      await expect(recordQmpCommandAction({ ...flags, ...bad }, signal)).rejects.toThrow(InputError);
      await expect(recordQmpCommandAction({ ...flags, ...bad }, signal)).rejects.toThrow(message);
    }
  });
});

////     a real QEMU     ////

function qemuBinary(): string | null {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return 'qemu-system-x86_64';
  } catch {
    return null;
  }
}

const QEMU = qemuBinary();
const SKIP_REASON =
  'qemu-system-x86_64 not found: the real-QEMU recording test is skipped ' +
  '(Debian/Ubuntu: apt-get install -y --no-install-recommends qemu-system-x86)';
if (!QEMU) console.warn(`precopy: ${SKIP_REASON}`);

/** Two TCG guests with no kernel (they sit in SeaBIOS), as examples/qmp/README.md records them. */
function qemuArgs(qmpPath: string, extra: string[]): string[] {
  return [
    '-machine',
    'pc,accel=tcg',
    '-m',
    '64',
    '-display',
    'none',
    '-nodefaults',
    '-no-user-config',
    '-serial',
    'none',
    '-qmp',
    `unix:${qmpPath},server=on,wait=off`,
    ...extra,
  ];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(path)) throw new Error(`QEMU did not open ${path}`);
}

/**
 * The destination starts with `-incoming defer`; QEMU answers `migrate-incoming` once it listens,
 * so the source never connects before the port is open.
 */
function listenIncoming(qmpPath: string, uri: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(qmpPath);
    let buffer = '';
    let step = 0;
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const message = JSON.parse(buffer.slice(0, nl)) as Json;
        buffer = buffer.slice(nl + 1);
        if ('error' in message) return reject(new Error(JSON.stringify(message.error)));
        if ('event' in message) continue;
        step++;
        if (step === 1) socket.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        if (step === 2)
          socket.write(JSON.stringify({ execute: 'migrate-incoming', arguments: { uri } }) + '\n');
        if (step === 3) {
          socket.end();
          resolve();
        }
      }
    });
  });
}

(QEMU ? describe : describe.skip)('precopy record-qmp against a real QEMU', () => {
  let dir: string;
  const guests: ChildProcess[] = [];
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'precopy-qemu-'));
  });
  afterAll(() => {
    for (const g of guests) g.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('records a migration between two QEMUs over loopback to completed; import-qmp turns it into rounds', async () => {
    const port = await freePort();
    const srcQmp = join(dir, 'src.sock');
    const dstQmp = join(dir, 'dst.sock');
    guests.push(spawn(QEMU!, qemuArgs(dstQmp, ['-incoming', 'defer']), { stdio: 'ignore' }));
    guests.push(spawn(QEMU!, qemuArgs(srcQmp, []), { stdio: 'ignore' }));
    await Promise.all([waitFor(srcQmp), waitFor(dstQmp)]);
    await listenIncoming(dstQmp, `tcp:127.0.0.1:${port}`);
    const out = join(dir, 'samples.jsonl');
    const summary = await recordQmpCommandAction(
      {
        qmp: `unix:${srcQmp}`,
        output: out,
        interval: '50ms',
        timeout: '60s',
        migrate: `tcp:127.0.0.1:${port}`,
        maxBandwidth: '32MiB/s',
      },
      new AbortController().signal,
    );
    expect(summary).toMatchObject({ status: 'completed', stopped: 'ended' });
    const text = readFileSync(out, 'utf8');
    const greeting = JSON.parse(text.split('\n')[0]!) as { QMP: { version: { qemu: { major: number } } } };
    expect(greeting.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
    const { result } = importQmp(text, { source: 'real QEMU' });
    expect(result.status).toBe('completed');
    // 64 MiB of guest RAM (plus ROMs), every byte accounted for by QEMU's own counters.
    expect(result.ram.total).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(result.ram.transferred).toBeGreaterThan(0);
    expect(result.precopy.rounds.length).toBeGreaterThanOrEqual(2);
    expect(result.precopy.rounds[result.precopy.rounds.length - 1]!.final).toBe(true);
    // The events capability was on: QEMU's MIGRATION events gave the states.
    expect(result.precopy.states).toEqual(expect.arrayContaining(['setup', 'active', 'completed']));
    expect(text).toContain('"event": "MIGRATION"');
  });
});
