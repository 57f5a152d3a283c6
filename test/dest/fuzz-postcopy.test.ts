/**
 * Seeded fuzzing of the postcopy destination (src/dest/postcopy-receiver.ts): the source's frames
 * of one valid postcopy run (VCPU_STATE, BITMAP(discard), the CLOCK-stamped PAGES of each epoch,
 * VERIFY), recorded and replayed with one frame mutated as test/dest/fuzz-stream.ts mutates (half
 * re-sealed so the body checks are reached). The destination's side depends only on what the
 * source sends, so a replay drives it as the run did. Every case ends in a typed ERROR whose close
 * code is the link's, a verdict that is honest about the image, or (the stream stopped short in
 * the lockstep and the link closed) postcopy-paused, waiting for a RECOVER: never a throw.
 */
import type { Transport } from '../../src/link/types';
import { inprocPair } from '../../src/link/inproc';
import { PostcopyReceiver } from '../../src/dest/postcopy-receiver';
import { PostcopySource } from '../../src/migration/postcopy';
import { Rng } from '../../src/util/rng';
import { WIRE_ERROR_CODES } from '../../src/wire/errors';
import { Encoding } from '../../src/wire/constants';
import { decodeFrame } from '../../src/wire/frames';
import { MiB, switchAt } from '../migration/postcopy-fixture';
import { parseGuestSpec } from '../../src/guest/index';
import { mutate } from './fuzz-stream';

const CASES = 300;
const SPEC = parseGuestSpec({
  memory: '1MiB',
  vcpus: 2,
  seed: 3,
  fill: { populated: '100%', content: 'random' },
  workload: { kind: 'uniform', rate: '4MiB/s' },
});
const LINK = { bandwidth: 32 * MiB, latencyMs: 0.5 };
const ENCODINGS = (1 << Encoding.ZERO) | (1 << Encoding.RAW) | (1 << Encoding.LZ4);
const ID = '00000000000000f0';

function world() {
  return switchAt(SPEC, 50, (g) => g % 7 === 0);
}

/** The in-process end as a wire that can corrupt: the receiver recomputes every checksum. */
function unsealed(t: Transport): Transport {
  return {
    send: (frame, done) => t.send(frame, done),
    setHandlers: (h) => t.setHandlers(h),
    close: (code, reason) => t.close(code, reason),
    bufferedAmount: 0,
  };
}

function receiver(transport: Transport, destination: ReturnType<typeof world>['destination']) {
  return new PostcopyReceiver(unsealed(transport), {
    memory: destination,
    spec: SPEC,
    latencyMs: LINK.latencyMs,
    deadlineMs: 2000,
    migrationId: ID,
    token: 't',
    encodings: ENCODINGS,
  });
}

/** The source's frames of one valid run, in order. */
async function record(): Promise<{ frames: Buffer[]; sourceHash: string }> {
  const w = world();
  const [source, end] = inprocPair();
  receiver(end, w.destination);
  const frames: Buffer[] = [];
  const recording: Transport = {
    send: (frame, done) => (frames.push(Buffer.from(frame)), source.send(frame, done)),
    setHandlers: (h) => source.setHandlers(h),
    close: (code, reason) => source.close(code, reason),
    bufferedAmount: 0,
  };
  const run = await new PostcopySource({
    transport: recording,
    clock: w.clock,
    source: w.source,
    discard: w.discard,
    vcpuState: w.vcpuState,
    link: LINK,
    reopen: () => Promise.reject(new Error('no recovery in the recording')),
    migrationId: ID,
    token: 't',
  }).run();
  expect(run.verdict?.passed).toBe(true);
  return { frames, sourceHash: w.source.imageHash() };
}

test(`${CASES} mutated postcopy streams: a typed error and its close code, an honest verdict, or paused`, async () => {
  const { frames: stream, sourceHash } = await record();
  const rng = new Rng(2027);
  const outcomes = new Map<string, number>();
  const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
  for (let n = 0; n < CASES; n++) {
    const { frames, what } = mutate(stream, rng);
    const w = world();
    const [source, end] = inprocPair();
    const r = receiver(end, w.destination);
    const replies: Array<{
      type: string;
      code?: string;
      closeCode?: number;
      passed?: boolean;
      hash?: string;
    }> = [];
    let closeCode = 0;
    source.setHandlers({
      message: (bytes) => {
        const f = decodeFrame(bytes);
        if (f.type === 'ERROR') replies.push({ type: f.type, code: f.code, closeCode: f.closeCode });
        else if (f.type === 'VERDICT')
          replies.push({ type: f.type, passed: f.verdict.passed, hash: f.verdict.destinationHash });
        else replies.push({ type: f.type });
      },
      close: (error) => void (closeCode = error?.closeCode ?? 1000),
    });
    for (const f of frames) await source.send(f).catch(() => undefined);
    await new Promise((resolve) => setImmediate(resolve));
    const last = replies.filter((x) => x.type === 'ERROR' || x.type === 'VERDICT').pop();
    const context = `case ${n} (${what}): state ${r.status}, last ${JSON.stringify(last)}`;
    if (last?.type === 'ERROR') {
      expect({ context, known: (WIRE_ERROR_CODES as readonly string[]).includes(last.code!) }).toEqual({
        context,
        known: true,
      });
      expect({ context, closeCode }).toEqual({ context, closeCode: last.closeCode });
      expect({ context, state: r.status }).toEqual({ context, state: 'ended' });
      count(last.code!);
    } else if (last?.type === 'VERDICT') {
      if (last.passed) expect({ context, hash: last.hash }).toEqual({ context, hash: sourceHash });
      count(last.passed ? 'verified' : 'verdict failed');
    } else {
      // The stream stopped short of the end (a CLOCK or a PAGES lost to the mutation's fallout):
      // the link closes, the destination pauses and waits for migrate-recover.
      source.close(1000, 'done');
      await new Promise((resolve) => setImmediate(resolve));
      expect({ context, state: r.status }).toEqual({ context, state: 'paused' });
      count('paused');
    }
  }
  process.stdout.write(`postcopy fuzz outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}\n`);
  // The fuzzer reaches the body checks and the tallies, not just the header's.
  for (const code of [
    'PRECOPY_ERR_BAD_CHECKSUM',
    'PRECOPY_ERR_UNEXPECTED_FRAME',
    'PRECOPY_ERR_ROUND_MISMATCH',
  ])
    expect(outcomes.get(code)).toBeGreaterThan(0);
  expect(outcomes.size).toBeGreaterThanOrEqual(7);
});
