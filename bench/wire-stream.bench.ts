/**
 * Page streaming source → destination on loopback, two processes, as `precopy run` does it:
 * encode + frame + send over ws + receive + validate + decode + apply into the destination's
 * sparse memory, timed from ROUND_START to the destination's ROUND_ACK (so every page has been
 * applied and hashed). Baseline in the same run: a raw `net` socket between the same two
 * processes carrying the same page bytes with no framing, timed until the receiver has counted
 * them all. Figure: guest bytes per second; ratio = ws / net (the goal: ≥ 0.6).
 *
 * Rows: random (incompressible) and text-like (compressible) pages; ws with raw encoding and
 * a zero mask (the default link), raw with RFC 6455 random masks (bufferutil unmasks), and the
 * default encodings zero+lz4 (goodput with compression).
 *
 * A second baseline, `netApplied`: the same raw net stream whose receiver does the work the
 * destination cannot skip — the wire's checksum over every byte (XXH32 per received chunk) and one copy into
 * sparse guest memory — and nothing else: no framing, no validation, no ws. It is the ceiling
 * for any checked, applied stream on this machine; `ratio_wsRaw_to_netApplied` is what ws and
 * precopy's framing cost on top of it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { NODE_ENV_VARS, NODE_FLAGS } from '../src/cli/node-flags';
import { startDestinationServer } from '../src/dest/server';
import { frameChecksum } from '../src/wire/checksum';
import { SparseMemory } from '../src/guest/sparse-memory';
import { connectSource, type EncodingName } from '../src/link/index';
import { Rng } from '../src/util/rng';

/**
 * Every process here, the net baseline's included, runs as bin/precopy.js runs precopy: its node
 * flags, its environment and sucrase's loader. (How a process runs moves these figures more
 * than any code here: with glibc malloc's defaults a small receiver takes a page fault per 4 KiB
 * received, which halved the net baseline; ts-node's large heap happened to hide that.)
 */
const PROCESS_ARGS = [...NODE_FLAGS, '-r', require.resolve('sucrase/register/ts')];
const PROCESS_ENV = { ...process.env, ...NODE_ENV_VARS };
const PAGES = 16384; // 64 MiB per round
const REPEATS = 8;
const SETS = 3;
const TOKEN = 'bench';

type Content = 'random' | 'text';

function guest(content: Content): SparseMemory {
  const memory = new SparseMemory(PAGES);
  const rng = new Rng(1);
  for (let gfn = 0; gfn < PAGES; gfn++) {
    const page = memory.writable(gfn);
    if (content === 'random') rng.fill(page);
    else for (let i = 0; i < page.length; i++) page[i] = 32 + ((i * 31 + gfn + (rng.u32() & 3)) % 90);
  }
  return memory;
}

////     child processes: the destination side     ////

async function childWs(): Promise<void> {
  const server = await startDestinationServer({ token: TOKEN, maxPayload: 4 << 20, keepaliveMs: 0 });
  process.stdout.write(`${server.url}\n`);
}

function childNet(apply: boolean): void {
  const memory = new SparseMemory(PAGES);
  let checksum = 0;
  /** Checksum and copy the bytes at stream offset `at` into guest memory, page by page. */
  const applyBytes = (chunk: Buffer, at: number) => {
    checksum = (checksum ^ frameChecksum(chunk)) >>> 0;
    for (let done = 0; done < chunk.length;) {
      const offset = (at + done) % 4096;
      const n = Math.min(4096 - offset, chunk.length - done);
      memory.writable(Math.floor((at + done) / 4096) % PAGES).set(chunk.subarray(done, done + n), offset);
      done += n;
    }
  };
  const server = createServer((socket) => {
    let expected = -1;
    let received = 0;
    let header = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (expected < 0) {
        // First 8 bytes: how many bytes this transfer carries.
        header = Buffer.concat([header, chunk]);
        if (header.length < 8) return;
        expected = header.readUInt32LE(0) * 2 ** 32 + header.readUInt32LE(4);
        chunk = header.subarray(8);
      }
      if (apply) applyBytes(chunk, received);
      received += chunk.length;
      if (received >= expected) {
        // The ack carries the checksum (any ack will do for the sender): computed, not elided.
        const ack = Buffer.alloc(4);
        ack.writeUInt32LE(checksum, 0);
        socket.write(ack);
        expected = -1;
        received = 0;
        header = Buffer.alloc(0);
      }
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
  });
}

