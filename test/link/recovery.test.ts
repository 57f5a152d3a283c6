/**
 * The recovery query (issue 16: exactly one guest when the link dies with GO in flight): the
 * wire's QUERY / OUTCOME, the destination's outcome table (commit on query, capacity, expiry),
 * the query connection's checks, and the source's retry with its recovery deadline, every
 * deadline on an injected VirtualClock, checked at its last millisecond and one after.
 */
import { Destination } from '../../src/dest/destination';
import { applyOutcomeFaults } from '../../src/dest/faults';
import { OutcomeTable } from '../../src/dest/outcomes';
import { inprocPair } from '../../src/link/inproc';
import { recoverOutcome } from '../../src/link/recovery';
import type { Recovery } from '../../src/link/types';
import { connectSource, type Transport } from '../../src/link/index';
import { startDestinationServer } from '../../src/dest/server';
import { VirtualClock } from '../../src/util/clock';
import { CloseCode, FrameType, HEADER_SIZE } from '../../src/wire/constants';
import { WireError } from '../../src/wire/errors';
import {
  NO_MIGRATION_ID,
  decodeFrame,
  encodeHello,
  encodeOutcome,
  encodeQuery,
  seal,
  type Frame,
} from '../../src/wire/frames';
import { TOKEN, makeGuest, migrate } from './helpers';

const ID = '0123456789abcdef';
const flush = () => new Promise((resolve) => setImmediate(resolve));

function codeOf(thunk: () => unknown): string | undefined {
  try {
    thunk();
    return undefined;
  } catch (e) {
    return (e as WireError).code;
  }
}

describe('QUERY and OUTCOME on the wire', () => {
  test('round trips, and HELLO carries the migration id', () => {
    expect(decodeFrame(encodeQuery(ID, TOKEN))).toEqual({ type: 'QUERY', migrationId: ID, token: TOKEN });
    for (const outcome of ['unknown', 'resumed', 'discarded'] as const)
      expect(decodeFrame(encodeOutcome(ID, outcome))).toEqual({ type: 'OUTCOME', migrationId: ID, outcome });
    const hello = { pages: 8, pageSize: 4096, edgeFirstPage: 0, edgePages: 0, encodings: 0b10, token: TOKEN };
    expect(decodeFrame(encodeHello({ ...hello, migrationId: ID }))).toMatchObject({ migrationId: ID });
    expect(decodeFrame(encodeHello(hello))).toMatchObject({ migrationId: NO_MIGRATION_ID });
  });

  test('bad bodies name the field', () => {
    const resealed = (f: Buffer) => (f.writeUInt32LE(f.length - HEADER_SIZE, 8), seal(f));
    const outcome = encodeOutcome(ID, 'resumed');
    outcome[HEADER_SIZE + 8] = 3;
    expect(() => decodeFrame(resealed(outcome))).toThrow(/OUTCOME.outcome 3 must be 0/);
    expect(() => decodeFrame(resealed(encodeOutcome(ID, 'resumed').subarray(0, HEADER_SIZE + 8)))).toThrow(
      /OUTCOME: body must be 9 bytes/,
    );
    const zero = encodeQuery(ID, TOKEN);
    zero.fill(0, HEADER_SIZE, HEADER_SIZE + 8);
    expect(() => decodeFrame(resealed(zero))).toThrow(/QUERY.migrationId must not be all zeros/);
    const long = encodeQuery(ID, TOKEN);
    long[HEADER_SIZE + 8] = 200;
    expect(() => decodeFrame(resealed(long))).toThrow(/QUERY: token length 200 does not match/);
    expect(codeOf(() => encodeQuery('xyz', TOKEN))).toBe('PRECOPY_ERR_USAGE');
    expect(FrameType.QUERY).toBe(18);
    expect(FrameType.OUTCOME).toBe(19);
  });
});

