/** Shared by the link and destination tests: a small guest and one whole migration. */
import { SparseMemory } from '../../src/guest/sparse-memory';
import type { DestinationVerdict, SourceSession } from '../../src/link/index';
import { Rng } from '../../src/util/rng';

export const TOKEN = 'test-token';

/** A guest of `pages` pages: a third zero, a third text-like, a third random. */
export function makeGuest(pages: number, seed: number): SparseMemory {
  const rng = new Rng(seed);
  const memory = new SparseMemory(pages);
  for (let gfn = 0; gfn < pages; gfn++) {
    const kind = gfn % 3;
    if (kind === 0) continue;
    const page = memory.writable(gfn);
    if (kind === 1) for (let i = 0; i < page.length; i++) page[i] = 97 + ((i + gfn) % 26);
    else rng.fill(page);
  }
  return memory;
}

/** Dirty `count` random pages with small edits; returns their gfns. */
export function dirty(memory: SparseMemory, count: number, rng: Rng): Uint32Array {
  const gfns = new Set<number>();
  while (gfns.size < Math.min(count, memory.pages)) gfns.add(rng.int(memory.pages));
  for (const gfn of gfns) memory.writable(gfn)[rng.int(4096)] ^= 1 + rng.int(255);
  return Uint32Array.from(gfns);
}

export function allPages(memory: SparseMemory): Uint32Array {
  return Uint32Array.from({ length: memory.pages }, (_, i) => i);
}

/** Bulk round, `liveRounds` dirty rounds, stop-and-copy, vCPU state, the handshake, verify. */
export async function migrate(
  session: SourceSession,
  memory: SparseMemory,
  liveRounds = 2,
  seed = 1,
): Promise<DestinationVerdict> {
  const rng = new Rng(seed);
  await session.hello({ pages: memory.pages, pageSize: 4096 });
  let gfns = allPages(memory);
  for (let round = 0; round <= liveRounds + 1; round++) {
    const final = round === liveRounds + 1;
    await session.startRound(round, { final });
    await session.sendPages(gfns, gfns.length, memory);
    await session.endRound(round);
    if (!final) gfns = dirty(memory, 20, rng);
  }
  await session.sendVcpuState(Uint8Array.from([1, 2, 3, 4]));
  return switchover(session, memory);
}

/** PREPARE → READY, GO → RESUMED, VERIFY → VERDICT. */
export async function switchover(session: SourceSession, memory: SparseMemory): Promise<DestinationVerdict> {
  await session.prepare();
  await session.go();
  return session.verify(memory.imageHash());
}
