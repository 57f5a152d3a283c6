import { Destination } from '../../src/dest/destination';
import { SparseMemory } from '../../src/guest/sparse-memory';
import { connectSource } from '../../src/link/index';
import { TOKEN, switchover } from '../link/helpers';

const PAGES = 64;
const EDGE = { firstPage: 8, pages: 48 };

/** QEMU's incrementer: byte 0 of pages [first, upTo) incremented once more than the rest. */
function increment(memory: SparseMemory, upTo: number): number[] {
  const touched: number[] = [];
  for (let gfn = EDGE.firstPage; gfn < upTo; gfn++) {
    memory.writable(gfn)[0] = (memory.read(gfn)[0]! + 1) & 0xff;
    touched.push(gfn);
  }
  return touched;
}

/** Bulk round, then a final round with the incremented pages minus `lose`. */
async function migrateIncrementer(lose: number | undefined) {
  const memory = new SparseMemory(PAGES);
  for (let gfn = 0; gfn < PAGES; gfn++) memory.writable(gfn)[100] = 1;
  const destination = new Destination({ token: TOKEN });
  const session = await connectSource({ transport: 'inproc', token: TOKEN, destination });
  await session.hello({ pages: PAGES, pageSize: 4096, edgeRegion: EDGE });
  await session.startRound(0);
  await session.sendPages(
    Uint32Array.from({ length: PAGES }, (_, i) => i),
    PAGES,
    memory,
  );
  await session.endRound(0);
  const dirty = increment(memory, 31).filter((gfn) => gfn !== lose);
  await session.startRound(1, { final: true });
  await session.sendPages(dirty, dirty.length, memory);
  await session.endRound(1);
  await session.sendVcpuState(Uint8Array.of(1));
  return switchover(session, memory);
}

test('the edge rule passes over a faithful copy and reports where the incrementer stopped', async () => {
  const verdict = await migrateIncrementer(undefined);
  expect(verdict).toMatchObject({ passed: true, edgeCheck: { passed: true, badPages: 0, edgePage: 31 } });
});

test('a lost dirty page breaks the edge rule: the verdict names the first bad page and its values', async () => {
  const verdict = await migrateIncrementer(20);
  // Page 20 kept its old 0 between 1s: the drop at 20 looks like the edge, the rise at 21 and
  // the real edge at 31 are then bad.
  expect(verdict).toMatchObject({
    passed: false,
    edgeCheck: { passed: false, badPages: 2, firstBadPage: 21, value: 1, previousValue: 0, values: [1, 0] },
  });
  expect(verdict.reason).toMatch(/image hash .* differs/);
  expect(verdict.reason).toMatch(/edge rule broken at 2 page\(s\); first bad page 21 holds 1 after 0/);
});
