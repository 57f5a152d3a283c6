/**
 * `precopy report result.json [other.json] --svg out.svg --html out.html --csv rounds.csv`: the
 * dashboard's charts as static files (rendered server-side from the same definitions), and the
 * rounds as CSV.
 */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { reportHtml, reportSvg, roundsCsv } from '../viz/report';
import { parseOverlay } from './view';
import { InputError, loadResult, titleOf } from '../viz/result-file';

export interface ReportFlags {
  svg?: string;
  html?: string;
  csv?: string;
  png?: string;
  overlay?: string;
}

/** Writes the requested files; returns their paths. */
export async function report(files: string[], flags: ReportFlags): Promise<string[]> {
  if (!flags.svg && !flags.html && !flags.csv && !flags.png)
    throw new InputError('give at least one of --svg, --html, --png, --csv');
  const options = { overlay: parseOverlay(flags.overlay) };
  if (flags.csv && files.length > 1)
    throw new InputError('--csv: takes one result (the rounds of one migration)');
  const runs = files.map((f) => ({ title: titleOf(f), result: loadResult(f) }));
  const written: string[] = [];
  const write = (path: string, text: string) => {
    writeFileSync(path, text);
    written.push(path);
  };
  if (flags.svg) write(flags.svg, reportSvg(runs, options));
  if (flags.html) write(flags.html, reportHtml(runs, options));
  if (flags.png) {
    // The SVG report as a picture, drawn by the headless Chromium the browser tests use
    // (loaded only here: the other outputs do not pay for it).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand, typed by `typeof import`
    const { svgToPng } = require('../viz/chromium') as typeof import('../viz/chromium');
    await svgToPng(reportSvg(runs, options), flags.png);
    written.push(flags.png);
  }
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
    .option('--png <file>', 'the SVG report as a PNG (rendered by headless Chromium)')
    .option('--csv <file>', 'one row per round')
    .option('--overlay <align>', 'with two results: also both on shared charts, aligned by time or round')
    .action(async (result: string, other: string | undefined, flags: ReportFlags) => {
      try {
        for (const path of await report(other ? [result, other] : [result], flags)) {
          process.stderr.write(`precopy report: wrote ${path}\n`);
        }
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        process.stderr.write(`precopy report: ${e.message}\n`);
        process.exitCode = 2;
      }
    });
}
