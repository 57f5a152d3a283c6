#!/usr/bin/env node
// precopy from a plain Node script: predict a migration, run it in process with a
// MigrationControl (a live set-parameters after round 2), and print what both say.
// Run: node examples/library/run.js [result.json]   (from a clone: npm install first)
'use strict';
const { writeFileSync } = require('node:fs');
const { MigrationControl, predict, runScenario } = require('precopy');

const scenario = {
  guest: {
    memory: '64MiB',
    seed: 5,
    fill: { populated: '100%', content: 'random' },
    workload: { kind: 'uniform', rate: '24MiB/s' },
  },
  migration: { 'max-bandwidth': '32MiB/s', 'downtime-limit': '100ms', timeout: '30s' },
  run: { clock: 'virtual', transport: 'inproc', bandwidth: '1Gbit/s' },
};

async function main() {
  const prediction = predict(scenario);
  console.log(`model: ${prediction.precopy.model.verdict.text}`);

  const control = new MigrationControl();
  const result = await runScenario(scenario, {
    control,
    onEvent: (e) => {
      // Double the bandwidth once round 2 has closed: in force from the next rate window.
      if (e.type === 'round' && e.round.round === 2) control.setParameters({ 'max-bandwidth': '64MiB/s' });
    },
  });
  const rounds = result.precopy.rounds.length;
  console.log(`run:   ${result.status} in ${rounds} rounds, downtime ${result.downtime.toFixed(1)} ms`);
  for (const change of result.precopy.parameterChanges ?? [])
    console.log(
      `       max-bandwidth ${change['max-bandwidth'] / 2 ** 20} MiB/s from ${change.time.toFixed(0)} ms`,
    );
  console.log(`       verified: ${result.precopy.verification?.passed === true}`);
  if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify(result, null, 2) + '\n');
  process.exitCode = result.status === 'completed' ? 0 : 1;
}

main().catch((e) => {
  console.error(e.message);
  process.exitCode = 2;
});
