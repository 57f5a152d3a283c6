/**
 * QEMU's MigrationStatus names (qapi/migration.json) used by precopy (no colo, wait-unplug): the states the source statechart reports. They belong to the chart; the result
 * (src/migration/result.ts) and the viewers take them from here.
 */
export const MIGRATION_STATUSES = [
  'none',
  'setup',
  'active',
  'pre-switchover',
  'device',
  'postcopy-active',
  'postcopy-paused',
  'postcopy-recover',
  'completed',
  'cancelling',
  'cancelled',
  'failed',
] as const;

export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];