describe('the outcome table', () => {
  test('a query before GO commits the migration to discarded, after GO it says resumed', () => {
    const table = new OutcomeTable({ clock: new VirtualClock() });
    const abandoned: string[] = [];
    table.begin('a', (why) => abandoned.push(why));
    table.begin('b', () => abandoned.push('b!'));
    table.resumed('b');
    expect(table.query('a')).toBe('discarded');
    expect(abandoned).toEqual([expect.stringMatching(/recovery QUERY came before GO/)]);
    // Final: asked again, or after the migration ended, the answer stands.
    expect(table.query('a')).toBe('discarded');
    expect(table.query('b')).toBe('resumed');
    expect(table.query('never')).toBe('unknown');
  });

  test('NEGATIVE: the fault switch answers discarded and leaves the migration running', () => {
    const table = applyOutcomeFaults(new OutcomeTable({ clock: new VirtualClock() }), {
      ignoreQueryCommit: true,
    });
    let abandoned = false;
    table.begin('a', () => (abandoned = true));
    expect(table.query('a')).toBe('discarded');
    expect(abandoned).toBe(false);
    table.resumed('a');
    expect(table.query('a')).toBe('resumed');
  });

  test('holds the last 16; an ended migration is forgotten at its expiry, not a millisecond before', () => {
    const clock = new VirtualClock();
    const table = new OutcomeTable({ clock, expiryMs: 1000 });
    for (let i = 0; i < 17; i++) table.begin(`m${i}`, () => undefined);
    expect(table.size).toBe(16);
    expect(table.query('m0')).toBe('unknown');
    table.end('m1', 'resumed');
    clock.advanceTo(999);
    expect(table.query('m1')).toBe('resumed');
    clock.advanceTo(1000);
    expect(table.query('m1')).toBe('unknown');
    // A running migration never expires.
    expect(table.query('m2')).toBe('discarded');
  });
});

describe('the query connection at the destination', () => {
  function ask(destination: Destination, frames: Buffer[]): Promise<{ replies: Frame[]; code: number }> {
    const [source, end] = inprocPair();
    destination.attachQuery(end);
    const replies: Frame[] = [];
    return new Promise((resolve) => {
      source.setHandlers({
        message: (f) => replies.push(decodeFrame(f)),
        close: (e) => resolve({ replies, code: e?.closeCode ?? CloseCode.NORMAL }),
      });
      for (const f of frames) source.send(f).catch(() => undefined);
    });
  }

  test('answers OUTCOME and closes 1000; a wrong token, a frame that is not QUERY or does not decode gets an ERROR and its code', async () => {
    const destination = new Destination({ token: TOKEN, clock: new VirtualClock() });
    expect(await ask(destination, [encodeQuery(ID, TOKEN)])).toEqual({
      replies: [{ type: 'OUTCOME', migrationId: ID, outcome: 'unknown' }],
      code: CloseCode.NORMAL,
    });
    const wrong = await ask(destination, [encodeQuery(ID, 'not-the-token')]);
    expect(wrong).toMatchObject({
      replies: [{ type: 'ERROR', code: 'PRECOPY_ERR_TOKEN' }],
      code: CloseCode.POLICY,
    });
    const hello = encodeHello({
      pages: 8,
      pageSize: 4096,
      edgeFirstPage: 0,
      edgePages: 0,
      encodings: 2,
      token: TOKEN,
    });
    expect(await ask(destination, [hello])).toMatchObject({
      replies: [{ type: 'ERROR', code: 'PRECOPY_ERR_UNEXPECTED_FRAME' }],
      code: CloseCode.PROTOCOL_ERROR,
    });
    const garbage = encodeQuery(ID, TOKEN);
    garbage[HEADER_SIZE + 8] = 99;
    expect(await ask(destination, [seal(garbage)])).toMatchObject({
      replies: [{ type: 'ERROR', code: 'PRECOPY_ERR_BAD_LENGTH' }],
      code: 1002,
    });
    // QUERY on a migration's main link is a protocol error there.
    const [source, end] = inprocPair();
    destination.attach(end);
    const closed = new Promise<number | undefined>((resolve) =>
      source.setHandlers({ message: () => undefined, close: (e) => resolve(e?.closeCode) }),
    );
    await source.send(encodeQuery(ID, TOKEN));
    expect(await closed).toBe(1002);
  });

  test('a query connection that says nothing is closed at the hello deadline, not a millisecond before', async () => {
    const clock = new VirtualClock();
    const destination = new Destination({ token: TOKEN, clock, deadlines: { helloMs: 500 } });
    const [source, end] = inprocPair();
    destination.attachQuery(end);
    const replies: Frame[] = [];
    let code: number | undefined;
    source.setHandlers({ message: (f) => replies.push(decodeFrame(f)), close: (e) => (code = e?.closeCode) });
    clock.advanceTo(499);
    await flush();
    expect(code).toBeUndefined();
    clock.advanceTo(500);
    await flush();
    expect(code).toBe(CloseCode.DEADLINE);
    expect(replies).toMatchObject([
      { type: 'ERROR', message: 'no QUERY within 500 ms of connecting (the hello deadline)' },
    ]);
  });
});

