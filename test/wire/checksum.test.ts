import { frameChecksum } from '../../src/wire/checksum';

describe('the frame checksum is XXH32 with seed 0', () => {
  it("gives xxHash's published values", () => {
    expect(frameChecksum(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(frameChecksum(Buffer.from('abc'))).toBe(0x32d153ff);
  });

  it('covers exactly the view it is given, wherever the view starts in its buffer', () => {
    const around = Buffer.from('xxabcyy');
    expect(frameChecksum(around.subarray(2, 5))).toBe(0x32d153ff);
    expect(frameChecksum(around)).not.toBe(0x32d153ff);
  });
});
