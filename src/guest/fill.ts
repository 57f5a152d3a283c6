/**
 * Initial contents (`fill`): before the migration starts, `populated` bytes of memory hold data
 * of one content kind, on pages chosen by the seed and scattered over memory as a running
 * guest's are. Fill writes go through a vCPU like every other guest write (normally before dirty
 * logging is enabled). In the incrementer's region byte 0 is left zero, as the test guest's
 * counter bytes start, so the edge rule holds from the first pass.
 */
import type { Vcpu } from '../mmu/api';
import type { Rng } from '../util/rng';
import { PAGE_SIZE } from '../util/units';
import { fillPage } from './content';
import type { PageStates } from './page-states';
import type { ContentKind } from './spec';
import { Draws } from './workloads/generator';

export interface FillPlan {
  pages: number;
  populated: number;
  content: ContentKind;
  pool: Uint8Array;
  /** The incrementer's counter pages, whose byte 0 must start equal. */
  edge?: { firstPage: number; pages: number };
  /** Metadata-only guest: record each page's content kind here and write no bytes (same pages, same MMU work). */
  states?: PageStates;
}

/** Write the fill through `vcpu`; returns the number of pages written. */
export function fillMemory(plan: FillPlan, vcpu: Vcpu, rng: Rng): number {
  const wanted = plan.populated / PAGE_SIZE;
  const select = new Draws(rng.u32());
  const contentRng = rng.fork();
  const page = new Uint8Array(PAGE_SIZE);
  const edgeFirst = plan.edge?.firstPage ?? 0;
  const edgeEnd = edgeFirst + (plan.edge?.pages ?? 0);
  let written = 0;
  // Selection sampling (Knuth's algorithm S): exactly `wanted` pages, in ascending order.
  for (let gfn = 0; gfn < plan.pages && written < wanted; gfn++) {
    if (select.below(plan.pages - gfn) >= wanted - written) continue;
    if (plan.states) plan.states.fill(gfn, plan.content);
    else {
      fillPage(page, plan.pool, plan.content, gfn, contentRng);
      if (gfn >= edgeFirst && gfn < edgeEnd) page[0] = 0;
    }
    const result = vcpu.write(gfn * PAGE_SIZE, page);
    if (result !== 'ok') throw new Error(`fill: vCPU ${vcpu.id} could not write GFN ${gfn} (${result})`);
    written++;
  }
  return written;
}
