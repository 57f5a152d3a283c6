/** The guest's public surface: spec, Guest, measurement helpers and the edge rule. */
export { guestSpecSchema, parseGuestSpec, CONTENT_KINDS } from './spec';
export type { GuestSpec, WorkloadSpec, ContentKind } from './spec';
export { Guest } from './guest';
export type { GuestOptions, GuestSideFaults, GuestStats } from './guest';
export { DirtyMeter, DirtyWindow } from './dirty-meter';
export type { WindowSample } from './dirty-meter';
export { checkEdgeRule } from './edge-rule';
export type { EdgeRuleResult } from './edge-rule';
export { SparseMemory, isZeroPage } from './sparse-memory';
export { WriteBatch, writeBatches, INCREMENT } from './batch';
export { THROTTLE_TIMESLICE_MS, MAX_THROTTLE } from './cpu-time';
export { parseTrace } from './trace';
