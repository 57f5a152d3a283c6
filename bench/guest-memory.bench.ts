/**
 * Resident size of a 64 GiB guest with 1 GiB touched (the default fill, pages scattered over
 * memory as a running guest's are), with dirty logging on and a dirty-meter window open, as
 * during a migration. Goal: ≤ 1.2 GiB. Baseline in the same run: the process's resident size
 * before the guest exists; the floor is the 1 GiB of page bytes themselves. Also the canonical
 * image hash's speed over the touched GiB (a 16 GiB image must hash in seconds).
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Guest, parseGuestSpec } from '../src/guest';
import { virtualClock } from '../src/util/clock';

const GiB = 1024 ** 3;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

gc();
const baseline = process.memoryUsage().rss;
const start = performance.now();
const guest = Guest.create(
  parseGuestSpec({ memory: '64GiB', fill: { populated: '1GiB', content: 'random' } }),
  virtualClock(),
);
const createMs = performance.now() - start;
guest.setDirtyLogging(true);
const window = guest.meter.open({ regionPages: 262144 });
gc();
const usage = process.memoryUsage();
const guestBytes = usage.rss - baseline;
const hashStart = performance.now();
guest.bytes.imageHash();
const hashMs = performance.now() - hashStart;
process.stdout.write(
  JSON.stringify({
    benchmark: 'resident size of a 64 GiB guest with 1 GiB touched',
    allocatedPages: guest.bytes.allocatedPages,
    guestResidentGiB: Number((guestBytes / GiB).toFixed(3)),
    goalGiB: 1.2,
    baselineRssGiB: Number((baseline / GiB).toFixed(3)),
    rssGiB: Number((usage.rss / GiB).toFixed(3)),
    arrayBuffersGiB: Number((usage.arrayBuffers / GiB).toFixed(3)),
    heapUsedMiB: Math.round(usage.heapUsed / 2 ** 20),
    overheadOverPageBytes: Number((guestBytes / GiB - 1).toFixed(3)),
    createAndFillMs: Math.round(createMs),
    windowDistinct: window.distinct,
    imageHashMs: Math.round(hashMs),
    imageHashGiBPerSecond: Number((1000 / hashMs).toFixed(2)),
    loadavg: loadavg()[0],
  }) + '\n',
);
