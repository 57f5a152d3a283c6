/**
 * `precopy dest --port P --token T [--host 127.0.0.1]`: run a destination until SIGINT/SIGTERM.
 * The first stdout line is `listening ws://HOST:PORT`, so a parent process can read the URL;
 * each migration's outcome follows as one line. Diagnostics go to stderr.
 */
import { Command, InvalidArgumentError } from 'commander';
import { startDestinationServer } from '../dest/server';
import type { DestinationEvent } from '../dest/destination';
import { formatBytes, parseDuration, parseSize } from '../util/units';

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

export function destCommand(): Command {
  return new Command('dest')
    .description('Run a destination: receive one migration at a time over WebSocket and verify it')
    .exitOverride()
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', parsePort, 0)
    .requiredOption('--token <token>', 'shared secret the source must present')
    .option('--max-payload <size>', 'largest message accepted', parsed(parseSize), 1 << 20)
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
    .action(
      async (options: {
        host: string;
        port: number;
        token: string;
        maxPayload: number;
        maxMemory: number;
        keepalive: number;
      }) => {
        if (options.maxPayload < 64 << 10)
          throw new InvalidArgumentError(
            `--max-payload must be ≥ 64KiB, got ${formatBytes(options.maxPayload)}`,
          );
        const server = await startDestinationServer({
          host: options.host,
          port: options.port,
          token: options.token,
          maxPayload: options.maxPayload,
          maxGuestPages: Math.floor(options.maxMemory / 4096),
          keepaliveMs: options.keepalive,
          onEvent: (event) => {
            const line = describe(event);
            if (line) process.stdout.write(`${line}\n`);
          },
        });
        process.stdout.write(`listening ${server.url}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            void server.close().then(resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
      },
    );
}
