/**
 * precopy's wire protocol, version 3: the frames one migration exchanges over one link
 * (README.md here has the whole protocol, the handshake and its failure cases).
 *
 *   source → destination                      destination → source
 *   HELLO (layout, encodings, token)     →    HELLO_ACK (maxPayload)
 *   CONFIG (clock, latency, guest, post-run)
 *   ROUND_START n [final] @at
 *   PAGES n × k (batches)
 *   ROUND_END n (pages, running hash) @at →   ROUND_ACK n (same figures)
 *   … more rounds; the final one marks stop-and-copy (source guest paused) …
 *   VCPU_STATE
 *   PREPARE @at                          →    READY @at (state loaded) | ERROR
 *   GO @at (the commit point)            →    RESUMED @at (the guest runs here)
 *   VERIFY (sha256 of the paused image)  →    VERDICT (hash, edge rule, post-run, downtime), close 1000
 *   CANCEL (before GO only)                    ERROR (either way, any time), then close
 *
 * Pages: zero (no payload), raw, lz4 (only when it shrinks the page) and XBZRLE (after the
 * bulk round, against the last copy sent). The receiver checks every field (constants.ts for
 * the layout, frames.ts and batch.ts for the checks); a problem is a WireError whose code names
 * it and whose closeCode the link closes with: 1002 malformed, 1007 inconsistent data (checksum,
 * decompression, round hash), 1008 token, 1009 too big, 1013 busy, 4000 cancelled, 4001 keepalive.
 */
export * from './constants';
export { WireError, WIRE_ERROR_CODES, wireError, type WireErrorCode } from './errors';
export { decodeFrame, type Frame, type FrameName } from './frames';
export { PageEncoder, applyPages, type BatchStats, type PageApplyContext } from './batch';
export { XbzrleCache, xbzrleDecode, xbzrleEncode, XBZRLE_OVERFLOW } from './xbzrle';
export type { DestinationBreakdown, DestinationVerdict, EdgeCheck, PostRun } from './verdict';
export { BARE_CONFIG, configSchema, type LinkConfig } from './config';
