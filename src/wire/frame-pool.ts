/**
 * Reusable buffers for PAGES frames. A fresh 256 KiB buffer per frame costs more than the copy
 * into it (new memory is page-faulted in, then left to the GC): reusing a few buffers keeps
 * the sender at copy speed. A buffer comes back once the transport has written it.
 */
export class FramePool {
  private readonly free: ArrayBuffer[] = [];

  constructor(
    /** Bytes per buffer. */
    readonly capacity: number,
    /** Buffers kept for reuse; more in flight than this are left to the GC. */
    private readonly maxFree = 32,
  ) {}

  /** A buffer of `capacity` bytes (contents undefined). */
  take(): Buffer {
    const reused = this.free.pop();
    return reused ? Buffer.from(reused) : Buffer.from(new ArrayBuffer(this.capacity));
  }

  /** Return a frame taken from this pool (any view of it); other buffers are ignored. */
  give(frame: Uint8Array): void {
    const buffer = frame.buffer;
    if (
      buffer instanceof ArrayBuffer &&
      buffer.byteLength === this.capacity &&
      this.free.length < this.maxFree
    )
      this.free.push(buffer);
  }
}
