import { crc32 as zlibCrc32 } from 'node:zlib';
import fc from 'fast-check';
import { crc32 } from '../../src/wire/checksum';

describe('the wire checksum is CRC-32 (IEEE), whichever zlib code path computes it', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });

  it('chains: the CRC of a whole equals the CRC of its second part seeded with the first', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9000 }), fc.nat(9000), (bytes, cut) => {
        const at = Math.min(cut, bytes.length);
        expect(crc32(bytes.subarray(at), crc32(bytes.subarray(0, at)))).toBe(crc32(bytes));
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
      }),
      { seed: 7, numRuns: 200 },
    );
  });
});
