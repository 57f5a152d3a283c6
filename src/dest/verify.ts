/**
 * The destination's proof: the rebuilt image hashes equal to the source's paused image, and,
 * when the HELLO named an incrementer region, QEMU's single-edge rule holds over it
 * (research/live-migration.md §6: byte 0 of each page equals the previous page's except at
 * exactly one place where it is one less, mod 256). The image is inspected right after the
 * guest resumed (before its first write), the source's hash compared once VERIFY brings it.
 */
import { checkEdgeRule, type CounterBytes } from '../guest/edge-rule';
import type { EdgeCheck } from '../wire/verdict';

/** Checks the edge rule over [firstPage, firstPage + pages). */
export type EdgeChecker = (memory: CounterBytes, firstPage: number, pages: number) => EdgeCheck;

/** The guest's checkEdgeRule, reported in the verdict's terms (with the bad page's neighbour). */
export const guestEdgeChecker: EdgeChecker = (memory, firstPage, pages) => {
  const result = checkEdgeRule(memory, firstPage, pages);
  const check: EdgeCheck = { passed: result.passed, badPages: result.bad };
  if (result.edgePage !== undefined) check.edgePage = result.edgePage;
  if (result.firstBadPage !== undefined) {
    check.firstBadPage = result.firstBadPage;
    check.value = memory.byte0(result.firstBadPage);
    check.previousValue = memory.byte0(result.firstBadPage - 1);
    check.values = result.values?.slice(0, 10);
  }
  return check;
};

export interface EdgeRegion {
  firstPage: number;
  pages: number;
  check: EdgeChecker;
}

/** What the image holds at resume: its hash and the edge rule. */
export interface ImageInspection {
  destinationHash: string;
  edgeCheck?: EdgeCheck;
}

export function inspectImage(
  memory: CounterBytes & { imageHash(): string },
  edge: EdgeRegion | undefined,
): ImageInspection {
  const destinationHash = memory.imageHash();
  return edge
    ? { destinationHash, edgeCheck: edge.check(memory, edge.firstPage, edge.pages) }
    : { destinationHash };
}

export interface ImageVerdict {
  passed: boolean;
  destinationHash: string;
  edgeCheck?: EdgeCheck;
  reason?: string;
}

function edgeReason(check: EdgeCheck): string {
  return `edge rule broken at ${check.badPages} page(s); first bad page ${check.firstBadPage} holds ${check.value} after ${check.previousValue}`;
}

/** The inspection against the source's hash. */
export function judgeImage(inspection: ImageInspection, sourceHash: string): ImageVerdict {
  const reasons: string[] = [];
  if (inspection.destinationHash !== sourceHash)
    reasons.push(`image hash ${inspection.destinationHash} differs from the source's ${sourceHash}`);
  if (inspection.edgeCheck && !inspection.edgeCheck.passed) reasons.push(edgeReason(inspection.edgeCheck));
  return {
    passed: reasons.length === 0,
    destinationHash: inspection.destinationHash,
    ...(inspection.edgeCheck ? { edgeCheck: inspection.edgeCheck } : {}),
    // The verdict frame carries at most 1 KiB of reason.
    ...(reasons.length ? { reason: reasons.join('; ').slice(0, 1024) } : {}),
  };
}

/** Inspect and judge in one go (tests, and an image checked without a resume). */
export function verifyImage(
  memory: CounterBytes & { imageHash(): string },
  sourceHash: string,
  edge: EdgeRegion | undefined,
): ImageVerdict {
  return judgeImage(inspectImage(memory, edge), sourceHash);
}

export { edgeReason };
