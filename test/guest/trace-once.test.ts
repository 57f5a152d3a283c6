import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Guest, parseGuestSpec } from '../../src/guest';
import { virtualClock } from '../../src/util/clock';

describe('a replay trace file is read once', () => {
  it('the guest replays the trace validation read, even once the file is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'precopy-trace-once-'));
    try {
      const file = join(dir, 'trace.txt');
      writeFileSync(file, '0 3\n10 100-120\n');
      const spec = parseGuestSpec({ memory: '1MiB', workload: { kind: 'replay', file } });
      rmSync(file);
      expect(() => Guest.create(spec, virtualClock())).not.toThrow();
      // Negative: a copy of the spec was never validated here, so building it reads the file again.
      expect(() => Guest.create(structuredClone(spec), virtualClock())).toThrow(/cannot read trace file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
