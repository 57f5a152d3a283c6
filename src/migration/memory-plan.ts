/**
 * Will this migration fit in this machine's memory, and with which page backing
 * (guest/memory.ts)? Decided before anything is allocated, so a guest too big for the machine is
 * refused with one error naming the field, the estimate and the way out, instead of running the
 * machine out of memory.
 *
 * The estimate is an upper bound built from per-page costs measured on this project's guests
 * (README "Modes and backings"): what every guest costs (the MMU after dirty logging splits its
 * mappings into 4K SPTEs, TLBs, bitmaps), plus the backing's own cost at the source, plus the
 * destination's when it runs on this machine (in process, or a `precopy dest` child over ws).
 * Stored pages cost their bytes at both ends: the populated pages and those the workload can touch.
 */
import os from 'node:os';
import type { Backing } from '../guest/memory';
import type { WorkloadSpec } from '../guest/spec';
import { formatBytes, PAGE_SIZE } from '../util/units';
import { badScenario, type ConfigError } from '../config/error';
import type { Scenario } from './scenario';

export type Mode = 'full' | 'fast';

/** The process's own floor: Node, the loaded code, content pools, frame buffers. */
export const BASE_BYTES = 256 * 1024 ** 2;
/** Every guest, per page: 4K SPTEs after the eager split (8), TLB byte and bits, bitmaps, meters, page tables above. */
export const MMU_BYTES_PER_PAGE = 12;
/** Per page of the backing itself, at the source. */
export const BACKING_BYTES_PER_PAGE: Record<Backing, number> = {
  /** The page-number index; the bytes are counted per stored page. */
  stored: 4,
  /** Content state, write generation, digest memo and its generation. */
  generated: 13,
  /** Content state. */
  metadata: 1,
};
/** A local destination, per page: the digests it keeps as pages arrive (+ the index of its bytes). */
const DESTINATION_BYTES_PER_PAGE: Record<'bytes' | 'digests', number> = { bytes: 8, digests: 4 };
/** `auto` keeps real bytes while their estimate stays under this much of the available memory... */
const STORED_SHARE = 0.5;
/** ...and under this many bytes (beyond it the generated backing is as exact, and faster to set up). */
const STORED_CEILING = 8 * 1024 ** 3;
/** No plan may take more than this share of the memory available now. */
const FIT_SHARE = 0.85;

export interface MemoryPlan {
  mode: Mode;
  backing: Backing;
  /** Estimated peak bytes of this migration on this machine (source and a local destination). */
  estimate: number;
  /** Memory available when the plan was made (MemAvailable, or the cgroup's limit if lower). */
  available: number;
  /** What this mode and backing do not measure (shown in the summary and the result). */
  notMeasured: string[];
}

/** Memory this process may still use: the kernel's MemAvailable, capped by a cgroup limit. */
export function availableMemory(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const free = os.freemem();
  return constrained > 0 && constrained < free ? constrained : free;
}

/** Pages the workload may write over the migration (stored pages it can bring into existence). */
function touchedPages(w: WorkloadSpec, pages: number, horizonMs: number): number {
  const writes = (rate: number) => Math.ceil((rate / PAGE_SIZE) * (horizonMs / 1000));
  switch (w.kind) {
    case 'idle':
      return Math.min(pages, writes(w.rate));
    case 'uniform':
    case 'sequential':
    case 'incrementer':
      return w.size / PAGE_SIZE;
    case 'hotcold':
      return Math.min(pages, w.hot / PAGE_SIZE + writes(w.rate * (1 - w.hotShare)));
    case 'phased':
      return Math.min(
        pages,
        w.phases.reduce((n, p) => n + touchedPages(p.workload as WorkloadSpec, pages, horizonMs), 0),
      );
    case 'replay':
      return pages;
  }
}

/** Bytes each backing would need for this scenario on this machine. */
export function estimateBytes(scenario: Scenario, backing: Backing): number {
  const pages = scenario.guest.memory / PAGE_SIZE;
  const perPage = MMU_BYTES_PER_PAGE + BACKING_BYTES_PER_PAGE[backing];
  const localDestination = backing !== 'metadata' && scenario.run.dest === undefined;
  let bytes = BASE_BYTES + pages * perPage;
  if (localDestination)
    bytes += pages * DESTINATION_BYTES_PER_PAGE[backing === 'stored' ? 'bytes' : 'digests'];
  if (backing === 'stored') {
    // The bulk round alone runs at least memory / bandwidth; a workload writes for the whole migration.
    const horizon = Math.min(scenario.migration.timeout, 10 * 60_000);
    const touched = Math.min(
      pages,
      scenario.guest.fill.populated / PAGE_SIZE + touchedPages(scenario.guest.workload, pages, horizon),
    );
    bytes += touched * PAGE_SIZE * (localDestination ? 2 : 1);
  }
  return bytes;
}

const NOT_MEASURED: Record<Backing, string[]> = {
  stored: [],
  generated: [
    'page bytes are generated from (seed, page, write generation, content), not the workload’s exact stores; sizes are real lz4 of those pages',
    'the destination keeps digests, not bytes: no XBZRLE, and a resumed guest has no memory to run on',
  ],
  metadata: [
    'no page contents: sizes of text, mixed and sparse pages are estimates from measured tables',
    'nothing is encoded, sent or verified; there is no destination',
  ],
};

/**
 * Choose the backing for `mode` and check the migration fits. Throws ConfigError (naming the
 * field, the estimate and the way out) when it does not.
 */
export function planMemory(scenario: Scenario, mode: Mode, available = availableMemory()): MemoryPlan {
  const budget = available * FIT_SHARE;
  const plan = (backing: Backing): MemoryPlan => ({
    mode,
    backing,
    estimate: estimateBytes(scenario, backing),
    available,
    notMeasured: NOT_MEASURED[backing],
  });
  if (mode === 'fast') {
    const fast = plan('metadata');
    if (fast.estimate > budget) throw tooBig('guest.memory', fast, budget, 'a smaller guest');
    return fast;
  }
  const xbzrle = scenario.migration.xbzrle;
  const chosen = scenario.run.backing;
  const stored = plan('stored');
  if (chosen === 'stored' || (chosen === 'auto' && xbzrle)) {
    if (stored.estimate <= budget) return stored;
    throw tooBig(
      chosen === 'stored' ? 'run.backing' : 'migration.xbzrle',
      stored,
      budget,
      xbzrle
        ? 'turn xbzrle off (it needs the pages’ bytes) so the generated backing can run it, or use mode fast'
        : 'backing generated or mode fast',
    );
  }
  const generated = plan('generated');
  if (chosen === 'auto' && stored.estimate <= Math.min(available * STORED_SHARE, STORED_CEILING))
    return stored;
  if (xbzrle)
    throw badScenario([
      {
        path: 'migration.xbzrle',
        message:
          'xbzrle needs the pages’ bytes at the destination; the generated backing keeps digests (use backing stored)',
      },
    ]);
  if (generated.estimate > budget) throw tooBig('guest.memory', generated, budget, 'mode fast');
  return generated;
}

function tooBig(path: string, plan: MemoryPlan, budget: number, wayOut: string): ConfigError {
  return badScenario([
    {
      path,
      message:
        `this migration needs about ${formatBytes(plan.estimate)} in ${plan.mode} mode with ${plan.backing} pages, ` +
        `more than ${formatBytes(budget)} (85 % of the ${formatBytes(plan.available)} this machine has available); ` +
        `use ${wayOut}`,
    },
  ]);
}
