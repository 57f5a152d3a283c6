import { frameChecksum } from '../../src/wire/checksum';

describe('the frame checksum is the low 32 bits of XXH64 with seed 0', () => {
  it("gives xxHash's published values", () => {
    // XXH64("") = ef46db3751d8e999, XXH64("abc") = 44bc2cf5ad770999.
    expect(frameChecksum(new Uint8Array(0))).toBe(0x51d8e999);
    expect(frameChecksum(Buffer.from('abc'))).toBe(0xad770999);
  });

  it('covers exactly the view it is given, wherever the view starts in its buffer', () => {
    const around = Buffer.from('xxabcyy');
    expect(frameChecksum(around.subarray(2, 5))).toBe(0xad770999);
    expect(frameChecksum(around)).not.toBe(0xad770999);
  });
});
