// The TypeScript loader of bin/precopy.js: sucrase's transform (transpile only, as
// sucrase/register/ts does) with the output kept on disk, keyed by a hash of the source, so a
// command's second start reads JavaScript instead of loading sucrase and transpiling every
// module again (about two thirds of `precopy predict`'s start-up). A changed file has a new key,
// so a stale entry is never read; if the cache cannot be written, modules are transpiled as before.
'use strict';
const Module = require('node:module');
const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const CACHE = join(__dirname, '..', 'node_modules', '.cache', 'precopy-ts');
const OPTIONS = { transforms: ['imports', 'typescript'] };
let sucrase;
let version;

function transpile(source, filename) {
  sucrase ??= require('sucrase');
  return sucrase.transform(source, { ...OPTIONS, filePath: filename }).code;
}

Module._extensions['.ts'] = function loadTypeScript(module, filename) {
  const source = readFileSync(filename, 'utf8');
  version ??= require('sucrase/package.json').version;
  const key = createHash('sha1').update(`${version}\0${filename}\0`).update(source).digest('hex');
  const file = join(CACHE, `${key}.js`);
  let code;
  try {
    code = readFileSync(file, 'utf8');
  } catch {
    code = transpile(source, filename);
    try {
      mkdirSync(CACHE, { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, code);
      renameSync(temporary, file);
    } catch {
      // A read-only checkout: transpile every time.
    }
  }
  module._compile(code, filename);
};
