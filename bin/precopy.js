#!/usr/bin/env node
// The `precopy` command. Runs the TypeScript sources directly (transpile only; `npm run
// typecheck` is where types are checked), so a fresh clone needs no build step.
'use strict';
const path = require('node:path');
require('ts-node').register({
  transpileOnly: true,
  project: path.join(__dirname, '..', 'tsconfig.json'),
});
void require('../src/cli/main').main(process.argv.slice(2));
