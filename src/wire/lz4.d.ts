/** The part of the `lz4` package's block API precopy uses (the package ships no types). */
declare module 'lz4' {
  /** Compress input into output[start .. end); returns the compressed size, 0 if it does not fit. */
  export function encodeBlock(input: Uint8Array, output: Uint8Array, start?: number, end?: number): number;
  /** Decompress input[start .. end) into output; returns the decoded size, negative if corrupt. */
  export function decodeBlock(input: Uint8Array, output: Uint8Array, start?: number, end?: number): number;
  /** Worst-case compressed size of `size` bytes. */
  export function encodeBound(size: number): number;
  /** The native xxHash binding: blockChecksum is XXH32 of the bytes with seed 0. */
  export const utils: { blockChecksum(data: Uint8Array): number };
}
