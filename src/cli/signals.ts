/**
 * `precopy run`'s operator controls (a process edge): SIGINT / SIGTERM are QEMU's migrate_cancel
 * (the run ends `cancelled`, its summary and files written); a second one exits at once (after
 * stopping the child destination). SIGUSR1, or Enter on a terminal while the run waits in
 * pre-switchover, is migrate-continue.
 */
import { createInterface, type Interface } from 'node:readline';
import type { MigrationControl } from '../migration/control';

export interface OperatorOptions {
  /** Where the prompts go (stderr: stdout may be `--json -`). */
  err: NodeJS.WritableStream;
  /** A terminal to read Enter from; undefined: no key (SIGUSR1 and the dashboard still work). */
  keys?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** The second signal: stop what must not outlive us, then exit. */
  exitNow: (signal: NodeJS.Signals) => void;
}

/** Install the handlers; the returned function removes them all. */
export function operatorControls(control: MigrationControl, options: OperatorOptions): () => void {
  const { err } = options;
  const onCancel = (signal: NodeJS.Signals) => {
    if (control.cancelled) return options.exitNow(signal);
    err.write(`\nprecopy: ${signal}: cancelling the migration (again to exit at once)\n`);
    control.cancel(`cancelled by ${signal}`);
  };
  const onContinue = () => control.continue();
  process.on('SIGINT', onCancel);
  process.on('SIGTERM', onCancel);
  process.on('SIGUSR1', onContinue);
  // The key is read only while the run waits: stdin is not held open otherwise.
  let prompt: Interface | undefined;
  const stopPrompt = () => {
    prompt?.close();
    prompt = undefined;
  };
  const offState = control.onStateChange((state) => {
    if (state !== 'waiting-for-continue') return stopPrompt();
    err.write(
      `precopy: paused before switchover: ${options.keys?.isTTY ? 'press Enter, ' : ''}send SIGUSR1 (kill -USR1 ${process.pid}) or use the dashboard to continue\n`,
    );
    if (!options.keys?.isTTY) return;
    prompt = createInterface({ input: options.keys });
    prompt.once('line', () => control.continue());
  });
  return () => {
    process.off('SIGINT', onCancel);
    process.off('SIGTERM', onCancel);
    process.off('SIGUSR1', onContinue);
    offState();
    stopPrompt();
  };
}
