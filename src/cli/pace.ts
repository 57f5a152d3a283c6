/**
 * `--pace 1x|10x|max` for virtual-time runs (a process edge: real time lives here, through the
 * injected wall clock). The engine calls the pacer once per rate window with the migration's
 * clock; the pacer gives the event loop a turn (the dashboard's feed, signals, keys) and, at
 * `Nx`, waits until the wall clock has caught up with virtual time ÷ N.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { sleep, wallClock, type Clock } from '../util/clock';

/** Virtual ms per wall ms; Infinity = as fast as the machine goes (still yielding). */
export type Pace = number;

/** `max`, `1x`, `10x`, `2.5x`: the user's spelling in the error. */
export function parsePace(text: string): Pace {
  if (text === 'max') return Infinity;
  const m = /^(\d+(?:\.\d+)?)x$/.exec(text);
  const speed = m ? Number(m[1]) : NaN;
  if (!(speed > 0 && speed <= 1e6))
    throw new RangeError(
      `--pace: ${JSON.stringify(text)} is not a pace (1x, 10x, max; Nx with N in (0, 1e6])`,
    );
  return speed;
}

/** The engine's pace hook for `speed` (wall clock injectable for tests). */
export function pacer(speed: Pace, clock: Clock = wallClock()): (virtualNow: number) => Promise<void> {
  const wallStart = clock.now();
  let virtualStart: number | undefined;
  return async (virtualNow) => {
    virtualStart ??= virtualNow;
    const due = wallStart + (virtualNow - virtualStart) / speed;
    const wait = due - clock.now();
    if (Number.isFinite(wait) && wait > 0) await sleep(clock, wait);
    else await turn();
  };
}