function spawnChild(mode: string): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [...PROCESS_ARGS, __filename, mode], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: PROCESS_ENV,
  });
  return new Promise((resolve) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, line }));
  });
}

////     the source side: one open stream per mode, one round (64 MiB) at a time     ////

type Round = () => Promise<number>;

async function wsStream(url: string, memory: SparseMemory, encodings: EncodingName[], zeroMask: boolean) {
  const session = await connectSource({
    transport: 'ws',
    url,
    token: TOKEN,
    encodings,
    zeroMask,
    maxBatchPages: 64,
    keepaliveMs: 0,
  });
  const gfns = Uint32Array.from({ length: PAGES }, (_, i) => i);
  await session.hello({ pages: PAGES, pageSize: 4096 });
  let round = 0;
  const next: Round = async () => {
    const start = performance.now();
    await session.startRound(round);
    await session.sendPages(gfns, PAGES, memory);
    await session.endRound(round++);
    return (PAGES * 4096) / ((performance.now() - start) / 1000);
  };
  return { next, close: () => session.cancel('bench done') };
}

async function netStream(port: number, memory: SparseMemory) {
  const socket: Socket = await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
  });
  socket.setNoDelay(true);
  const chunkPages = 64; // the same 256 KiB writes as the ws batches
  const free: Buffer[] = [];
  const next: Round = async () => {
    const start = performance.now();
    const acked = new Promise((resolve) => socket.once('data', resolve));
    const header = Buffer.alloc(8);
    header.writeUInt32LE(PAGES * 4096, 4);
    socket.write(header);
    for (let from = 0; from < PAGES; from += chunkPages) {
      // Reuse written chunks, as the ws sender reuses its frames: fresh memory per write
      // would slow the baseline and flatter the ratio.
      const chunk = free.pop() ?? Buffer.allocUnsafe(chunkPages * 4096);
      for (let i = 0; i < chunkPages; i++) chunk.set(memory.read(from + i), i * 4096);
      if (!socket.write(chunk, () => free.push(chunk)))
        await new Promise((resolve) => socket.once('drain', resolve));
    }
    await acked;
    return (PAGES * 4096) / ((performance.now() - start) / 1000);
  };
  return { next, close: async () => void socket.destroy() };
}

const gib = (bytesPerSecond: number) => Number((bytesPerSecond / 2 ** 30).toFixed(3));
const MODES = ['net', 'netApplied', 'wsRaw', 'wsRawMasked', 'wsZeroLz4'] as const;
const WS_RAW = MODES.indexOf('wsRaw');

