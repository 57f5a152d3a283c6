/**
 * Pre-copy, hybrid postcopy, auto-converge and dirty-limit on writers that do not converge:
 * the points of sweep.json (rates × strategies) run one by one in process, then a table
 * (stdout, markdown), compare.csv and one grouped-bar SVG per figure. Run from the repo root:
 *
 *   node -r ./bin/register-ts.js examples/strategies/postcopy/compare.ts
 *
 * `precopy sweep examples/strategies/postcopy/sweep.json --csv examples/strategies/postcopy/table.csv`
 * gives the same runs as a sweep table (mean/sd/min/max, the §5.2 model).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario, type MigrationResult } from '../../../src/migration/index';
import { renderChartSvg } from '../../../src/viz/svg';

const DIR = __dirname;
const spec = JSON.parse(readFileSync(join(DIR, 'sweep.json'), 'utf8')) as {
  base: { guest: object; migration: object; run: object };
  grid: { 'guest.workload.rate': string[] };
  list: Record<string, unknown>[];
};
const STRATEGIES = ['pre-copy', 'postcopy (after 2 rounds)', 'auto-converge', 'dirty-limit'];

/** Set `path` (dotted) in a copy of the scenario. */
function set(scenario: Record<string, Record<string, unknown>>, path: string, value: unknown) {
  const [part, ...rest] = path.split('.');
  let at = (scenario[part!] = { ...scenario[part!] });
  for (const key of rest.slice(0, -1)) at = at[key] = { ...(at[key] as object) } as Record<string, unknown>;
  at[rest.at(-1)!] = value;
}

interface Row {
  rate: string;
  strategy: string;
  status: string;
  stopReason: string;
  totalTime: number;
  downtime: number;
  slowdown: number;
  blocktime: number;
  requests: number;
  verified: boolean;
}

function row(rate: string, strategy: string, r: MigrationResult): Row {
  const s = r.precopy.guestSlowdown;
  return {
    rate,
    strategy,
    status: r.status,
    stopReason: r.precopy.stopReason ?? '',
    totalTime: r['total-time'],
    downtime: r.downtime,
    slowdown: (s?.share ?? 0) * 100,
    blocktime: s?.blocktimeMs ?? 0,
    requests: r.precopy.postcopy?.['postcopy-requests'] ?? 0,
    verified: r.precopy.verification?.passed === true,
  };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const rate of spec.grid['guest.workload.rate'])
    for (const [i, entry] of spec.list.entries()) {
      const scenario = structuredClone(spec.base) as unknown as Record<string, Record<string, unknown>>;
      set(scenario, 'guest.workload.rate', rate);
      for (const [path, value] of Object.entries(entry)) set(scenario, path, value);
      rows.push(row(rate, STRATEGIES[i]!, await runScenario(scenario)));
    }
  const csv = [
    'rate,strategy,status,stopReason,totalTime_ms,downtime_ms,slowdown_pct,blocktime_ms,postcopyRequests,verified',
    ...rows.map((r) =>
      [
        r.rate,
        r.strategy,
        r.status,
        r.stopReason,
        r.totalTime,
        r.downtime,
        r.slowdown,
        r.blocktime,
        r.requests,
        r.verified,
      ].join(','),
    ),
  ];
  writeFileSync(join(DIR, 'compare.csv'), `${csv.join('\n')}\n`);
  const figures: [keyof Row, string, string][] = [
    ['totalTime', 'Total time', 'ms'],
    ['downtime', 'Downtime', 'ms'],
    ['slowdown', 'Guest slowdown', '% of its run time'],
    ['blocktime', 'Postcopy blocktime (mean per vCPU)', 'ms'],
  ];
  const rates = spec.grid['guest.workload.rate'];
  for (const [key, title, unit] of figures) {
    const option = {
      animation: false,
      title: {
        text: title,
        subtext: 'hotcold writer, 64 MiB guest, max-bandwidth 128 MiB/s, downtime-limit 30 ms',
        left: 'center',
        textStyle: { fontSize: 13 },
        subtextStyle: { fontSize: 10 },
      },
      legend: { bottom: 0, textStyle: { fontSize: 10 } },
      grid: { top: 60, bottom: 60, left: 60, right: 20 },
      xAxis: { type: 'category', data: rates, name: 'write rate', nameLocation: 'middle', nameGap: 24 },
      yAxis: { type: 'value', name: unit },
      series: STRATEGIES.map((strategy) => ({
        name: strategy,
        type: 'bar',
        label: {
          show: true,
          position: 'top',
          fontSize: 9,
          formatter: ({ value }: { value: number }) => (value >= 100 ? value.toFixed(0) : value.toFixed(1)),
        },
        data: rates.map(
          (rate) => rows.find((r) => r.rate === rate && r.strategy === strategy)![key] as number,
        ),
      })),
    };
    writeFileSync(
      join(DIR, `${key}.svg`),
      `${renderChartSvg(option as never, { width: 640, height: 360 })}\n`,
    );
  }
  const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
  console.log(
    '| rate | strategy | ends | total time (ms) | downtime (ms) | slowdown (%) | blocktime (ms) | verified |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.rate} | ${r.strategy} | ${r.stopReason} | ${fmt(r.totalTime)} | ${fmt(r.downtime)} | ${fmt(r.slowdown)} | ${fmt(r.blocktime)} | ${r.verified ? 'yes' : 'no'} |`,
    );
}

void main();
