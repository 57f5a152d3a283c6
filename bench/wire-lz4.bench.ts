/**
 * lz4 per core on 4 KiB pages, as the wire uses it (the `lz4` package's block API, one page
 * per block): encode and decode MiB/s on random, zero and text-like pages, and the compression
 * ratio. Baseline in the same run: copying the same pages (what a raw page costs the sender).
 * Then the effective goodput (guest bytes per second delivered) with and without compression
 * on links of 1 Gbit/s, 10 Gbit/s and loopback-like 1.4 GiB/s: pipelined, a compressed stream
 * delivers min(encode, decode, link × ratio) of guest bytes per second; raw delivers the link.
 */
import * as lz4 from 'lz4';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Rng } from '../src/util/rng';
import { xbzrleEncode } from '../src/wire/xbzrle';

const PAGE = 4096;
const PAGES = 4096; // 16 MiB per pass
const PASSES = 5;

function pages(kind: 'random' | 'zero' | 'text'): Buffer {
  const buf = Buffer.alloc(PAGES * PAGE);
  const rng = new Rng(7);
  if (kind === 'random') rng.fill(buf);
  if (kind === 'text') {
    const words = [
      'the ',
      'guest ',
      'writes ',
      'pages ',
      'while ',
      'we ',
      'copy ',
      'them ',
      '\n',
      'dirty ',
      'log ',
    ];
    let at = 0;
    while (at < buf.length) at += buf.write(words[rng.int(words.length)]!, at);
  }
  return buf;
}

/** Best MiB/s of PASSES passes of `fn` over all pages. */
function speed(fn: (page: number) => void): number {
  let best = 0;
  for (let pass = 0; pass < PASSES; pass++) {
    const start = performance.now();
    for (let p = 0; p < PAGES; p++) fn(p);
    best = Math.max(best, (PAGES * PAGE) / 2 ** 20 / ((performance.now() - start) / 1000));
  }
  return best;
}

const round = (x: number) => Number(x.toFixed(1));

function measure(kind: 'random' | 'zero' | 'text') {
  const input = pages(kind);
  const bound = lz4.encodeBound(PAGE);
  const compressed = Buffer.alloc(PAGES * bound);
  const sizes = new Int32Array(PAGES);
  const out = Buffer.alloc(PAGE);
  const copyTarget = Buffer.alloc(PAGES * PAGE);
  const copy = speed((p) => input.copy(copyTarget, p * PAGE, p * PAGE, (p + 1) * PAGE));
  const encode = speed((p) => {
    // The wire's rule: give lz4 less than a page of room; 0 means "send it raw".
    sizes[p] = lz4.encodeBlock(
      input.subarray(p * PAGE, (p + 1) * PAGE),
      compressed,
      p * bound,
      p * bound + PAGE - 1,
    );
  });
  let wireBytes = 0;
  for (let p = 0; p < PAGES; p++) wireBytes += sizes[p]! > 0 ? sizes[p]! : PAGE;
  const compressible = sizes.filter((s) => s > 0).length;
  const decode =
    compressible === 0
      ? null
      : speed((p) => {
          if (sizes[p]! > 0) lz4.decodeBlock(compressed, out, p * bound, p * bound + sizes[p]!);
        });
  return {
    copyMiBps: round(copy),
    encodeMiBps: round(encode),
    decodeMiBps: decode === null ? null : round(decode),
    ratio: Number(((PAGES * PAGE) / wireBytes).toFixed(2)),
    pagesCompressed: compressible,
    encodeToCopy: Number((encode / copy).toFixed(3)),
  };
}

function goodput(row: ReturnType<typeof measure>, linkMiBps: number) {
  const compressed = Math.min(row.encodeMiBps, row.decodeMiBps ?? Infinity, linkMiBps * row.ratio);
  return {
    rawMiBps: round(linkMiBps),
    lz4MiBps: round(compressed),
    gain: Number((compressed / linkMiBps).toFixed(2)),
  };
}

/** XBZRLE (the delta encoding) on random pages with 8 changed bytes each, for comparison with QEMU's 1.5–2.2 GB/s. */
function xbzrle() {
  const old = pages('random');
  const changed = Buffer.from(old);
  const rng = new Rng(8);
  for (let p = 0; p < PAGES; p++) for (let k = 0; k < 8; k++) changed[p * PAGE + rng.int(PAGE)] ^= 1;
  const out = Buffer.alloc(PAGE);
  const view = (b: Buffer, p: number) => b.subarray(p * PAGE, (p + 1) * PAGE);
  return { encodeMiBps: round(speed((p) => xbzrleEncode(view(old, p), view(changed, p), out, 0, PAGE - 1))) };
}

const rows = { random: measure('random'), zero: measure('zero'), text: measure('text') };
const links = {
  '1Gbit/s': 1e9 / 8 / 2 ** 20,
  '10Gbit/s': 1e10 / 8 / 2 ** 20,
  'loopback 1.4GiB/s': 1.4 * 1024,
};
const goodputs = Object.fromEntries(
  Object.entries(links).map(([name, mibps]) => [
    name,
    Object.fromEntries(Object.entries(rows).map(([kind, row]) => [kind, goodput(row, mibps)])),
  ]),
);
process.stdout.write(
  JSON.stringify({
    unit: 'MiB/s per core, 4 KiB pages; baseline = copying the same pages',
    loadAverage: loadavg()[0],
    ...rows,
    xbzrle8ChangedBytes: xbzrle(),
    goodput: goodputs,
  }) + '\n',
);
