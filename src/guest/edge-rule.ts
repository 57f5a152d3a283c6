/**
 * QEMU's memory check for its incrementer guest (tests/qtest/migration-test.c check_guests_ram,
 * research/live-migration.md §6). The guest increments byte 0 of every page in order, so byte 0
 * is the same everywhere except at exactly one edge, where it drops by one (mod 256): the pages
 * before it were incremented once more. Anything else is a bad page — a lost dirty page or a
 * stale copy applied late — found without checksums. Run it with the guest stopped.
 */
/** What the rule reads: byte 0 of each page (a stored image, generated memory, a digest image's kept counters). */
export interface CounterBytes {
  readonly pages: number;
  byte0(page: number): number;
}

export interface EdgeRuleResult {
  passed: boolean;
  /** Pages that broke the rule (QEMU's `bad`). */
  bad: number;
  /** The first bad page. */
  firstBadPage?: number;
  /** Byte 0 of the first ten bad pages (QEMU prints ten). */
  values?: number[];
  /** The page where the one allowed drop happened, if any. */
  edgePage?: number;
}

export function checkEdgeRule(memory: CounterBytes, firstPage: number, pages: number): EdgeRuleResult {
  if (
    !Number.isInteger(firstPage) ||
    !Number.isInteger(pages) ||
    firstPage < 0 ||
    pages < 1 ||
    firstPage + pages > memory.pages
  )
    throw new RangeError(
      `checkEdgeRule: region [${firstPage}, ${firstPage + pages}) is outside [0, ${memory.pages})`,
    );
  let last = memory.byte0(firstPage);
  let edgePage: number | undefined;
  let bad = 0;
  let firstBadPage: number | undefined;
  const values: number[] = [];
  for (let page = firstPage + 1; page < firstPage + pages; page++) {
    const b = memory.byte0(page);
    if (b !== last) {
      if ((b + 1) % 256 === last && edgePage === undefined) {
        // The guest stopped after incrementing the previous page but before this one.
        edgePage = page;
      } else {
        bad++;
        firstBadPage ??= page;
        if (values.length < 10) values.push(b);
      }
    }
    last = b;
  }
  return bad === 0 ? { passed: true, bad, edgePage } : { passed: false, bad, firstBadPage, values, edgePage };
}
