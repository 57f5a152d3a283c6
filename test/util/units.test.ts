import { parseDuration, parseRate, parseSize } from '../../src/util/units';

describe('units', () => {
  it('parses sizes in binary and decimal units', () => {
    expect(parseSize('4GiB')).toBe(4 * 2 ** 30);
    expect(parseSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseSize('1GB')).toBe(1e9);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize(100)).toBe(100);
  });
  it('parses rates in bytes and bits per second', () => {
    expect(parseRate('200MiB/s')).toBe(200 * 2 ** 20);
    expect(parseRate('1Gbit/s')).toBe(125e6);
    expect(parseRate('3MB/s')).toBe(3e6);
    expect(parseRate('100Mbps')).toBe(12.5e6);
  });
  it('parses durations', () => {
    expect(parseDuration('300ms')).toBe(300);
    expect(parseDuration('30s')).toBe(30000);
    expect(parseDuration('2min')).toBe(120000);
    expect(parseDuration(5)).toBe(5);
  });
  it.each(['-1GiB', '4XB', 'lots', ''])('rejects the size %j with the allowed forms', (bad) => {
    expect(() => parseSize(bad)).toThrow(/not a size.*4GiB/);
  });
  it('rejects a rate with an unknown unit', () => {
    expect(() => parseRate('200MiB/h')).toThrow(/not a rate/);
    expect(() => parseRate('200furlongs/s')).toThrow(/not a rate/);
  });
});
