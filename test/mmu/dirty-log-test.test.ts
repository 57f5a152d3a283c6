/**
 * Port of tools/testing/selftests/kvm/dirty_log_test.c (§6.1) in its three modes (dirty-log,
 * clear-log with and without INITIALLY_SET, dirty-ring), both tracking modes, checked the way
 * the 2025 rework checks: the vCPU writes the iteration number into random pages; the host
 * collects while the vCPU runs, stops it at its next GUEST_SYNC, collects again, and verifies
 * every page: reported ⇒ value == iteration; not reported ⇒ value < iteration.
 * The same harness with each fault switch turned on must fail (negative tests a, b, c).
 */
import type { MmuFaults } from '../../src/mmu';
import { Rng } from '../../src/util/rng';
import type { LogMode } from './helpers';
import { collect, LOG_MODES, PAGE, setupMode } from './helpers';

/** Slot size: 4096 + 3 pages, deliberately not a multiple of 64 (the selftest: 1 GiB + 3 pages). */
const TEST_PAGES = 4096 + 3;
/** Pages the guest writes between two GUEST_SYNCs (TEST_PAGES_PER_LOOP). */
const PAGES_PER_LOOP = 1024;
/** Host loops (one collection pair each); -i defaults to 32. */
const ITERATIONS = 32;

interface Result {
  /** Pages whose value and dirty status disagree, over all iterations. */
  errors: number;
  reported: number;
}

function dirtyLogTest(mode: LogMode, seed: number, iterations: number, faults: MmuFaults = {}): Result {
  // The slot sits at the top of the 4-level GPA space, as the selftest puts it at the top of guest memory.
  const base = (2 ** 36 - 2 * TEST_PAGES) * PAGE;
  const s = setupMode(mode, TEST_PAGES, { faults, base });
  const rng = new Rng(seed);
  const initiallySet = mode.manual !== undefined && (mode.manual & 2) !== 0;
  const value = (page: number) => {
    const bytes = s.memory.read(page);
    return bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24);
  };
  let errors = 0;
  let reported = 0;
  for (let iteration = 1; iteration <= iterations; iteration++) {
    const dirty = new Set<number>();
    const record = (pages: number[]) => pages.forEach((p) => dirty.add(p));
    // The vCPU runs one interval: a random number of GUEST_SYNC loops' worth of writes.
    // The host's first collection lands somewhere inside it, with the vCPU still running.
    const writes = 1 + rng.int(2 * PAGES_PER_LOOP);
    const collectAt = rng.int(writes);
    for (let i = 0; i < writes; i++) {
      if (i === collectAt) record(collect(s, mode));
      const page = rng.int(TEST_PAGES);
      for (;;) {
        const r = s.vcpu.writeU32(base + page * PAGE, iteration);
        if (r === 'ok') break;
        expect(s.vcpu.ringFull).toBe(true); // KVM_EXIT_DIRTY_RING_FULL: the host collects, the vCPU re-enters
        record(collect(s, mode));
      }
    }
    // Stop the vCPU at its GUEST_SYNC, then the second collection (bmap[1]).
    s.vcpu.pause();
    record(collect(s, mode));
    for (let page = 0; page < TEST_PAGES; page++) {
      const v = value(page);
      if (dirty.has(page)) {
        // INITIALLY_SET: the first iteration also reports pages nobody wrote.
        if (v !== iteration && !(initiallySet && iteration === 1 && v < iteration)) errors++;
      } else if (v >= iteration) errors++;
    }
    reported += dirty.size;
    s.vcpu.resume();
  }
  expect(s.vm.stats().warnings).toEqual({});
  return { errors, reported };
}

describe('dirty_log_test', () => {
  for (const mode of LOG_MODES)
    it(`-M ${mode.name}: every page's value agrees with its dirty status for ${ITERATIONS} iterations`, () => {
      const { errors, reported } = dirtyLogTest(mode, 61, ITERATIONS);
      expect(reported).toBeGreaterThan(ITERATIONS * 100);
      expect(errors).toBe(0);
    });
});

describe('dirty_log_test catches a broken MMU (negative tests)', () => {
  const bitmapModes = LOG_MODES.filter((m) => m.kind !== 'dirty-ring');
  for (const mode of LOG_MODES)
    it(`(a) no TLB flush after reprotect: a later write is lost (${mode.name})`, () => {
      expect(dirtyLogTest(mode, 62, 6, { skipFlushAfterReprotect: true }).errors).toBeGreaterThan(0);
    });
  for (const mode of bitmapModes)
    it(`(b) reprotect marks the bitmap: pages are reported again next iteration (${mode.name})`, () => {
      expect(dirtyLogTest(mode, 63, 6, { markBitmapOnReprotect: true }).errors).toBeGreaterThan(0);
    });
  for (const mode of LOG_MODES.filter((m) => m.tracking === 'wrprot'))
    it(`(c) the fast path does not log: writes to write-protected pages are lost (${mode.name})`, () => {
      expect(dirtyLogTest(mode, 64, 6, { dropFastPathLog: true }).errors).toBeGreaterThan(0);
    });
});
