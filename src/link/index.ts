/**
 * The link: how the round engine talks to a destination. This file is the contract the engine
 * codes against; the implementations live one concern per file beside it.
 *
 * Lifecycle, one migration per session:
 *
 *   const s = await connectSource({ transport: 'ws', url, token, encodings: ['zero', 'lz4'] });
 *   await s.hello({ pages, pageSize: 4096, edgeRegion }, config);
 *   for each round n: await s.startRound(n); await s.sendPages(gfns, count, memory); await s.endRound(n);
 *   stop-and-copy:    await s.startRound(n, { final: true }); ...sendPages...; await s.endRound(n);
 *                     await s.sendVcpuState(blob);
 *   switchover:       await s.prepare();                 // READY: the destination can resume
 *                     await s.go();                      // RESUMED: the guest runs there (commit point)
 *   verification:     const verdict = await s.verify(memory.imageHash());
 *   await s.close();
 *
 * Control frames carry the session clock's now() as their timestamp; in virtual time that is the
 * run's simulated clock, which the destination reports its figures in.
 *
 * Every method rejects with a `WireError` (code + message + closeCode) once the link has failed:
 * link lost, keepalive timeout, an ERROR frame from the destination, a malformed frame. The
 * first failure is also reported once to `onError` listeners, so an idle engine learns of it.
 * The source guest is never touched by a failure: the session only reads memory.
 *
 * Direction and masking: the source connects, the destination listens (`precopy dest`, like
 * QEMU's `-incoming`). Pages therefore flow client → server, the direction RFC 6455 masks. ws
 * skips masking on both ends when the mask is all zero, so the source uses a zero mask by
 * default (`zeroMask: true`): a departure from RFC 6455's client rule, acceptable here because
 * the link is token-checked and not meant for browsers or proxies. bufferutil (native) masks
 * the small control frames. See bench/wire-stream.bench.ts for both settings against raw `net`.
 */
export type {
  Acceptor,
  ConnectOptions,
  EncodingName,
  GuestLayout,
  RoundAck,
  SendStats,
  SourceSession,
  Transport,
  TransportHandlers,
} from './types';
export { WireError, type WireErrorCode } from '../wire/errors';
export { CloseCode } from '../wire/constants';
export * from './bandwidth';
export { emptyStats as emptySendStats } from '../wire/batch';
export type { DestinationBreakdown, DestinationVerdict, EdgeCheck, PostRun } from '../wire/verdict';
export { BARE_CONFIG, type LinkConfig } from '../wire/config';
export { connectSource } from './connect';
export { DEFAULT_DEADLINES } from './session';
