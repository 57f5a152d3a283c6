/**
 * The destination's verdict, sent as a zod-validated JSON body (a small, rare frame where a
 * schema says more than a byte layout would).
 */
import { z } from 'zod';

export const edgeCheckSchema = z.strictObject({
  passed: z.boolean(),
  badPages: z.number().int().min(0),
  firstBadPage: z.number().int().min(0).optional(),
  value: z.number().int().min(0).max(255).optional(),
  previousValue: z.number().int().min(0).max(255).optional(),
  /** Byte 0 of the first ten bad pages, as QEMU prints them. */
  values: z.array(z.number().int().min(0).max(255)).max(10).optional(),
  /** Where the one allowed drop is (the incrementer stopped there). */
  edgePage: z.number().int().min(0).optional(),
});

/**
 * The destination's downtime, part by part, in the run's clock: each part runs from one frame
 * to the next, so they add up to `destinationDowntimeMs` exactly.
 */
export const destinationBreakdownSchema = z.strictObject({
  /** The last live round's end → the first stop-and-copy frame (the source's final sync and decision). */
  stop: z.number().min(0),
  /** ROUND_START(final) → ROUND_END(final): the stop-and-copy round arriving. */
  finalRound: z.number().min(0),
  /** ROUND_END(final) → PREPARE: the vCPU state arriving. */
  vcpuState: z.number().min(0),
  /** PREPARE → READY: loading the vCPU state and building the guest on the image. */
  prepare: z.number().min(0),
  /** READY → GO: the source's commit, one round trip. */
  commit: z.number().min(0),
  /** GO → the guest running here. */
  resume: z.number().min(0),
});

/** The resumed guest's run at the destination and the workload's own check on what it read. */
export const postRunSchema = z.strictObject({
  /** Run time the guest had at the destination (ms of its clock). */
  ms: z.number().min(0),
  /** Page writes the resumed guest made through the destination's MMU. */
  writes: z.number().int().min(0),
  /** edge-rule: the incrementer's counters after the run; none: the workload has no self-check. */
  check: z.enum(['edge-rule', 'none']),
  passed: z.boolean(),
  edgeCheck: edgeCheckSchema.optional(),
  reason: z.string().max(1024).optional(),
});

/** Postcopy's figures as the destination measured them (QEMU's names in the result). */
export const postcopyVerdictSchema = z.strictObject({
  /** Page requests made (postcopy-requests). */
  requests: z.number().int().min(0),
  /** ms every vCPU was blocked at once (postcopy-blocktime). */
  blocktime: z.number().min(0),
  /** ms each vCPU was blocked (postcopy-vcpu-blocktime). */
  vcpuBlocktime: z.array(z.number().min(0)).max(256),
  /** Writes each vCPU made here since it resumed. */
  vcpuWrites: z.array(z.number().int().min(0)).max(256),
  /** Links recovered (migrate-recover). */
  recoveries: z.number().int().min(0),
  /** Pages placed from the source (the rest were here from pre-copy). */
  pagesPlaced: z.number().int().min(0),
  /** When every page was here, in the run's clock. */
  completedAt: z.number().min(0),
  /** Faults over time (src/dest/postcopy.ts PostcopyTimeline: at most 128 samples, 32 vCPUs). */
  timeline: z.strictObject({
    t: z.array(z.number().min(0)).max(128),
    requests: z.array(z.number().int().min(0)).max(128),
    vcpuBlocktime: z.array(z.array(z.number().min(0)).max(128)).max(32),
  }),
});

export const verdictSchema = z.strictObject({
  /** The image hash matched, the edge rule held at resume, and the post-run check passed. */
  passed: z.boolean(),
  destinationHash: z.string().regex(/^[0-9a-f]{64}$/),
  edgeCheck: edgeCheckSchema.optional(),
  /** Last page before the stop → guest running here (ms of the run's clock). */
  destinationDowntimeMs: z.number().min(0),
  downtimeBreakdown: destinationBreakdownSchema,
  /** When the guest resumed here, in the run's clock. */
  resumedAt: z.number().min(0),
  /** Hashing and the edge rule at resume, after the guest was running (run's clock; 0 in virtual time). */
  verifyMs: z.number().min(0),
  rounds: z.number().int().min(0),
  pagesReceived: z.number().int().min(0),
  /** null: no guest description in CONFIG (the image alone was resumed). */
  postRun: postRunSchema.nullable(),
  /** Postcopy: the destination hash is the image as it arrived, each page before this guest wrote it. */
  postcopy: postcopyVerdictSchema.optional(),
  reason: z.string().max(1024).optional(),
});

/** QEMU's single-edge rule over the incrementer region. */
export type EdgeCheck = z.infer<typeof edgeCheckSchema>;

export type DestinationVerdict = z.infer<typeof verdictSchema>;
export type DestinationBreakdown = z.infer<typeof destinationBreakdownSchema>;
export type PostRun = z.infer<typeof postRunSchema>;
export type PostcopyVerdict = z.infer<typeof postcopyVerdictSchema>;
