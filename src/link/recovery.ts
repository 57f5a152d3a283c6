/**
 * The recovery query (src/wire/README.md): after the link died between GO and RESUMED, the
 * source asks the destination on a fresh connection how migration `id` ended. `discarded` and
 * `resumed` are final (asking committed a migration still waiting for GO to discarded); `unknown`
 * means the destination holds no record of it. A destination it cannot reach, or that does not
 * answer, is asked again after a backoff (doubling from `retryMs`), all on the injected
 * scheduler, until `deadlineMs` from the first try: then the answer is `unreachable`.
 */
import type { Clock } from '../util/clock';
import { CloseCode } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import { decodeFrame, encodeQuery, type MigrationOutcome } from '../wire/frames';
import type { Recovery, Transport } from './types';

export interface RecoveryOptions {
  /** A fresh connection to the destination (ws: `/query` with the token; inproc: a new pair). */
  open: () => Promise<Transport>;
  migrationId: string;
  token: string;
  /** The scheduler the deadline and the backoff run on. */
  clock: Clock;
  /** From the first try: how long the destination may stay unreachable. */
  deadlineMs: number;
  /** The first backoff; each next one doubles, at most 8×. */
  retryMs: number;
}

export const DEFAULT_RECOVERY = { recoveryMs: 30_000, retryMs: 250 } as const;

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.schedule(() => resolve(), ms));
}

export async function recoverOutcome(options: RecoveryOptions): Promise<Recovery> {
  const { clock } = options;
  const due = clock.now() + options.deadlineMs;
  let attempts = 0;
  let error = 'no attempt';
  for (let backoff = options.retryMs; ; backoff = Math.min(backoff * 2, options.retryMs * 8)) {
    const left = due - clock.now();
    if (left <= 0) break;
    attempts++;
    try {
      return { outcome: await askOnce(options, left), attempts };
    } catch (e) {
      error = asWireError(e).message;
    }
    const wait = Math.min(backoff, due - clock.now());
    if (wait <= 0) break;
    await sleep(clock, wait);
  }
  return {
    outcome: 'unreachable',
    attempts,
    error: `the destination did not answer the recovery query within ${options.deadlineMs} ms (the recovery deadline; ${attempts} attempts, last: ${error})`,
  };
}

/** One connection, one QUERY, one OUTCOME; rejects on anything else or after `ms`. */
function askOnce(options: RecoveryOptions, ms: number): Promise<MigrationOutcome> {
  return new Promise<MigrationOutcome>((resolve, reject) => {
    let transport: Transport | undefined;
    let settled = false;
    const settle = (outcome: MigrationOutcome | undefined, error?: WireError) => {
      if (settled) return;
      settled = true;
      timer.unsubscribe();
      const timedOut = error?.code === 'PRECOPY_ERR_TIMEOUT';
      transport?.close(timedOut ? CloseCode.DEADLINE : CloseCode.NORMAL, 'recovery');
      if (outcome) resolve(outcome);
      else reject(error);
    };
    const timer = options.clock.schedule(
      () =>
        settle(
          undefined,
          new WireError('PRECOPY_ERR_TIMEOUT', `no OUTCOME within ${ms} ms`, CloseCode.DEADLINE),
        ),
      ms,
    );
    options.open().then(
      (t) => {
        transport = t;
        if (settled) return t.close(CloseCode.NORMAL, 'recovery');
        t.setHandlers({
          message: (bytes) => {
            try {
              const frame = decodeFrame(bytes, { verifyChecksum: t.deliversSealedFrames !== true });
              if (frame.type === 'OUTCOME' && frame.migrationId === options.migrationId)
                return settle(frame.outcome);
              const why =
                frame.type === 'ERROR'
                  ? `destination: ${frame.message} (${frame.code})`
                  : frame.type === 'OUTCOME'
                    ? `OUTCOME for migration ${frame.migrationId}, asked about ${options.migrationId}`
                    : `destination sent ${frame.type} to a QUERY`;
              settle(undefined, new WireError('PRECOPY_ERR_UNEXPECTED_FRAME', why, CloseCode.PROTOCOL_ERROR));
            } catch (e) {
              settle(undefined, asWireError(e));
            }
          },
          close: (e) =>
            settle(
              undefined,
              e ??
                new WireError('PRECOPY_ERR_LINK_LOST', 'the query connection closed with no OUTCOME', 1006),
            ),
        });
        t.send(encodeQuery(options.migrationId, options.token)).catch((e) =>
          settle(undefined, asWireError(e)),
        );
      },
      (e) => settle(undefined, asWireError(e)),
    );
  });
}
