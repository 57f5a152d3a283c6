/** The command line run in this process for the CLI tests: what it prints and its exit code. */
import { main } from '../../src/cli/main';

export async function precopy(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = (sink: 'out' | 'err') => (chunk: string | Uint8Array) => {
    if (sink === 'out') out += chunk.toString();
    else err += chunk.toString();
    return true;
  };
  const outSpy = jest.spyOn(process.stdout, 'write').mockImplementation(write('out') as never);
  const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation(write('err') as never);
  process.exitCode = 0;
  try {
    await main(argv);
  } finally {
    outSpy.mockRestore();
    errSpy.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, out, err };
}