describe('the source retries within the recovery deadline', () => {
  test('an unreachable destination: asked again with backoff, unreachable at the deadline, not a millisecond before', async () => {
    const clock = new VirtualClock();
    let opened = 0;
    const open = async (): Promise<Transport> => {
      opened++;
      throw new WireError('PRECOPY_ERR_LINK_LOST', 'connection refused', 1006);
    };
    let result: Recovery | undefined;
    void recoverOutcome({ open, migrationId: ID, token: TOKEN, clock, deadlineMs: 1000, retryMs: 100 }).then(
      (r) => (result = r),
    );
    await flush();
    // Tries at 0, 100, 300, 700 (backoff 100, 200, 400, then capped by the deadline).
    for (const t of [99, 100, 299, 300, 699, 700, 999]) {
      clock.advanceTo(t);
      await flush();
    }
    expect(opened).toBe(4);
    expect(result).toBeUndefined();
    clock.advanceTo(1000);
    await flush();
    expect(result).toEqual({
      outcome: 'unreachable',
      attempts: 4,
      error: expect.stringMatching(
        /did not answer the recovery query within 1000 ms \(the recovery deadline; 4 attempts, last: connection refused\)/,
      ),
    });
  });

  test('a destination that comes back within the deadline answers', async () => {
    const clock = new VirtualClock();
    const destination = new Destination({ token: TOKEN, clock: new VirtualClock() });
    let up = false;
    const open = async (): Promise<Transport> => {
      if (!up) throw new WireError('PRECOPY_ERR_LINK_LOST', 'connection refused', 1006);
      const [source, end] = inprocPair();
      destination.attachQuery(end);
      return source;
    };
    let result: Recovery | undefined;
    void recoverOutcome({ open, migrationId: ID, token: TOKEN, clock, deadlineMs: 1000, retryMs: 100 }).then(
      (r) => (result = r),
    );
    await flush();
    up = true;
    clock.advanceTo(100);
    await flush();
    await flush();
    expect(result).toEqual({ outcome: 'unknown', attempts: 2 });
  });

  test('a silent query connection counts as no answer (its attempt ends at the deadline)', async () => {
    const clock = new VirtualClock();
    const open = async (): Promise<Transport> => inprocPair()[0];
    let result: Recovery | undefined;
    void recoverOutcome({ open, migrationId: ID, token: TOKEN, clock, deadlineMs: 300, retryMs: 50 }).then(
      (r) => (result = r),
    );
    await flush();
    clock.advanceTo(299);
    await flush();
    expect(result).toBeUndefined();
    clock.advanceTo(300);
    await flush();
    expect(result).toMatchObject({
      outcome: 'unreachable',
      attempts: 1,
      error: expect.stringMatching(/no OUTCOME within 300 ms/),
    });
  });
});

test('over ws: a migration the destination served is answered on /query by its id', async () => {
  const server = await startDestinationServer({ port: 0, token: TOKEN, keepaliveMs: 0 });
  try {
    const session = await connectSource({ transport: 'ws', url: server.url, token: TOKEN, keepaliveMs: 0 });
    expect((await migrate(session, makeGuest(32, 3), 1)).passed).toBe(true);
    await session.close();
    await server.destination.whenIdle();
    expect(await session.recover!()).toEqual({ outcome: 'resumed', attempts: 1 });
  } finally {
    await server.close();
  }
});
