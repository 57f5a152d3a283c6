#!/usr/bin/env node
// A sweep from a plain Node script: the spec `precopy sweep` reads, on worker threads, resumable
// through its results file. Run: node examples/library/sweep.js [results.jsonl]
'use strict';
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const { runSweep } = require('precopy');

const spec = {
  base: {
    guest: { memory: '64MiB', workload: { kind: 'uniform', rate: '100MiB/s' } },
    migration: { 'max-bandwidth': '1GiB/s', 'downtime-limit': '300ms', timeout: '20s' },
    run: { bandwidth: '1GiB/s' },
  },
  grid: { 'guest.workload.rate': ['100MiB/s', '900MiB/s'], 'run.bandwidth': ['1Gbit/s', '10Gbit/s'] },
  mode: 'fast',
};

runSweep(spec, { out: process.argv[2] ?? join(tmpdir(), `precopy-sweep-${process.pid}.jsonl`), workers: 1 })
  .then(({ records, progress }) => {
    console.log(`${progress.done}/${progress.total} runs`);
    for (const r of records)
      console.log(
        `${JSON.stringify(r.coords)}: ${r.result ? `${r.result.status}, ${r.result.precopy.rounds.length} rounds` : r.error}`,
      );
  })
  .catch((e) => {
    console.error(e.message);
    process.exitCode = 2;
  });
