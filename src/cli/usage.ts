/**
 * What every scenario-taking command shares, kept apart from the commands themselves so a light
 * one (`predict`) does not load a heavy one's modules (`run`: the engine, the dashboard).
 */
import { CommanderError } from 'commander';
import { readFileSync } from 'node:fs';

/** Bad usage: commander's exit code 2 path, with the message already written. */
export function usageError(message: string): CommanderError {
  process.stderr.write(`precopy: ${message}\n`);
  return new CommanderError(2, 'precopy.usage', message);
}

export function readScenarioFile(file: string | undefined): unknown {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw usageError(`cannot read scenario ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw usageError(`scenario ${file} is not JSON: ${(e as Error).message}`);
  }
}
