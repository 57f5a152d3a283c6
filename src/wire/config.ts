/**
 * CONFIG: what the destination needs beyond the memory layout, sent once right after HELLO_ACK
 * (QEMU's configuration section). A small, rare frame, so a zod-validated JSON body like the
 * verdict. The guest description is checked again by the guest layer's own schema at the
 * destination; the wire only makes sure it is an object.
 */
import { z } from 'zod';

export const RUN_CLOCKS = ['virtual', 'wall'] as const;

export const configSchema = z.strictObject({
  /**
   * The run's clock. virtual: every time the destination reports is the source's timestamp
   * (`at` on the control frames) plus `latencyMs`, so both ends report one simulated clock.
   * wall: the destination measures on its own wall clock.
   */
  clock: z.enum(RUN_CLOCKS),
  /** The one-way latency the source models in virtual time (ms). */
  latencyMs: z.number().min(0).max(60_000),
  /** How long the resumed guest runs at the destination before the post-run check (ms of its clock). */
  postRunMs: z.number().min(0).max(3_600_000),
  /**
   * The guest (a parsed guest spec: memory, vCPUs, seed, fill, workload) the destination resumes
   * from the received image and vCPU state; null: resume the image alone, no workload to run.
   */
  guest: z.record(z.string(), z.unknown()).nullable(),
});

export type LinkConfig = z.infer<typeof configSchema>;

/** A link with no guest to run (the link-level tests): wall clock, no latency, no post-run. */
export const BARE_CONFIG: LinkConfig = { clock: 'wall', latencyMs: 0, postRunMs: 0, guest: null };
