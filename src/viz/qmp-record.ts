/**
 * Records a real QEMU migration over QMP as the samples file `import-qmp` reads
 * (src/viz/qmp-import.ts, examples/qmp/README.md): it polls `query-migrate` every interval and
 * writes each reply in QMP's framing with the time it was asked for, `{"return": {...}, "timestamp":
 * {"seconds", "microseconds"}}`, and every QMP event as QEMU sent it (they carry their own
 * timestamps), one JSON object per line.
 *
 * It records the next migration: samples before one is under way (no status yet, or the last
 * migration's final status) are left out, so a stale `completed` cannot open the file; it arms on
 * the first non-final status, sample or MIGRATION event, and stops after the sample that shows a
 * final status (completed, failed, cancelled) with its totals. With `migrate` it starts the migration itself,
 * after turning on the `events` capability (QEMU's MIGRATION events) and `migrate-set-parameters`
 * when bandwidth or downtime limit are given.
 *
 * Times come from the injected clock (the CLI passes the wall clock: the timestamps are the
 * epoch, as QMP's own); the socket is the process edge.
 */
import { connect, type Socket } from 'node:net';
import type { Subscription } from 'rxjs';
import type { Clock } from '../util/clock';

/** Where QEMU's QMP monitor listens (`-qmp unix:PATH,server=on` or `-qmp tcp:HOST:PORT,server=on`). */
export type QmpAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** A QMP line longer than this is refused (query-migrate replies are ~1 KiB). */
export const MAX_QMP_LINE = 1 << 20;

const FINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * QEMU (7.2 here) reports `completed` before it has computed the totals: the first replies say
 * total-time 0 and downtime 0. The recorder polls on, at most this many times, until they are set.
 */
const MAX_POLLS_AFTER_FINAL = 20;

function settled(reply: Json): boolean {
  return reply.status !== 'completed' || (typeof reply['total-time'] === 'number' && reply['total-time'] > 0);
}

export class QmpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QmpError';
  }
}

