/**
 * The destination's memory of recent migrations, by the id HELLO carried, for the recovery
 * QUERY (src/wire/README.md). A source whose link died between GO and RESUMED asks on a fresh
 * connection; the answer must be final, so asking is itself a decision: a migration still
 * waiting for GO is committed to `discarded` right there (its receiver is abandoned, a late GO
 * finds nobody), one whose GO arrived says `resumed`. JavaScript runs the query and the GO one
 * at a time, so the two cannot interleave.
 *
 * Bounded: the last `capacity` migrations, each forgotten `expiryMs` after it ended, by the
 * destination's clock (read on each use: no timer keeps a process alive for the expiry). An id
 * it does not hold is `unknown`: the source cannot tell.
 */
import type { Clock } from '../util/clock';
import type { MigrationOutcome } from '../wire/frames';

export interface OutcomeTableOptions {
  clock: Clock;
  /** Migrations remembered at most (the oldest go first). Default 16. */
  capacity?: number;
  /** How long an ended migration is remembered (ms). Default 10 min, far past a source's recovery deadline. */
  expiryMs?: number;
}

interface Entry {
  state: 'pending' | 'resumed' | 'discarded';
  /** A pending migration's receiver: ends it discarded when a query commits it. */
  abandon?: (reason: string) => void;
  /** When it ended, on the destination's clock (undefined while it runs). */
  endedAt?: number;
}

export const DEFAULT_OUTCOME_CAPACITY = 16;
export const DEFAULT_OUTCOME_EXPIRY_MS = 10 * 60_000;

export class OutcomeTable {
  private readonly entries = new Map<string, Entry>();
  private readonly capacity: number;
  private readonly expiryMs: number;

  constructor(private readonly options: OutcomeTableOptions) {
    this.capacity = options.capacity ?? DEFAULT_OUTCOME_CAPACITY;
    this.expiryMs = options.expiryMs ?? DEFAULT_OUTCOME_EXPIRY_MS;
  }

  /** Migrations remembered now. */
  get size(): number {
    this.expire();
    return this.entries.size;
  }

  /** HELLO: migration `id` is under way; `abandon` ends it discarded. */
  begin(id: string, abandon: (reason: string) => void): void {
    this.expire();
    this.entries.delete(id);
    while (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(id, { state: 'pending', abandon });
  }

  /** GO arrived and the guest resumed (a query committed to discarded has ended the receiver first). */
  resumed(id: string): void {
    const entry = this.entries.get(id);
    if (entry) entry.state = 'resumed';
  }

  /** The migration ended (its final word: resumed or discarded); forget it after the expiry. */
  end(id: string, state: 'resumed' | 'discarded'): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.state = state;
    entry.abandon = undefined;
    entry.endedAt = this.options.clock.now();
  }

  /** QUERY: the outcome, final from here on (a pending migration is discarded now). */
  query(id: string): MigrationOutcome {
    this.expire();
    const entry = this.entries.get(id);
    if (!entry) return 'unknown';
    if (entry.state === 'pending') {
      entry.state = 'discarded';
      const abandon = entry.abandon;
      entry.abandon = undefined;
      abandon?.('a recovery QUERY came before GO: the migration is discarded, the source keeps its guest');
    }
    return entry.state;
  }

  /** Forget the migrations that ended `expiryMs` ago or more. */
  private expire(): void {
    const now = this.options.clock.now();
    for (const [id, entry] of this.entries)
      if (entry.endedAt !== undefined && now - entry.endedAt >= this.expiryMs) this.entries.delete(id);
  }
}
