/**
 * XBZRLE's two rates as QEMU computes them, once per dirty-sync period of more than 1 s
 * (migration/ram.c `migration_update_rates`), over that period only:
 *
 *   cache-miss-rate = cache misses in the period ÷ pages sent in the period
 *   encoding-rate   = (pages encoded in the period × 4096) ÷ XBZRLE bytes in the period
 *                     (0 when nothing was encoded or it cost no bytes)
 *
 * "Pages sent" is QEMU's target_page_count: zero, normal and XBZRLE pages, not the unchanged
 * pages XBZRLE skipped. A period in which nothing was sent leaves both rates as they were.
 */
import { PAGE_SIZE } from '../util/units';
import type { SendStats } from '../link/index';

export class XbzrleRates {
  cacheMissRate = 0;
  encodingRate = 0;
  private previous = { sent: 0, misses: 0, hits: 0, bytes: 0 };

  /** A period closed; `total` is every page counter since the migration began. */
  closePeriod(total: SendStats): void {
    const sent = total.pages - total.unchangedPages;
    const pageCount = sent - this.previous.sent;
    if (pageCount === 0) return;
    const hits = total.xbzrleCacheHits - this.previous.hits;
    const bytes = total.xbzrleBytes - this.previous.bytes;
    this.cacheMissRate = (total.xbzrleCacheMisses - this.previous.misses) / pageCount;
    this.encodingRate = hits === 0 || bytes === 0 ? 0 : (hits * PAGE_SIZE) / bytes;
    this.previous = {
      sent,
      misses: total.xbzrleCacheMisses,
      hits: total.xbzrleCacheHits,
      bytes: total.xbzrleBytes,
    };
  }
}
