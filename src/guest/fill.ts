/**
 * Initial contents (`fill`): before the migration starts, `populated` bytes of memory hold data
 * of one content kind, on pages chosen by the seed and scattered over memory as a running
 * guest's are. In the incrementer's region byte 0 is left zero, as the test guest's counter
 * bytes start, so the edge rule holds from the first pass.
 *
 * A running guest's memory is already mapped when a migration starts, so by default the fill
 * records the contents (bytes into host memory, or page states) and asks the MMU to map the
 * populated ranges as the guest's first writes would have (Vm.mapBootMemory): the same SPTEs,
 * without a fault per page. `boot: 'faulted'` writes every page through vCPU 0 instead, each
 * write faulting it in: the reference the mapped boot is tested against.
 */
import type { HostMemory, Vcpu, Vm } from '../mmu/api';
import type { Rng } from '../util/rng';
import { PAGE_SIZE } from '../util/units';
import { fillPage } from './content';
import type { PageStates } from './page-states';
import type { ContentKind } from './spec';
import { Draws } from './workloads/generator';

export type BootMemory = 'mapped' | 'faulted';

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

/** Where the fill goes: the memslot's VM and host memory, and how the pages get mapped. */
export interface FillTarget {
  vm: Vm;
  slot: number;
  /** The memslot's backing; a stored page's bytes are written here (not for a metadata-only guest). */
  memory: HostMemory;
  boot: BootMemory;
}

/** Populated ranges handed to the MMU per mapBootMemory call. */
const RANGES_PER_CALL = 4096;

/** Write the fill and map (or fault in) its pages; returns the number of pages written. */
export function fillMemory(plan: FillPlan, target: FillTarget, rng: Rng): number {
  const wanted = plan.populated / PAGE_SIZE;
  const select = new Draws(rng.u32());
  const contentRng = rng.fork();
  const page = new Uint8Array(PAGE_SIZE);
  const edgeFirst = plan.edge?.firstPage ?? 0;
  const edgeEnd = edgeFirst + (plan.edge?.pages ?? 0);
  const mapper = target.boot === 'mapped' ? new RangeMapper(target.vm, target.slot) : null;
  const vcpu = target.vm.vcpus[0]!;
  let written = 0;
  // Selection sampling (Knuth's algorithm S): exactly `wanted` pages, in ascending order.
  for (let gfn = 0; gfn < plan.pages && written < wanted; gfn++) {
    if (select.below(plan.pages - gfn) >= wanted - written) continue;
    if (plan.states) plan.states.fill(gfn, plan.content);
    else {
      fillPage(page, plan.pool, plan.content, gfn, contentRng);
      if (gfn >= edgeFirst && gfn < edgeEnd) page[0] = 0;
    }
    if (mapper !== null) {
      if (!plan.states) target.memory.writable(gfn).set(page);
      mapper.add(gfn);
    } else faultIn(vcpu, gfn, page);
    written++;
  }
  mapper?.flush();
  return written;
}

/** The guest's first write to a page: through the vCPU, faulting the page in. */
function faultIn(vcpu: Vcpu, gfn: number, page: Uint8Array): void {
  const result = vcpu.write(gfn * PAGE_SIZE, page);
  if (result !== 'ok') throw new Error(`fill: vCPU ${vcpu.id} could not write GFN ${gfn} (${result})`);
}

/** Gathers ascending pages into [start, end) runs and hands them to the MMU a batch at a time. */
class RangeMapper {
  private readonly ranges = new Float64Array(2 * RANGES_PER_CALL);
  private count = 0;

  constructor(
    private readonly vm: Vm,
    private readonly slot: number,
  ) {}

  add(page: number): void {
    const last = 2 * this.count - 1;
    if (this.count > 0 && this.ranges[last] === page) {
      this.ranges[last] = page + 1;
      return;
    }
    if (this.count === RANGES_PER_CALL) this.flush();
    this.ranges[2 * this.count] = page;
    this.ranges[2 * this.count + 1] = page + 1;
    this.count++;
  }

  flush(): void {
    this.vm.mapBootMemory(this.slot, this.ranges, this.count);
    this.count = 0;
  }
}
