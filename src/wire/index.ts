/**
 * precopy's wire protocol, version 1: the frames one migration exchanges over one link.
 *
 *   source → destination                      destination → source
 *   HELLO (layout, encodings, token)     →    HELLO_ACK (maxPayload)
 *   ROUND_START n [final]
 *   PAGES n × k (batches)
 *   ROUND_END n (pages, running hash)    →    ROUND_ACK n (same figures)
 *   … more rounds; the final one marks stop-and-copy …
 *   VCPU_STATE
 *   COMPLETE (sha256 of the paused image) →   VERDICT (hash, edge rule, downtime), then close 1000
 *   CANCEL (any time)                          ERROR (either way, any time), then close
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
export type { DestinationVerdict, EdgeCheck } from './verdict';
