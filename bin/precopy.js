#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432 node --single-threaded-gc
// The `precopy` command. Runs the TypeScript sources directly through sucrase (register-ts.js)
// (a fast transpile-only loader: about a third of ts-node's start-up time; `npm run typecheck`
// is where types are checked), so a fresh clone needs no build step. The shebang is
// src/cli/node-flags.ts's shebang(): one GC thread, glibc malloc keeping its memory (a test keeps
// the two the same; a shebang this long needs Linux 5.1 or later, which allows 255 bytes).
'use strict';
require('./register-ts');
void require('../src/cli/main').main(process.argv.slice(2));
