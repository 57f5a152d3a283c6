/** The `precopy` command line (placeholder until the CLI issue lands). */
export function main(argv: string[]): void {
  process.stdout.write(`precopy: not yet implemented (${argv.join(' ')})\n`);
}
