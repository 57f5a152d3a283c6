/**
 * `precopy report result.json [other.json] --svg out.svg --html out.html --csv rounds.csv`: the
 * dashboard's charts as static files (rendered server-side from the same definitions), and the
 * rounds as CSV.
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { reportHtml, reportSvg, roundsCsv } from '../viz/report';
import { InputError, loadResult, titleOf } from '../viz/result-file';

export interface ReportFlags {
  svg?: string;
  html?: string;
  csv?: string;
}

/** Writes the requested files; returns their paths. */
export function report(files: string[], flags: ReportFlags): string[] {
  if (!flags.svg && !flags.html && !flags.csv)
    throw new InputError('give at least one of --svg, --html, --csv');
  if (flags.csv && files.length > 1)
    throw new InputError('--csv: takes one result (the rounds of one migration)');
  const runs = files.map((f) => ({ title: titleOf(f), result: loadResult(f) }));
  const written: string[] = [];
  const write = (path: string, text: string) => {
    writeFileSync(path, text);
    written.push(path);
  };
  if (flags.svg) write(flags.svg, reportSvg(runs));
  if (flags.html) write(flags.html, reportHtml(runs));
  if (flags.csv) write(flags.csv, roundsCsv(runs[0]!.result));
  return written;
}

export function reportCommand(): Command {
  return new Command('report')
    .description("write a result's charts as SVG or HTML and its rounds as CSV")
    .argument('<result>', 'a result JSON (precopy run --json, precopy import-qmp)')
    .argument('[other]', 'a second result, drawn beside the first (SVG, HTML)')
    .option('--svg <file>', 'every chart in one SVG')
    .option('--html <file>', 'a self-contained page: summary, charts, round table')
    .option('--csv <file>', 'one row per round')
    .action((result: string, other: string | undefined, flags: ReportFlags) => {
      try {
        for (const path of report(other ? [result, other] : [result], flags)) {
          process.stderr.write(`precopy report: wrote ${path}\n`);
        }
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        process.stderr.write(`precopy report: ${e.message}\n`);
        process.exitCode = 2;
      }
    });
}
