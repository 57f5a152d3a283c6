/**
 * `PRECOPY_TOKEN=T precopy dest --port P [--host 127.0.0.1]`: run a destination until
 * SIGINT/SIGTERM, `--idle-limit` without a migration, or (`--parent-pipe`) its stdin closing.
 * The first stdout line is `listening ws://HOST:PORT`, so a parent process can read the URL;
 * each migration's outcome follows as one line. Diagnostics go to stderr.
 */
import { Command, InvalidArgumentError } from 'commander';
import { startDestinationServer, type DestinationServer } from '../dest/server';
import type { DestinationEvent } from '../dest/destination';
import { excerpt } from '../util/excerpt';
import { formatBytes, parseDuration, parseSize } from '../util/units';
import { wallClock } from '../util/clock';
import { dashboardToken, refuseTokenFlag, tokenFromEnv, TOKEN_ENV } from './secrets';
import { DEFAULT_RECEIVER_DEADLINES } from '../dest/receiver';
import { usageError } from './usage';
import { DestinationFeed } from '../viz/dest-feed';

function parsePositiveDuration(value: string): number {
  const ms = parseDuration(value);
  if (ms <= 0) throw new RangeError(`must be a positive duration (e.g. 10s), got ${value}`);
  return ms;
}

/** A message must fit one Buffer and HELLO_ACK's u32; below 64 KiB no CONFIG fits. */
const MIN_PAYLOAD = 64 << 10;
const MAX_PAYLOAD = 2 ** 32 - 1;

function parsePayload(value: string): number {
  const bytes = parsed(parseSize)(value);
  if (bytes < MIN_PAYLOAD || bytes > MAX_PAYLOAD)
    throw new InvalidArgumentError(
      `must be in [64KiB, 4GiB) (HELLO_ACK carries it as a u32; one message must fit a Buffer), got ${formatBytes(bytes)}`,
    );
  return bytes;
}

/** Binding fails on an address this machine does not have or a port in use: say which flag. */
async function listen(options: Parameters<typeof startDestinationServer>[0]): Promise<DestinationServer> {
  try {
    return await startDestinationServer(options);
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    const host = excerpt(options.host ?? '127.0.0.1');
    switch (error.code) {
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
      case 'EADDRNOTAVAIL':
        throw usageError(`--host ${host}: not an address this machine can listen on (${error.code})`);
      case 'EADDRINUSE':
        throw usageError(`--port ${options.port}: already in use on ${host}`);
      case 'EACCES':
        throw usageError(`--port ${options.port}: not allowed to listen on it (EACCES)`);
      default:
        throw e;
    }
  }
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new InvalidArgumentError('must be an integer in [0, 65535] (0 = any free port)');
  return port;
}

