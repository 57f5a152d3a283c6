/**
 * Seeded, bounded fuzzing of live `precopy dest` processes over loopback WebSocket (issue 16,
 * "Must show"): mutated frames, ERROR frames with any close code and multibyte messages, CANCELs
 * with multibyte reasons, and streams that stop half way and go silent. Asserted over every case:
 * 0 crashes (each process still runs and printed one outcome per case), 0 hangs past a deadline
 * (every case closed within the destination's deadline plus the close grace), 0 wrong images
 * verified (a passing verdict carries the source's hash), and every case closed with a close code
 * a close frame can carry (never 1005/1006), the ERROR frame's when there was one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { connectSource } from '../../src/link/index';
import { Rng } from '../../src/util/rng';
import { isSendableCloseCode } from '../../src/wire/close';
import { CloseCode, FrameType } from '../../src/wire/constants';
import { WIRE_ERROR_CODES } from '../../src/wire/errors';
import { decodeFrame, encodeCancel, encodeError } from '../../src/wire/frames';
import { TOKEN, makeGuest, migrate } from '../link/helpers';
import { PAGES, mutate, validStream } from './fuzz-stream';

const BIN = join(__dirname, '..', '..', 'bin', 'precopy.js');
/** Cases in all, over LANES destination processes side by side. */
const CASES = Number(process.env.FUZZ_CASES ?? 1000);
const LANES = 2;
/** The processes' HELLO and silence deadlines. */
const DEADLINE_MS = 500;
/** A case not closed by then hangs: the deadline, ws's close grace (2 s), and room for a loaded machine. */
const HANG_MS = DEADLINE_MS + 2000 + 3000;

interface Lane {
  url: string;
  child: ChildProcess;
  lines: string[];
  stderr: () => string;
  exited: Promise<number | null>;
}

function startLane(): Promise<Lane> {
  const child = spawn(
    process.execPath,
    [BIN, 'dest', '--port', '0', '--keepalive', '0'].concat([
      '--hello-timeout',
      `${DEADLINE_MS}ms`,
      '--silence-timeout',
      `${DEADLINE_MS}ms`,
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PRECOPY_TOKEN: TOKEN } },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening (ws:\/\/\S+)$/.exec(line);
      if (m) resolve({ url: m[1]!, child, lines, stderr: () => stderr, exited });
      else lines.push(line);
    });
    child.once('exit', (code) => reject(new Error(`precopy dest exited ${code}: ${stderr}`)));
  });
}

/** Random text with multibyte characters (a close reason must be cut by bytes, not characters). */
function multibyte(rng: Rng): string {
  const alphabet = ['a', 'é', '迁', '移', '😀', ' ', '\u0301'];
  return Array.from({ length: rng.int(400) }, () => alphabet[rng.int(alphabet.length)]).join('');
}

type Case = { frames: Buffer[]; what: string; silentAfter: boolean };

/** One case: mostly a mutated frame; some peer ERRORs and CANCELs; a few streams that stop and go silent. */
function makeCase(stream: Buffer[], rng: Rng): Case {
  const roll = rng.int(100);
  const at = rng.int(stream.length);
  if (roll < 8) {
    const closeCode = 1000 + rng.int(4000);
    const code = ['PRECOPY_ERR_PEER', 'X', 'SOMETHING_ELSE'][rng.int(3)]!;
    const frames = [...stream.slice(0, at), encodeError({ code, message: multibyte(rng), closeCode })];
    return { frames, what: `ERROR ${closeCode}`, silentAfter: false };
  }
  if (roll < 14)
    return {
      frames: [...stream.slice(0, at), encodeCancel(multibyte(rng))],
      what: 'CANCEL',
      silentAfter: false,
    };
  if (roll < 19) return { frames: stream.slice(0, at), what: `silent after ${at} frames`, silentAfter: true };
  if (roll < 22) return { frames: stream, what: 'valid', silentAfter: false };
  const m = mutate(stream, rng);
  return { frames: m.frames, what: `${m.what} frame ${m.at}`, silentAfter: false };
}

interface Outcome {
  closeCode: number;
  hung: boolean;
  replies: Array<{ type: string; code?: string; closeCode?: number; passed?: boolean; hash?: string }>;
}

