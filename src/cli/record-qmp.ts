/**
 * `precopy record-qmp --qmp unix:PATH|tcp:HOST:PORT -o samples.jsonl`: polls a real QEMU's
 * query-migrate (and keeps its migration events) into the samples file `precopy import-qmp`
 * reads (src/viz/qmp-record.ts, examples/qmp/README.md).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Command } from 'commander';
import { wallClock } from '../util/clock';
import { parseDuration, parseRate } from '../util/units';
import { parseQmpAddress, QmpError, recordQmp, type RecordSummary } from '../viz/qmp-record';
import { InputError } from '../viz/result-file';

export interface RecordFlags {
  qmp: string;
  output?: string;
  interval: string;
  timeout?: string;
  migrate?: string;
  maxBandwidth?: string;
  downtimeLimit?: string;
}

function parsed<T>(flag: string, value: string, parse: (v: string) => T): T {
  try {
    return parse(value);
  } catch (e) {
    throw new InputError(`--${flag}: ${(e as Error).message}`);
  }
}

export async function recordQmpCommandAction(
  flags: RecordFlags,
  signal: AbortSignal,
): Promise<RecordSummary> {
  let address;
  try {
    address = parseQmpAddress(flags.qmp);
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  const intervalMs = parsed('interval', flags.interval, parseDuration);
  if (intervalMs < 10 || intervalMs > 60_000)
    throw new InputError(`--interval: 10ms to 60s, got '${flags.interval}'`);
  const timeoutMs = flags.timeout === undefined ? undefined : parsed('timeout', flags.timeout, parseDuration);
  const maxBandwidth =
    flags.maxBandwidth === undefined ? undefined : parsed('max-bandwidth', flags.maxBandwidth, parseRate);
  const downtimeLimit =
    flags.downtimeLimit === undefined
      ? undefined
      : parsed('downtime-limit', flags.downtimeLimit, parseDuration);
  if ((maxBandwidth !== undefined || downtimeLimit !== undefined) && flags.migrate === undefined)
    throw new InputError('--max-bandwidth, --downtime-limit: only with --migrate (set before it starts)');
  const fd = flags.output ? openSync(flags.output, 'w') : 1;
  try {
    return await recordQmp({
      address,
      intervalMs,
      clock: wallClock(),
      write: (line) => writeSync(fd, line + '\n'),
      migrate: flags.migrate,
      maxBandwidth,
      downtimeLimit,
      timeoutMs,
      signal,
    });
  } finally {
    if (fd !== 1) closeSync(fd);
  }
}

export function recordQmpCommand(): Command {
  return new Command('record-qmp')
    .description(
      'record a real QEMU migration: poll query-migrate over QMP into the samples file import-qmp reads',
    )
    .requiredOption('--qmp <address>', "QEMU's QMP socket: unix:PATH or tcp:HOST:PORT (-qmp ...,server=on)")
    .option('-o, --output <file>', 'write the samples here (default: stdout)')
    .option('--interval <time>', 'poll query-migrate this often (10ms..60s)', '100ms')
    .option('--timeout <time>', 'stop recording after this long (the migration goes on)')
    .option('--migrate <uri>', "start the migration too (QEMU's migrate, e.g. tcp:127.0.0.1:4444)")
    .option('--max-bandwidth <rate>', 'with --migrate: migrate-set-parameters max-bandwidth first')
    .option('--downtime-limit <time>', 'with --migrate: migrate-set-parameters downtime-limit first')
    .action(async (flags: RecordFlags) => {
      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        const summary = await recordQmpCommandAction(flags, stop.signal);
        const to = flags.output ? ` → ${flags.output}` : '';
        process.stderr.write(
          `precopy record-qmp: ${summary.samples} samples, ${summary.events} events, ` +
            `last status ${summary.status ?? 'none (no migration seen)'} (${summary.stopped})${to}\n`,
        );
        if (flags.output && summary.samples > 0)
          process.stderr.write(
            `precopy record-qmp: next: precopy import-qmp ${flags.output} -o result.json\n`,
          );
        // Recorded to its end: 0; cut short (timeout, Ctrl-C, QEMU gone) or nothing seen: 1.
        if (summary.stopped !== 'ended') process.exitCode = 1;
      } catch (e) {
        if (e instanceof InputError) {
          process.stderr.write(`precopy record-qmp: ${e.message}\n`);
          process.exitCode = 2;
        } else if (e instanceof QmpError) {
          process.stderr.write(`precopy record-qmp: ${e.message}\n`);
          process.exitCode = 1;
        } else throw e;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
}
