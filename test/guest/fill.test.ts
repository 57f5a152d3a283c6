import lz4 from 'lz4';
import { isZeroPage } from '../../src/guest';
import { makeGuest } from './helpers';

/** Non-zero pages and their mean lz4 ratio. */
function survey(memory: { pages: number; read(p: number): Uint8Array; has(p: number): boolean }) {
  let allocated = 0;
  let nonZero = 0;
  let raw = 0;
  let packed = 0;
  const out = Buffer.alloc(lz4.encodeBound(4096));
  for (let p = 0; p < memory.pages; p++) {
    if (!memory.has(p)) continue;
    allocated++;
    const page = memory.read(p);
    if (isZeroPage(page)) continue;
    nonZero++;
    if (nonZero % 8 !== 0) continue; // a sample is enough for the ratio
    const n = lz4.encodeBlock(Buffer.from(page), out);
    raw += 4096;
    packed += n === 0 ? 4096 : n;
  }
  return { allocated, nonZero, ratio: raw / packed };
}

describe('fill: initial contents', () => {
  it.each([
    ['text', 1.5, 3],
    ['random', 0.99, 1.01],
  ] as const)(
    '%s: exactly the populated share is non-zero, with the content’s lz4 ratio',
    (content, lo, hi) => {
      const { guest } = makeGuest({ memory: '16MiB', fill: { populated: '50%', content } });
      const s = survey(guest.bytes);
      expect(s.allocated).toBe(2048);
      expect(s.nonZero).toBe(2048);
      expect(s.ratio).toBeGreaterThan(lo);
      expect(s.ratio).toBeLessThan(hi);
    },
  );

  it('zero: the pages are touched (allocated) but read as zero', () => {
    const { guest } = makeGuest({ memory: '16MiB', fill: { populated: '25%', content: 'zero' } });
    const s = survey(guest.bytes);
    expect(s.allocated).toBe(1024);
    expect(s.nonZero).toBe(0);
  });

  it('a size populates that many bytes; pages are scattered, not a prefix', () => {
    const { guest } = makeGuest({ memory: '16MiB', fill: { populated: '1MiB' } });
    expect(survey(guest.bytes).nonZero).toBe(256);
    const pages = [...guest.bytes.allocatedPageNumbers()];
    expect(pages[pages.length - 1]).toBeGreaterThan(2048);
  });

  it('same seed → same image; another seed → another image', () => {
    const a = makeGuest({ memory: '16MiB', seed: 5 }).guest.bytes.imageHash();
    const b = makeGuest({ memory: '16MiB', seed: 5 }).guest.bytes.imageHash();
    const c = makeGuest({ memory: '16MiB', seed: 6 }).guest.bytes.imageHash();
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('is mapped by the MMU as a running guest’s memory is: each populated page, no fault', () => {
    const small = makeGuest({ memory: '16MiB', fill: { populated: '50%' } }, { hostMappingLevel: 1 }).guest;
    expect(small.vm.stats()).toMatchObject({ pages4k: 2048, bootMap: { leaves: 2048, pages: 2048 } });
    expect(small.vm.stats().faults.slow).toBe(0);
    // With huge-page backing the 2 MiB around each populated page is one leaf (as a fault maps it).
    const huge = makeGuest({ memory: '16MiB', fill: { populated: '1%' } }, { hostMappingLevel: 2 }).guest;
    const regions = new Set([...huge.bytes.allocatedPageNumbers()].map((p) => p >> 9));
    expect(huge.vm.stats()).toMatchObject({ pages4k: 0, pages2m: regions.size });
  });

  it('leaves byte 0 of the incrementer’s pages zero, so the edge rule holds before it runs', () => {
    const { guest } = makeGuest({
      memory: '16MiB',
      fill: { populated: '100%', content: 'random' },
      workload: { kind: 'incrementer', offset: '1MiB', size: '2MiB' },
    });
    for (let p = 256; p < 768; p++) expect(guest.bytes.read(p)[0]).toBe(0);
    expect(survey(guest.bytes).nonZero).toBe(4096);
  });
});
