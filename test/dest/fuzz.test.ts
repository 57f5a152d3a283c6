/**
 * Seeded fuzzing of a live destination over a real WebSocket: a valid migration stream with one
 * frame mutated (bits flipped, bytes set, truncated, extended, retyped, duplicated, reordered;
 * half of them re-sealed with a correct length and crc so the body checks are reached). Every
 * case must end with a typed ERROR frame and its close code, or with a verdict that is honest
 * about the image; the destination must then be free, and a real migration must still succeed.
 */
import WebSocket from 'ws';
import { startDestinationServer, type DestinationServer } from '../../src/dest/server';
import { connectSource } from '../../src/link/index';
import { Rng } from '../../src/util/rng';
import { CloseCode } from '../../src/wire/constants';
import { WIRE_ERROR_CODES } from '../../src/wire/errors';
import { decodeFrame } from '../../src/wire/frames';
import { TOKEN, makeGuest, migrate } from '../link/helpers';
import { PAGES, mutate, validStream } from './fuzz-stream';

const CASES = 2000;

interface Outcome {
  closeCode: number;
  replies: Array<{ type: string; code?: string; closeCode?: number; passed?: boolean; hash?: string }>;
}

function runCase(url: string, frames: Buffer[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${TOKEN}` },
      generateMask: (m) => m.fill(0),
    });
    const replies: Outcome['replies'] = [];
    const timer = setTimeout(() => (ws.terminate(), reject(new Error('case did not end within 5 s'))), 5000);
    ws.on('open', () => {
      for (const f of frames) ws.send(f);
    });
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data);
      if (f.type === 'ERROR') replies.push({ type: f.type, code: f.code, closeCode: f.closeCode });
      else if (f.type === 'VERDICT')
        replies.push({ type: f.type, passed: f.verdict.passed, hash: f.verdict.destinationHash });
      else replies.push({ type: f.type });
    });
    ws.on('error', () => undefined);
    ws.on('close', (closeCode) => {
      clearTimeout(timer);
      resolve({ closeCode, replies });
    });
  });
}

/** Several destinations fuzzed side by side (each serves one migration at a time). */
const SERVERS = 4;
let servers: DestinationServer[] = [];
beforeAll(async () => {
  servers = await Promise.all(
    Array.from({ length: SERVERS }, () => startDestinationServer({ token: TOKEN, keepaliveMs: 0 })),
  );
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

test(`${CASES} mutated streams: each ends in a typed error and its close code, or an honest verdict`, async () => {
  const memory = makeGuest(PAGES, 77);
  const stream = validStream(memory);
  const sourceHash = memory.imageHash();
  const codes = new Map<string, number>();
  let verified = 0;
  const count = (code: string) => codes.set(code, (codes.get(code) ?? 0) + 1);

  /** One fuzzing lane: its own destination and its own seeded generator. */
  async function lane(server: DestinationServer, seed: number): Promise<void> {
    const rng = new Rng(seed);
    for (let n = 0; n < CASES / SERVERS; n++) {
      const { frames, what } = mutate(stream, rng);
      const outcome = await runCase(server.url, frames);
      const last = outcome.replies[outcome.replies.length - 1];
      const context = `lane ${seed} case ${n} (${what}): ${JSON.stringify(outcome)}`;
      if (last?.type === 'ERROR') {
        expect({ context, known: (WIRE_ERROR_CODES as readonly string[]).includes(last.code!) }).toEqual({
          context,
          known: true,
        });
        expect({ context, closeCode: outcome.closeCode }).toEqual({ context, closeCode: last.closeCode });
        count(last.code!);
      } else if (last?.type === 'VERDICT') {
        // No error: the mutation left a valid stream (e.g. a re-sealed change the protocol allows).
        expect({ context, closeCode: outcome.closeCode }).toEqual({ context, closeCode: CloseCode.NORMAL });
        if (last.passed) expect({ context, hash: last.hash }).toEqual({ context, hash: sourceHash });
        verified++;
      } else if (last?.type === 'RESUMED') {
        // GO went through, then the source gave up (a well-formed CANCEL or ERROR after GO): the
        // guest runs here, unverified, and the destination says so.
        count('resumed, source gone');
      } else {
        // The mutation made a well-formed CANCEL or ERROR from the source: the destination just closes.
        expect({ context, abnormal: outcome.closeCode !== CloseCode.NORMAL }).toEqual({
          context,
          abnormal: true,
        });
        count('closed by the source');
      }
      await server.destination.whenIdle();
      // Exactly one guest: resumed here once RESUMED went out, else discarded (the source keeps it).
      const resumed = outcome.replies.some((r) => r.type === 'RESUMED');
      expect({ context, kind: server.destination.lastOutcome?.kind }).toEqual({
        context,
        kind: resumed ? 'resumed' : 'discarded',
      });
    }
  }

  await Promise.all(servers.map((server, i) => lane(server, 2026 + i)));
  for (const server of servers) {
    expect(server.destination.served).toBe(CASES / SERVERS);
    expect(server.destination.image).toBeUndefined();
  }
  // The fuzzer reaches deep checks, not just the header's.
  expect(codes.size).toBeGreaterThanOrEqual(10);
  expect(verified).toBeLessThan(CASES / 10);
  process.stdout.write(`fuzz outcomes: ${JSON.stringify(Object.fromEntries(codes))}, verdicts ${verified}\n`);

  const server = servers[0]!;
  const session = await connectSource({ transport: 'ws', url: server.url, token: TOKEN });
  const verdict = await migrate(session, makeGuest(64, 1), 2);
  await session.close();
  expect(verdict.passed).toBe(true);
});
