#!/usr/bin/env node
// The `precopy` command. Runs the TypeScript sources directly through sucrase's require hook
// (a fast transpile-only loader: about a third of ts-node's start-up time; `npm run typecheck`
// is where types are checked), so a fresh clone needs no build step.
'use strict';
require('sucrase/register/ts');
void require('../src/cli/main').main(process.argv.slice(2));
