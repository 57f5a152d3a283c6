// precopy's library entry (package.json "main" / "exports"): plain Node loads the TypeScript
// sources through the same transpile-only loader as bin/precopy.js, so there is no build step.
// Types: src/api.ts ("types").
'use strict';
require('../bin/register-ts');
module.exports = require('../src/api');
