import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import madge from 'madge';

const root = join(__dirname, '..', '..');
// Every TypeScript root tsconfig.json compiles.
const ROOTS = ['src', 'machines', 'test', 'bench', 'examples'];

/** madge over `paths` as `npm run circles` runs it: .ts files, imports resolved by tsconfig.json, type-only imports counted. */
async function graph(paths: string[], baseDir: string) {
  // madge's TypeScript parser reads a node field typescript-eslint has deprecated, once per file.
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    return await madge(paths, { baseDir, fileExtensions: ['ts'], tsConfig: join(root, 'tsconfig.json') });
  } finally {
    process.noDeprecation = quiet;
  }
}

describe('import graph', () => {
  it('has no circle, type-only imports included', async () => {
    const result = await graph(ROOTS, root);
    expect(result.circular()).toEqual([]);
    // The graph is real: an edge the layering relies on is in it, and every relative import resolved.
    expect(result.obj()['src/dest/destination.ts']).toContain('src/link/types.ts');
    expect(result.warnings().skipped.filter((s) => s.startsWith('.'))).toEqual([]);
  });

  it('dest and link do not import each other: link defines the Acceptor the destination implements', async () => {
    const deps = (await graph(['src/link', 'src/dest'], root)).obj();
    const linkToDest = Object.entries(deps).filter(
      ([file, to]) => file.startsWith('src/link/') && to.some((t) => t.startsWith('src/dest/')),
    );
    expect(linkToDest).toEqual([]);
  });

  it('reports a circle made only of type imports (negative: the check can fail)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-circle-'));
    try {
      writeFileSync(join(dir, 'a.ts'), "import type { B } from './b';\nexport interface A { b?: B }\n");
      writeFileSync(join(dir, 'b.ts'), "import type { A } from './a';\nexport interface B { a?: A }\n");
      writeFileSync(join(dir, 'c.ts'), "import type { A } from './a';\nexport type C = A;\n");
      const result = await graph([dir], dir);
      expect(result.circular()).toEqual([['a.ts', 'b.ts']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
