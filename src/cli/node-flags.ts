/**
 * How every precopy process runs node: bin/precopy.js's shebang (which `npm start` goes
 * through) and the destination `precopy run` starts for itself set exactly these (a test holds
 * them to it). Each was measured with bench/wire-stream on this project's 2-core machine.
 */

/**
 * --single-threaded-gc: one thread does all of a process's garbage collection. A destination
 * allocates a buffer per socket read and per WebSocket message; with V8's concurrent marking
 * that external memory set off about 60 major GCs per GiB received, and the marking threads
 * took the core the source needed. With one GC thread: about 10 per GiB. A sweep's worker
 * threads each stay on one core too (bench/sweep-throughput).
 */
export const NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/**
 * glibc malloc: keep freed memory (up to 256 MiB) instead of handing it back to the kernel, and
 * serve blocks up to 32 MiB from the heap instead of fresh mmaps. Node allocates every socket
 * read's 64 KiB buffer with malloc; with glibc's defaults a small receiving process trimmed and
 * re-faulted them, one page fault per 4 KiB received, which cut a plain TCP receiver to under
 * half its rate and cost the destination 15-25 % of its throughput. The price: a process keeps
 * up to 256 MiB it freed.
 */
export const NODE_ENV_VARS: Readonly<Record<string, string>> = {
  GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=268435456:glibc.malloc.mmap_threshold=33554432',
};

/** bin/precopy.js's first line. */
export function shebang(): string {
  const env = Object.entries(NODE_ENV_VARS).map(([name, value]) => `${name}=${value}`);
  return `#!/usr/bin/env -S ${[...env, 'node', ...NODE_FLAGS].join(' ')}`;
}
