import { getDirty, PAGE, setup } from './helpers';

function wordAt(bytes: Uint8Array, offset: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getInt32(offset, true);
}

describe('vCPU writeWords: a run of 32-bit stores in one translation', () => {
  const words = Int32Array.from([7, -1, 0x12345678, 42, 9]);

  it('stores every word, faults once and logs the page once', () => {
    const s = setup(64, { log: true });
    expect(s.vcpu.writeWords(3 * PAGE + 16, words, 1, 4)).toBe('ok');
    const page = s.memory.read(3);
    expect([0, 4, 8, 12].map((k) => wordAt(page, 16 + k))).toEqual([-1, 0x12345678, 42, 9]);
    expect(s.vm.stats().faults.slow).toBe(1);
    expect(getDirty(s)).toEqual([3]);
    // Write-protected again by the harvest: the next run takes one fast fault and is logged again.
    expect(s.vcpu.writeWords(3 * PAGE, words, 0, 5)).toBe('ok');
    expect(s.vm.stats().faults.fast).toBe(1);
    expect(getDirty(s)).toEqual([3]);
    expect(wordAt(s.memory.read(3), 16)).toBe(9);
  });

  it('a run crossing a page goes word by word and dirties both pages', () => {
    const s = setup(64, { log: true });
    expect(s.vcpu.writeWords(6 * PAGE - 8, words, 0, 4)).toBe('ok');
    expect(wordAt(s.memory.read(5), PAGE - 4)).toBe(-1);
    expect(wordAt(s.memory.read(6), 4)).toBe(42);
    expect(getDirty(s)).toEqual([5, 6]);
  });

  it('outside every memslot the run is MMIO; a paused vCPU writes nothing', () => {
    const s = setup(16, { log: true });
    expect(s.vcpu.writeWords(100 * PAGE, words, 0, 3)).toBe('mmio');
    s.vcpu.pause();
    expect(s.vcpu.writeWords(0, words, 0, 3)).toBe('blocked');
    expect(s.memory.read(0).every((b) => b === 0)).toBe(true);
    expect(getDirty(s)).toEqual([]);
  });
});
