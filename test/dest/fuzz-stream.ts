/**
 * What the fuzz tests send: the frames of one valid three-round migration of a small guest (its
 * handshake and VERIFY included), and a seeded mutation of one of its frames.
 */
import type { SparseMemory } from '../../src/guest/sparse-memory';
import type { Rng } from '../../src/util/rng';
import { PageEncoder, emptyStats } from '../../src/wire/batch';
import { HEADER_SIZE, MAX_FRAME_TYPE } from '../../src/wire/constants';
import {
  encodeConfig,
  encodeHandshake,
  encodeHello,
  encodeRoundEnd,
  encodeRoundStart,
  encodeVcpuState,
  encodeVerify,
  seal,
} from '../../src/wire/frames';
import { BARE_CONFIG } from '../../src/wire/config';
import { XbzrleCache } from '../../src/wire/xbzrle';
import { TOKEN } from '../link/helpers';

export const PAGES = 24;

/** The frames of one valid three-round migration of `memory` (PAGES pages), its handshake and VERIFY. */
export function validStream(memory: SparseMemory): Buffer[] {
  const encoder = new PageEncoder({ zero: true, lz4: true, xbzrle: new XbzrleCache(1 << 16) });
  const frames = [
    encodeHello({
      pages: PAGES,
      pageSize: 4096,
      edgeFirstPage: 0,
      edgePages: 0,
      encodings: 0b1111,
      // An id, so the destination's recovery table is in play (a retyped frame may become QUERY).
      migrationId: '00000000f022cafe',
      token: TOKEN,
    }),
    encodeConfig(BARE_CONFIG),
  ];
  const gfns = Array.from({ length: PAGES }, (_, i) => i);
  for (let round = 0; round < 3; round++) {
    const final = round === 2;
    if (round > 0) for (let g = 1; g < PAGES; g += 5) memory.writable(g)[round * 9] ^= 0x5a;
    encoder.startRound(round, final);
    frames.push(encodeRoundStart(round, final, round * 10));
    for (let from = 0; from < PAGES; from += 8) {
      const frame = encoder.encode(round, gfns, from, from + 8, memory, emptyStats());
      if (frame) frames.push(frame);
    }
    frames.push(encodeRoundEnd(round, encoder.roundPages, encoder.runningHash, round * 10 + 5));
  }
  frames.push(
    encodeVcpuState(Uint8Array.of(7, 7, 7)),
    encodeHandshake('PREPARE', 40),
    encodeHandshake('GO', 41),
    encodeVerify(memory.imageHash(), 42),
  );
  return frames;
}

export const MUTATIONS = [
  'flip',
  'set',
  'truncate',
  'extend',
  'retype',
  'random',
  'duplicate',
  'swap',
] as const;

/** One frame of `frames` mutated; half the time re-sealed (length and checksum honest again) so the body checks are reached. */
export function mutate(
  frames: Buffer[],
  rng: Rng,
  kinds: number = MUTATIONS.length,
): { frames: Buffer[]; what: string; at: number } {
  const out = frames.map((f) => Buffer.from(f));
  const i = rng.int(out.length);
  let f = out[i]!;
  const kind = rng.int(kinds);
  const what = MUTATIONS[kind]!;
  switch (kind) {
    case 0:
      for (let n = 1 + rng.int(3); n > 0; n--) f[rng.int(f.length)] ^= 1 << rng.int(8);
      break;
    case 1:
      f[rng.int(f.length)] = rng.int(256);
      break;
    case 2:
      f = f.subarray(0, rng.int(f.length));
      break;
    case 3:
      f = Buffer.concat([f, rng.fill(new Uint8Array(1 + rng.int(64)))]);
      break;
    case 4:
      // Any frame type, QUERY and OUTCOME (18, 19) included.
      f[5] = 1 + rng.int(MAX_FRAME_TYPE);
      break;
    case 5:
      f = Buffer.from(rng.fill(new Uint8Array(rng.int(200))));
      break;
    case 6:
      out.splice(i, 0, Buffer.from(f));
      break;
    case 7:
      if (i + 1 < out.length) [out[i], out[i + 1]] = [out[i + 1]!, f];
      return { frames: out, what, at: i };
  }
  // Half the time, make the header honest again so the body's own checks are what catch it.
  if (rng.int(2) === 0 && f.length >= HEADER_SIZE) {
    f.writeUInt32LE(f.length - HEADER_SIZE, 8);
    seal(f);
  }
  out[i] = f;
  return { frames: out, what, at: i };
}
