import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import type { MigrationResult } from '../../src/migration/result';

describe('examples/wall-ws (npm start): wall clock, two processes over WebSocket', () => {
  it('migrates to its own destination process, verifies, and reports measured downtime at both ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-wall-'));
    const json = join(dir, 'result.json');
    process.exitCode = 0;
    try {
      await main([
        'run',
        join(__dirname, '..', '..', 'examples', 'wall-ws', 'scenario.json'),
        '--quiet',
        '--json',
        json,
      ]);
      expect(process.exitCode).toBe(0);
      const r = JSON.parse(readFileSync(json, 'utf8')) as MigrationResult;
      expect(r.status).toBe('completed');
      expect(r.precopy.clock).toBe('wall');
      expect(r.precopy.verification?.passed).toBe(true);
      expect(r.downtime).toBeGreaterThan(0);
      expect(r.precopy.destinationDowntime).toBeGreaterThan(0);
      expect(r.precopy.downtimeBreakdown.finalSend).toBeGreaterThan(0);
      expect((r.precopy.scenario as { run: { dest: string } }).run.dest).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      process.exitCode = 0;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
