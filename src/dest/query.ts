/**
 * One recovery-query connection (ws path `/query`, or Destination.attachQuery in process): the
 * source asks how migration `id` ended, the destination answers OUTCOME and closes 1000. Like a
 * migration's link, it must say QUERY within the hello deadline, and a frame that does not
 * decode, is not QUERY, or carries the wrong token gets an ERROR and the close code it names.
 */
import type { Transport } from '../link/types';
import type { Clock } from '../util/clock';
import { CloseCode } from '../wire/constants';
import { WireError, asWireError } from '../wire/errors';
import { decodeFrame, encodeError, encodeOutcome, type MigrationOutcome } from '../wire/frames';
import { tokensEqual } from '../wire/validation';
import type { OutcomeTable } from './outcomes';

export interface QueryServiceOptions {
  token: string;
  clock: Clock;
  helloMs: number;
  outcomes: OutcomeTable;
  onAnswer?: (migrationId: string, outcome: MigrationOutcome) => void;
}

export function serveQuery(transport: Transport, options: QueryServiceOptions): void {
  let done = false;
  const end = (code: number, reason: string) => {
    if (done) return;
    done = true;
    timer.unsubscribe();
    transport.close(code, reason);
  };
  const refuse = (error: WireError) => {
    if (done) return;
    transport.send(encodeError(error)).catch(() => undefined);
    end(error.closeCode, error.code);
  };
  const timer = options.clock.schedule(
    () =>
      refuse(
        new WireError(
          'PRECOPY_ERR_TIMEOUT',
          `no QUERY within ${options.helloMs} ms of connecting (the hello deadline)`,
          CloseCode.DEADLINE,
        ),
      ),
    options.helloMs,
  );
  transport.setHandlers({
    message: (bytes) => {
      if (done) return;
      let frame;
      try {
        frame = decodeFrame(bytes, { verifyChecksum: transport.deliversSealedFrames !== true });
      } catch (e) {
        return refuse(asWireError(e));
      }
      if (frame.type !== 'QUERY')
        return refuse(
          new WireError(
            'PRECOPY_ERR_UNEXPECTED_FRAME',
            `${frame.type} on a query connection (only QUERY)`,
            CloseCode.PROTOCOL_ERROR,
          ),
        );
      if (!tokensEqual(frame.token, options.token))
        return refuse(
          new WireError(
            'PRECOPY_ERR_TOKEN',
            'QUERY.token does not match the destination token',
            CloseCode.POLICY,
          ),
        );
      const outcome = options.outcomes.query(frame.migrationId);
      options.onAnswer?.(frame.migrationId, outcome);
      transport.send(encodeOutcome(frame.migrationId, outcome)).catch(() => undefined);
      end(CloseCode.NORMAL, outcome);
    },
    close: () => {
      done = true;
      timer.unsubscribe();
    },
  });
}
