/**
 * The sender threads' figures over a migration: the migration thread and, with multifd, each
 * channel (bytes, pages, zero pages, and the CPU time the sender model charges them).
 */
import { emptyStats, type BatchStats } from '../wire/batch';
import { PAGE_SIZE } from '../util/units';
import { addStats } from '../link/sender';
import type { SenderReport } from './result';

export class SenderStats {
  private readonly threads: BatchStats[];

  /**
   * `channels` 0 = no multifd (the migration thread alone); `encodeRate` bytes/s per thread,
   * 0 = not modelled; `virtual`: CPU time is the model's (in wall time it is not measured).
   */
  constructor(
    readonly channels: number,
    readonly encodeRate: number,
    private readonly rateSource: 'scenario' | 'default' | 'not modelled',
    private readonly virtual: boolean,
  ) {
    this.threads = Array.from({ length: channels + 1 }, () => emptyStats());
  }

  /** A send's shares: [migration thread, channel 0, channel 1, ...]. */
  record(shares: readonly BatchStats[]): void {
    shares.forEach((share, i) => addStats(this.threads[i]!, share));
  }

  /** Bytes that went over the multifd channels (QEMU's ram.multifd-bytes). */
  get multifdBytes(): number {
    let bytes = 0;
    for (let i = 1; i < this.threads.length; i++) bytes += this.threads[i]!.bytesWire;
    return bytes;
  }

  report(zeroPageDetection: string): SenderReport {
    const cpu = (t: BatchStats) =>
      this.virtual && this.encodeRate > 0 ? ((t.pages * PAGE_SIZE) / this.encodeRate) * 1000 : null;
    const row = (t: BatchStats) => ({
      bytes: t.bytesWire,
      pages: t.pages,
      zeroPages: t.zeroPages,
      frames: t.frames,
      cpuTime: cpu(t),
    });
    return {
      multifd: this.channels > 0,
      channels: this.channels,
      'zero-page-detection': zeroPageDetection,
      encodeRate: this.encodeRate,
      encodeRateSource: this.rateSource,
      migrationThread: row(this.threads[0]!),
      perChannel: this.threads.slice(1).map(row),
    };
  }
}
