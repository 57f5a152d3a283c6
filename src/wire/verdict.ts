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

export const verdictSchema = z.strictObject({
  passed: z.boolean(),
  destinationHash: z.string().regex(/^[0-9a-f]{64}$/),
  edgeCheck: edgeCheckSchema.optional(),
  destinationDowntimeMs: z.number().min(0),
  rounds: z.number().int().min(0),
  pagesReceived: z.number().int().min(0),
  reason: z.string().max(1024).optional(),
});

/** QEMU's single-edge rule over the incrementer region. */
export type EdgeCheck = z.infer<typeof edgeCheckSchema>;

export type DestinationVerdict = z.infer<typeof verdictSchema>;