/** One set of measurements: every mode and content, against one set of destination processes. */
async function measureSet(): Promise<void> {
  // One destination process per ws mode (each serves one migration at a time), one for net.
  const children = await Promise.all([
    spawnChild('child-net'),
    spawnChild('child-net-applied'),
    spawnChild('child-ws'),
    spawnChild('child-ws'),
    spawnChild('child-ws'),
  ]);
  const results: Record<string, unknown> = {};
  try {
    for (const content of ['random', 'text'] as const) {
      const memory = guest(content);
      const streams = [
        await netStream(Number(children[0]!.line), memory),
        await netStream(Number(children[1]!.line), memory),
        await wsStream(children[2]!.line, memory, ['raw'], true),
        await wsStream(children[3]!.line, memory, ['raw'], false),
        await wsStream(children[4]!.line, memory, ['zero', 'lz4'], true),
      ];
      // Interleaved rounds, so load from elsewhere on the machine hits every mode alike; the
      // first round of each warms up (and allocates the destination's memory).
      const best = MODES.map(() => 0);
      // CPU seconds per side, which other load on the machine does not inflate much: the rate
      // each mode would reach with a core per side is bytes / the busier side's CPU time.
      const sourceCpu = MODES.map(() => 0);
      const destinationCpu = MODES.map(() => 0);
      for (let rep = 0; rep < REPEATS + 1; rep++)
        for (let m = 0; m < streams.length; m++) {
          const child = children[m]!.child;
          const [source0, destination0] = [ownCpu(), await childCpu(child)];
          const rate = await streams[m]!.next();
          const [source1, destination1] = [ownCpu(), await childCpu(child)];
          if (rep === 0) continue;
          best[m] = Math.max(best[m]!, rate);
          sourceCpu[m] += source1 - source0;
          destinationCpu[m] += destination1 - destination0;
        }
      const perCore = (m: number) => (REPEATS * PAGES * 4096) / Math.max(sourceCpu[m]!, destinationCpu[m]!);
      for (const s of streams) await s.close();
      const row: Record<string, number> = {};
      MODES.forEach((mode, m) => {
        row[`${mode}GiBps`] = gib(best[m]!);
        row[`${mode}CoreBoundGiBps`] = gib(perCore(m));
        row[`${mode}CpuSecondsPerGiB_source`] = Number(
          (sourceCpu[m]! / ((REPEATS * PAGES) / 262144)).toFixed(3),
        );
        row[`${mode}CpuSecondsPerGiB_destination`] = Number(
          (destinationCpu[m]! / ((REPEATS * PAGES) / 262144)).toFixed(3),
        );
      });
      row.coreBoundRatio_wsRaw_to_net = Number((perCore(WS_RAW) / perCore(0)).toFixed(3));
      MODES.slice(1).forEach(
        (mode, m) => (row[`ratio_${mode}_to_net`] = Number((best[m + 1]! / best[0]!).toFixed(3))),
      );
      row.ratio_wsRaw_to_netApplied = Number((best[WS_RAW]! / best[1]!).toFixed(3));
      row.coreBoundRatio_wsRaw_to_netApplied = Number((perCore(WS_RAW) / perCore(1)).toFixed(3));
      results[content] = row;
    }
  } finally {
    for (const c of children) c.child.kill();
  }
  process.stdout.write(
    JSON.stringify({
      unit: `GiB/s of guest pages, loopback, 2 processes, best of ${REPEATS} interleaved 64 MiB rounds; CoreBound = bytes / CPU time of the busier side`,
      goal: 'ratio_wsRaw_to_net >= 0.6 (coreBoundRatio_wsRaw_to_net is the same comparison, less sensitive to load)',
      loadAverage: loadavg()[0],
      ...results,
    }) + '\n',
  );
}

/** CPU seconds (user + system) a child has used so far, asked over IPC. */
function childCpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (usage) => {
      const u = usage as NodeJS.CpuUsage;
      resolve((u.user + u.system) / 1e6);
    });
    child.send('cpu');
  });
}

const ownCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/**
 * Sets differ far more from each other than rounds inside a set (where the host backs each
 * process's buffers, how GC settles), so SETS sets run in fresh processes: the figures are the
 * set with the median random-page ratio, and every set's ratios are listed.
 */
function main(): void {
  type SetResult = Record<string, unknown> & Record<Content, Record<string, number>>;
  const sets: SetResult[] = [];
  for (let i = 0; i < SETS; i++) {
    const out = execFileSync(process.execPath, [...PROCESS_ARGS, __filename, 'set'], {
      env: PROCESS_ENV,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    sets.push(JSON.parse(out.trim().split('\n').pop()!) as SetResult);
  }
  const ratio = (set: SetResult, content: Content) => set[content].ratio_wsRaw_to_net!;
  const median = [...sets].sort((a, b) => ratio(a, 'random') - ratio(b, 'random'))[SETS >> 1]!;
  process.stdout.write(
    JSON.stringify({
      ...median,
      ratioPerSet: {
        random: sets.map((set) => ratio(set, 'random')),
        text: sets.map((set) => ratio(set, 'text')),
      },
    }) + '\n',
  );
}

const mode = process.argv[2];
if (mode?.startsWith('child-')) process.on('message', () => process.send!(process.cpuUsage()));
if (mode === 'child-ws') void childWs();
else if (mode === 'child-net') childNet(false);
else if (mode === 'child-net-applied') childNet(true);
else if (mode === 'set')
  measureSet().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
else main();
