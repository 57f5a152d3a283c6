/**
 * `precopy import-qmp samples.jsonl -o result.json`: a real QEMU migration, polled over QMP, as a
 * precopy result (format and derivation: src/viz/qmp-import.ts, examples/qmp/README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { parseDuration } from '../util/units';
import { importQmp, QmpImportError } from '../viz/qmp-import';
import { InputError } from '../viz/result-file';

export interface ImportFlags {
  output?: string;
  downtimeLimit: string;
}

export function importQmpFile(file: string, flags: ImportFlags): { json: string; warnings: string[] } {
  let limit: number;
  try {
    limit = parseDuration(flags.downtimeLimit);
  } catch (e) {
    throw new InputError(`--downtime-limit: ${(e as Error).message}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(
      `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  try {
    const { result, warnings } = importQmp(text, { downtimeLimit: limit, source: file });
    return { json: JSON.stringify(result, null, 2) + '\n', warnings: warnings.map((w) => `${file}: ${w}`) };
  } catch (e) {
    if (e instanceof QmpImportError) throw new InputError(`${file}: ${e.message}`);
    throw e;
  }
}

export function importQmpCommand(): Command {
  return new Command('import-qmp')
    .description('turn query-migrate samples polled from QEMU (JSON Lines) into a precopy result')
    .argument('<samples>', 'JSON Lines: query-migrate replies with timestamps, QMP events (see examples/qmp)')
    .option('-o, --output <file>', 'write the result here (default: stdout)')
    .option('--downtime-limit <time>', "QEMU's downtime-limit, for the threshold estimate", '300ms')
    .action((file: string, flags: ImportFlags) => {
      try {
        const { json, warnings } = importQmpFile(file, flags);
        for (const w of warnings) process.stderr.write(`precopy import-qmp: ${w}\n`);
        if (flags.output) writeFileSync(flags.output, json);
        else process.stdout.write(json);
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        process.stderr.write(`precopy import-qmp: ${e.message}\n`);
        process.exitCode = 2;
      }
    });
}