/** `unix:PATH` or `tcp:HOST:PORT`; a RangeError naming `--qmp` otherwise. */
export function parseQmpAddress(value: string): QmpAddress {
  const unix = /^unix:(.+)$/.exec(value);
  if (unix) return { kind: 'unix', path: unix[1]! };
  const tcp = /^tcp:(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  if (tcp) {
    const port = Number(tcp[2]);
    if (port >= 1 && port <= 65535) return { kind: 'tcp', host: tcp[1]!.replace(/^\[|\]$/g, ''), port };
  }
  throw new RangeError(
    `--qmp: expected unix:PATH or tcp:HOST:PORT (port 1..65535), got '${value}' ` +
      `(QEMU side: -qmp unix:PATH,server=on,wait=off)`,
  );
}

type Json = Record<string, unknown>;

/** One QMP connection: commands answered in order (matched by id), events to a callback. */
class QmpConnection {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private greeting: ((g: Json) => void) | null = null;
  private closedError: Error | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly onLine: (line: Json, raw: string) => void,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (e) => this.fail(new QmpError(`QMP socket: ${e.message}`)));
    socket.on('close', () => this.fail(new QmpError('QEMU closed the QMP connection')));
  }

  static open(address: QmpAddress, onLine: (line: Json, raw: string) => void): Promise<QmpConnection> {
    return new Promise((resolve, reject) => {
      const where = address.kind === 'unix' ? `unix:${address.path}` : `tcp:${address.host}:${address.port}`;
      const socket = address.kind === 'unix' ? connect(address.path) : connect(address.port, address.host);
      const refused = (e: NodeJS.ErrnoException) =>
        reject(new QmpError(`cannot connect to QMP at ${where} (${e.code ?? e.message})`));
      socket.once('error', refused);
      socket.once('connect', () => {
        socket.off('error', refused);
        const qmp = new QmpConnection(socket, onLine);
        qmp.greeting = () => resolve(qmp);
      });
    });
  }

  /** Sends a command; resolves with its `return`, rejects with QEMU's error description. */
  execute(command: string, args?: Json): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(
        JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n',
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const raw = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (raw) this.onMessage(raw);
    }
    if (this.buffer.length > MAX_QMP_LINE) {
      this.fail(new QmpError(`QMP line longer than ${MAX_QMP_LINE} bytes`));
      this.socket.destroy();
    }
  }

  private onMessage(raw: string): void {
    let message: Json;
    try {
      message = JSON.parse(raw) as Json;
    } catch {
      return this.fail(new QmpError(`QEMU sent a line that is not JSON: ${raw.slice(0, 80)}`));
    }
    if ('QMP' in message && this.greeting) {
      this.onLine(message, raw);
      const greeted = this.greeting;
      this.greeting = null;
      return greeted(message);
    }
    const id = typeof message.id === 'number' ? message.id : null;
    const waiting = id === null ? undefined : this.pending.get(id);
    if (waiting) {
      this.pending.delete(id!);
      if ('error' in message) {
        const error = message.error as { class?: string; desc?: string };
        return waiting.reject(new QmpError(`QEMU refused: ${error.desc ?? error.class ?? raw}`));
      }
      return waiting.resolve(message.return);
    }
    this.onLine(message, raw);
  }

  private fail(error: Error): void {
    if (this.closedError) return;
    this.closedError = error;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

export interface RecordOptions {
  address: QmpAddress;
  /** Poll period, ms of `clock`. */
  intervalMs: number;
  /** Timestamps (epoch ms: the wall clock) and the polling timer. */
  clock: Clock;
  /** Receives each line of the samples file (no newline). */
  write: (line: string) => void;
  /** Start the migration to this URI (QEMU's `migrate`), else record one started elsewhere. */
  migrate?: string;
  /** `migrate-set-parameters` before `migrate`: bytes/s and ms, QEMU's units. */
  maxBandwidth?: number;
  downtimeLimit?: number;
  /** Stop recording after this long (ms of `clock`) even if the migration has not ended. */
  timeoutMs?: number;
  /** Stops the recording (what was recorded is kept). */
  signal?: AbortSignal;
}

export interface RecordSummary {
  samples: number;
  events: number;
  /** The last status recorded, or null if no migration was seen. */
  status: string | null;
  /** Why recording stopped: the migration ended, the timeout, the signal, or QEMU went away. */
  stopped: 'ended' | 'timeout' | 'aborted' | 'closed';
}

/**
 * Writes lines in timestamp order. QEMU stamps an event when it emits it, the recorder stamps a
 * reply when it asked for it, so an event emitted while a query was in flight can arrive before
 * an earlier-stamped reply; import-qmp needs time order. Lines wait REORDER_MS, then go out sorted.
 */
export const REORDER_MS = 1000;
class TimeOrderedLines {
  private held: { line: string; ms: number }[] = [];
  private newest = -Infinity;
  constructor(private readonly write: (line: string) => void) {}

  push(line: string, ms: number): void {
    // Sorted insert after equal times: lines stamped alike keep the order they came in.
    let at = this.held.length;
    while (at > 0 && this.held[at - 1]!.ms > ms) at--;
    this.held.splice(at, 0, { line, ms });
    this.newest = Math.max(this.newest, ms);
    this.flushUpTo(this.newest - REORDER_MS);
  }

  flushAll(): void {
    this.flushUpTo(Infinity);
  }

  private flushUpTo(ms: number): void {
    let n = 0;
    while (n < this.held.length && this.held[n]!.ms <= ms) this.write(this.held[n++]!.line);
    this.held.splice(0, n);
  }
}

function qmpTimestamp(ms: number): { seconds: number; microseconds: number } {
  const micros = Math.round(ms * 1000);
  return { seconds: Math.floor(micros / 1e6), microseconds: micros % 1e6 };
}

export async function recordQmp(options: RecordOptions): Promise<RecordSummary> {
  const { clock, write } = options;
  const ordered = new TimeOrderedLines(write);
  let armed = false;
  let samples = 0;
  let events = 0;
  let status: string | null = null;
  const arm = (s: unknown) => {
    if (typeof s === 'string' && s !== 'none' && !FINAL.has(s)) armed = true;
  };
  const qmp = await QmpConnection.open(options.address, (message, raw) => {
    if ('QMP' in message) return write(raw); // the greeting: which QEMU this was
    if (!('event' in message)) return;
    const data = message.data as { status?: unknown } | undefined;
    if (message.event === 'MIGRATION') arm(data?.status);
    if (!armed) return;
    events++;
    const stamp = message.timestamp as { seconds?: unknown; microseconds?: unknown } | undefined;
    const ms =
      typeof stamp?.seconds === 'number' && typeof stamp.microseconds === 'number'
        ? stamp.seconds * 1000 + stamp.microseconds / 1000
        : clock.now();
    ordered.push(raw, ms);
  });

  return new Promise<RecordSummary>((resolve, reject) => {
    let timer: Subscription | null = null;
    let timeout: Subscription | null = null;
    let done = false;
    const finish = (stopped: RecordSummary['stopped'], error?: Error) => {
      if (done) return;
      done = true;
      timer?.unsubscribe();
      timeout?.unsubscribe();
      options.signal?.removeEventListener('abort', onAbort);
      qmp.close();
      ordered.flushAll();
      if (error) reject(error);
      else resolve({ samples, events, status, stopped });
    };
    const onAbort = () => finish('aborted');
    options.signal?.addEventListener('abort', onAbort);
    if (options.signal?.aborted) return finish('aborted');
    if (options.timeoutMs !== undefined) timeout = clock.schedule(() => finish('timeout'), options.timeoutMs);

    let afterFinal = 0;
    const poll = async () => {
      let reply: Json;
      // Stamped when asked: QEMU computed the reply after that, so an `active` reply is never
      // stamped after the MIGRATION `completed` event that QEMU emitted later (a stamp on
      // arrival could be, on a busy host).
      const asked = clock.now();
      try {
        reply = (await qmp.execute('query-migrate')) as Json;
      } catch (e) {
        return finish('closed', samples > 0 ? undefined : (e as Error));
      }
      if (done) return;
      arm(reply.status);
      if (armed && typeof reply.status === 'string') {
        samples++;
        status = reply.status;
        ordered.push(JSON.stringify({ return: reply, timestamp: qmpTimestamp(asked) }), asked);
        if (FINAL.has(reply.status) && (settled(reply) || ++afterFinal > MAX_POLLS_AFTER_FINAL))
          return finish('ended');
      }
      timer = clock.schedule(() => void poll(), options.intervalMs);
    };

    const start = async () => {
      await qmp.execute('qmp_capabilities');
      if (options.migrate !== undefined) {
        // QEMU sends MIGRATION events only with this capability on.
        await qmp.execute('migrate-set-capabilities', {
          capabilities: [{ capability: 'events', state: true }],
        });
        const parameters: Json = {};
        if (options.maxBandwidth !== undefined)
          parameters['max-bandwidth'] = Math.round(options.maxBandwidth);
        if (options.downtimeLimit !== undefined)
          parameters['downtime-limit'] = Math.round(options.downtimeLimit);
        if (Object.keys(parameters).length > 0) await qmp.execute('migrate-set-parameters', parameters);
        await qmp.execute('migrate', { uri: options.migrate });
      }
      await poll();
    };
    start().catch((e: Error) => finish('closed', e));
  });
}
