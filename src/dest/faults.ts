/**
 * The fault plan's destination part (src/config/faults.ts), applied by wrapping what the
 * destination applies pages to and its recovery table, when a fault is on. The multifd barrier
 * (`noBarrier`) is read by the channel set at each SYNC: it is the barrier's own logic, once per
 * round and channel, not a seam an object could be wrapped at.
 */
import type { DestFaults } from '../config/faults';
import type { PageSink } from '../wire/pages';
import type { DestinationImage } from './image';
import type { OutcomeTable } from './outcomes';

/**
 * The sink the receiver applies pages to: `image` itself, or, with an apply fault on, a wrapper
 * that corrupts every page applied and/or loses the first page of the stop-and-copy round
 * (`finalRoundUnwritten`: the final round has begun and none of its pages was counted yet).
 */
export function applySink(
  image: DestinationImage,
  faults: DestFaults,
  finalRoundUnwritten: () => boolean,
): PageSink {
  if (!faults.corruptAppliedPage && !faults.dropFinalPage) return image;
  let dropped = false;
  let restoring = -1;
  let restore: (() => void) | undefined;
  // The page is kept before anything writes it (lz4 decodes into its storage, XBZRLE edits it).
  const touch = (gfn: number): void => {
    if (dropped || !faults.dropFinalPage || !finalRoundUnwritten()) return;
    dropped = true;
    restoring = gfn;
    restore = image.keepPage(gfn);
  };
  const applied = (gfn: number): void => {
    if (gfn === restoring) {
      restore!();
      restoring = -1;
    }
    if (faults.corruptAppliedPage) image.corruptPage(gfn);
  };
  return {
    pages: image.pages,
    zeroPage(gfn) {
      touch(gfn);
      image.zeroPage(gfn);
      applied(gfn);
    },
    storePage(gfn, bytes) {
      touch(gfn);
      image.storePage(gfn, bytes);
      applied(gfn);
    },
    decodeTarget(gfn) {
      touch(gfn);
      return image.decodeTarget(gfn);
    },
    ...(image.editablePage && {
      editablePage(gfn: number) {
        touch(gfn);
        return image.editablePage!(gfn);
      },
    }),
  };
}

/** ignoreQueryCommit: a QUERY for a migration still waiting for GO answers discarded but commits nothing. */
export function applyOutcomeFaults(table: OutcomeTable, faults: DestFaults): OutcomeTable {
  if (!faults.ignoreQueryCommit) return table;
  const pending = new Set<string>();
  const begin = table.begin.bind(table);
  const resumed = table.resumed.bind(table);
  const end = table.end.bind(table);
  const query = table.query.bind(table);
  table.begin = (id, abandon) => {
    pending.add(id);
    begin(id, abandon);
  };
  table.resumed = (id) => {
    pending.delete(id);
    resumed(id);
  };
  table.end = (id, state) => {
    pending.delete(id);
    end(id, state);
  };
  table.query = (id) => (pending.has(id) ? 'discarded' : query(id));
  return table;
}