function parsed<T>(parse: (v: string) => T): (v: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

function describe(event: DestinationEvent): string | undefined {
  if (event.type === 'busy') return 'refused a second migration (busy)';
  if (event.type !== 'ended') return undefined;
  if (event.kind === 'discarded') return `discarded: ${event.reason}`;
  const v = event.verdict;
  if (!v) return `resumed, not verified: ${event.reason ?? 'the source left before the verdict'}`;
  const post = v.postRun
    ? `, post-run ${v.postRun.ms.toFixed(0)} ms ${v.postRun.writes} writes check ${v.postRun.check}`
    : '';
  return `resumed, ${v.passed ? 'verified' : 'FAILED verification'}: ${v.rounds} rounds, ${v.pagesReceived} pages, destination downtime ${v.destinationDowntimeMs.toFixed(1)} ms${post}, hash ${v.destinationHash.slice(0, 16)}…${v.reason ? ` (${v.reason})` : ''}`;
}

/** `--idle-limit`: a timer that runs while no migration does. */
function idleTimer() {
  let limit: number | undefined;
  let onIdle: () => void = () => undefined;
  let timer: { unsubscribe(): void } | undefined;
  const arm = () => {
    timer?.unsubscribe();
    timer = limit === undefined ? undefined : wallClock().schedule(() => onIdle(), limit);
  };
  return {
    start(ms: number | undefined, then: () => void) {
      limit = ms;
      onIdle = then;
      arm();
    },
    busy: () => timer?.unsubscribe(),
    free: arm,
    stop() {
      limit = undefined;
      timer?.unsubscribe();
    },
  };
}

/** Loaded only with --dashboard: a plain destination starts without the page's modules. */
function startDashboardFor(token: string | undefined) {
  type Server = typeof import('../viz/dashboard-server');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, typed by `typeof import`
  const server = require('../viz/dashboard-server') as Server;
  return server.startDestinationDashboard({ title: 'precopy dest', token });
}

export function destCommand(): Command {
  const command = new Command('dest')
    .description('Run a destination: receive one migration at a time over WebSocket and verify it')
    .exitOverride()
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', parsePort, 0)
    .option('--max-payload <size>', 'largest message accepted, 64KiB to 4GiB', parsePayload, 1 << 20)
    .option(
      '--max-memory <size>',
      'largest guest accepted (a HELLO announcing more is refused)',
      parsed(parseSize),
      64 * 1024 ** 3,
    )
    .option(
      '--keepalive <duration>',
      'ping interval and dead-peer timeout (0 = off)',
      parsed(parseDuration),
      5000,
    )
    .option(
      '--idle-limit <duration>',
      'exit after this long without a migration (30s, 10min; default: never)',
      parsed(parseDuration),
    )
    .option('--parent-pipe', 'exit when stdin closes (a parent keeps it open while it lives)')
    .option(
      '--dashboard',
      "serve this side's dashboard on 127.0.0.1 (URL with its token on stderr): each migration's state, rounds, downtime and verdict",
    )
    .option(
      '--hello-timeout <duration>',
      'how long a connection may go without HELLO before it is closed (4003)',
      parsed(parsePositiveDuration),
      DEFAULT_RECEIVER_DEADLINES.helloMs,
    )
    .option(
      '--silence-timeout <duration>',
      'how long a migration may wait for the source’s next frame (VERIFY after RESUMED too) before it is cut (4003)',
      parsed(parsePositiveDuration),
      DEFAULT_RECEIVER_DEADLINES.silenceMs,
    );
  refuseTokenFlag(command, TOKEN_ENV);
  return command.action(
    async (options: {
      host: string;
      port: number;
      maxPayload: number;
      maxMemory: number;
      keepalive: number;
      idleLimit?: number;
      parentPipe?: boolean;
      dashboard?: boolean;
      helloTimeout: number;
      silenceTimeout: number;
    }) => {
      const token = tokenFromEnv(TOKEN_ENV, 'dest: the source must present a token (1 to 255 bytes)');
      const idle = idleTimer();
      const dashboard = options.dashboard ? await startDashboardFor(dashboardToken()) : undefined;
      const feed = dashboard && new DestinationFeed((e) => dashboard.publish(e));
      const server = await listen({
        host: options.host,
        port: options.port,
        token,
        maxPayload: options.maxPayload,
        maxGuestPages: Math.floor(options.maxMemory / 4096),
        keepaliveMs: options.keepalive,
        deadlines: { helloMs: options.helloTimeout, silenceMs: options.silenceTimeout },
        onProgress: feed && ((progress) => feed.onProgress(progress)),
        onEvent: (event) => {
          feed?.onEvent(event);
          if (event.type === 'attached') idle.busy();
          if (event.type === 'ended') idle.free();
          const line = describe(event);
          if (line) process.stdout.write(`${line}\n`);
        },
      });
      process.stdout.write(`listening ${server.url}\n`);
      if (dashboard) process.stderr.write(`precopy dest: dashboard ${dashboard.url}\n`);
      const why = await new Promise<string | undefined>((resolve) => {
        const stop = (reason?: string) => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.stdin.off('end', onParentGone);
          idle.stop();
          void Promise.all([server.close(), dashboard?.close()]).then(() => resolve(reason));
        };
        const onSignal = () => stop();
        const onParentGone = () => stop('its parent is gone (stdin closed)');
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        if (options.parentPipe) {
          process.stdin.on('end', onParentGone);
          process.stdin.resume();
        }
        idle.start(options.idleLimit, () => stop(`idle for ${options.idleLimit} ms (--idle-limit)`));
      });
      if (why) process.stderr.write(`precopy: dest: stopping: ${why}\n`);
      // The parent's pipe would hold the event loop open: nothing is left to read.
      if (options.parentPipe) process.stdin.destroy();
    },
  );
}