/** Send `frames` as a source would: all at once, except that GO waits for READY (the commit protocol). */
function runCase(url: string, frames: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    const replies: Outcome['replies'] = [];
    let hung = false;
    let next = 0;
    const timer = setTimeout(() => ((hung = true), ws.terminate()), HANG_MS);
    const sendOn = () => {
      while (next < frames.length) {
        const frame = frames[next++]!;
        ws.send(frame);
        if (frame.length > 5 && frame[5] === FrameType.PREPARE) return; // until READY
      }
    };
    ws.on('open', sendOn);
    ws.on('message', (data: Buffer) => {
      const f = decodeFrame(data);
      if (f.type === 'READY') sendOn();
      if (f.type === 'ERROR') replies.push({ type: f.type, code: f.code, closeCode: f.closeCode });
      else if (f.type === 'VERDICT')
        replies.push({ type: f.type, passed: f.verdict.passed, hash: f.verdict.destinationHash });
      else replies.push({ type: f.type });
    });
    ws.on('error', () => undefined);
    ws.on('close', (closeCode) => {
      clearTimeout(timer);
      resolve({ closeCode, hung, replies });
    });
  });
}

let lanes: Lane[] = [];
beforeAll(async () => {
  lanes = await Promise.all(Array.from({ length: LANES }, startLane));
});
afterAll(async () => {
  for (const lane of lanes) if (lane.child.exitCode === null) lane.child.kill('SIGKILL');
});

test(`${CASES} hostile cases against live precopy dest processes: 0 crashes, 0 hangs, 0 wrong images, every case closed with a code`, async () => {
  const memory = makeGuest(PAGES, 77);
  const stream = validStream(memory);
  const sourceHash = memory.imageHash();
  const tally = new Map<string, number>();
  const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);
  const failures: string[] = [];
  let framesSent = 0;
  let verdicts = 0;
  let wrongImages = 0;
  let hangs = 0;

  async function lane(l: Lane, seed: number): Promise<void> {
    const rng = new Rng(seed);
    for (let n = 0; n < CASES / LANES; n++) {
      const c = makeCase(stream, rng);
      framesSent += c.frames.length;
      const outcome = await runCase(l.url, c.frames);
      const last = outcome.replies[outcome.replies.length - 1];
      const context = `lane ${seed} case ${n} (${c.what}): ${JSON.stringify(outcome)}`;
      if (outcome.hung) hangs++;
      if (outcome.hung || !isSendableCloseCode(outcome.closeCode))
        failures.push(`not closed with a code: ${context}`);
      if (last?.type === 'ERROR') {
        if (!(WIRE_ERROR_CODES as readonly string[]).includes(last.code!))
          failures.push(`unknown code: ${context}`);
        if (last.closeCode !== outcome.closeCode) failures.push(`ERROR and close disagree: ${context}`);
        count(`${last.code} ${last.closeCode}`);
      } else if (last?.type === 'VERDICT') {
        verdicts++;
        if (last.passed && last.hash !== sourceHash) wrongImages++;
        count(`verdict ${last.passed ? 'passed' : 'failed'}`);
      } else count(`closed ${outcome.closeCode} after ${last?.type ?? 'nothing'}`);
      if (
        c.silentAfter &&
        !(last?.code === 'PRECOPY_ERR_TIMEOUT' && outcome.closeCode === CloseCode.DEADLINE)
      )
        failures.push(`a silent source not cut at the deadline: ${context}`);
    }
  }

  await Promise.all(lanes.map((l, i) => lane(l, 1616 + i)));
  // One outcome line per case from each process (its log is how an operator sees it).
  for (const l of lanes) {
    for (let i = 0; i < 500 && l.lines.length < CASES / LANES; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(l.lines.length).toBe(CASES / LANES);
  }
  const crashes = lanes.filter((l) => l.child.exitCode !== null || /Error|uncaught/i.test(l.stderr())).length;
  const summary = {
    cases: CASES,
    framesSent,
    crashes,
    hangs,
    wrongImages,
    verdicts,
    outcomes: Object.fromEntries([...tally].sort()),
  };
  process.stdout.write(`live fuzz: ${JSON.stringify(summary)}\n`);
  expect(failures.slice(0, 5)).toEqual([]);
  expect({ crashes, hangs, wrongImages }).toEqual({ crashes: 0, hangs: 0, wrongImages: 0 });
  // The fuzzer reaches deep checks and every kind of hostile case.
  expect(tally.size).toBeGreaterThanOrEqual(12);
  expect(tally.get(`PRECOPY_ERR_TIMEOUT ${CloseCode.DEADLINE}`)).toBeGreaterThan(0);

  // Each process still migrates a real guest, then exits 0 on SIGTERM.
  for (const l of lanes) {
    const session = await connectSource({ transport: 'ws', url: l.url, token: TOKEN });
    expect((await migrate(session, makeGuest(64, 1), 2)).passed).toBe(true);
    await session.close();
    l.child.kill('SIGTERM');
    expect(await l.exited).toBe(0);
  }
}, 300_000);
