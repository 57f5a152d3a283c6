/**
 * The destination's proof: the rebuilt image hashes equal to the source's paused image, and,
 * when the HELLO named an incrementer region, QEMU's single-edge rule holds over it
 * (research/live-migration.md §6: byte 0 of each page equals the previous page's except at
 * exactly one place where it is one less, mod 256).
 */
import { checkEdgeRule, type SparseMemory } from '../guest/index';
import type { EdgeCheck } from '../wire/verdict';

/** Checks the edge rule over [firstPage, firstPage + pages). */
export type EdgeChecker = (memory: SparseMemory, firstPage: number, pages: number) => EdgeCheck;

/** The guest's checkEdgeRule, reported in the verdict's terms (with the bad page's neighbour). */
export const guestEdgeChecker: EdgeChecker = (memory, firstPage, pages) => {
  const result = checkEdgeRule(memory, firstPage, pages);
  const check: EdgeCheck = { passed: result.passed, badPages: result.bad };
  if (result.edgePage !== undefined) check.edgePage = result.edgePage;
  if (result.firstBadPage !== undefined) {
    check.firstBadPage = result.firstBadPage;
    check.value = memory.read(result.firstBadPage)[0]!;
    check.previousValue = memory.read(result.firstBadPage - 1)[0]!;
    check.values = result.values?.slice(0, 10);
  }
  return check;
};

export interface ImageVerdict {
  passed: boolean;
  destinationHash: string;
  edgeCheck?: EdgeCheck;
  reason?: string;
}

export function verifyImage(
  memory: SparseMemory,
  sourceHash: string,
  edge: { firstPage: number; pages: number; check: EdgeChecker } | undefined,
): ImageVerdict {
  const destinationHash = memory.imageHash();
  const reasons: string[] = [];
  if (destinationHash !== sourceHash)
    reasons.push(`image hash ${destinationHash} differs from the source's ${sourceHash}`);
  let edgeCheck: EdgeCheck | undefined;
  if (edge) {
    edgeCheck = edge.check(memory, edge.firstPage, edge.pages);
    if (!edgeCheck.passed)
      reasons.push(
        `edge rule broken at ${edgeCheck.badPages} page(s); first bad page ${edgeCheck.firstBadPage} holds ${edgeCheck.value} after ${edgeCheck.previousValue}`,
      );
  }
  return {
    passed: reasons.length === 0,
    destinationHash,
    ...(edgeCheck ? { edgeCheck } : {}),
    // The verdict frame carries at most 1 KiB of reason.
    ...(reasons.length ? { reason: reasons.join('; ').slice(0, 1024) } : {}),
  };
}
