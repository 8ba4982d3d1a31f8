// Reusable buffers for block payloads (NBD write data, replicated writes, resync data).
//
// Why: a buffer that stays alive while its write is replicated (tens of milliseconds) is
// promoted by the garbage collector, and V8 runs a full mark-compact each time such
// external memory grows by a few dozen MiB. At a few hundred MiB/s that is several full
// collections per second on each node. Payloads copied into pooled buffers let the
// received socket chunks die young, and the pooled buffers themselves are never garbage.
//
// Ownership is counted: acquire() returns a buffer with one reference; every holder that
// keeps it beyond the current call (a disk write in flight, a socket write not yet handed
// to the kernel) retains and later releases it. At zero references it goes back to the
// free list. A reference that is never released only means the buffer is not reused (the
// garbage collector takes it as any other buffer); releasing too early would hand the
// memory to the next payload while it is still in use, so holders release only once
// they are certain.

const CLASS_MIN_BYTES = 4096;
/** Larger payloads are allocated normally (rare: NBD allows up to 32 MiB). */
const CLASS_MAX_BYTES = 8 * 1024 * 1024;
/** Free buffers kept per size class, in bytes (at least FREE_COUNT_MIN buffers). */
const FREE_BYTES_PER_CLASS = 64 * 1024 * 1024;
const FREE_COUNT_MIN = 8;
const FREE_COUNT_MAX = 1024;

interface Lease {
  refs: number;
  /** The whole pooled buffer (callers get a view of its first bytes). */
  whole: Buffer;
  classIndex: number;
}

export class BufferPool {
  private readonly free: Buffer[][] = [];
  private readonly freeMax: number[] = [];
  /** Weak: a buffer nobody releases is collected as usual. */
  private readonly leases = new WeakMap<ArrayBufferLike, Lease>();
  allocated = 0;
  reused = 0;

  constructor() {
    for (let size = CLASS_MIN_BYTES; size <= CLASS_MAX_BYTES; size *= 2) {
      this.free.push([]);
      this.freeMax.push(Math.min(FREE_COUNT_MAX, Math.max(FREE_COUNT_MIN, Math.floor(FREE_BYTES_PER_CLASS / size))));
    }
  }

  /** A buffer of exactly `bytes` (contents undefined) with one reference held by the caller. */
  acquire(bytes: number): Buffer {
    if (bytes > CLASS_MAX_BYTES || bytes <= 0) return Buffer.allocUnsafeSlow(Math.max(0, bytes));
    const ci = classIndex(bytes);
    const list = this.free[ci]!;
    let whole = list.pop();
    if (whole === undefined) {
      whole = Buffer.allocUnsafeSlow(CLASS_MIN_BYTES << ci);
      this.allocated++;
    } else {
      this.reused++;
    }
    this.leases.set(whole.buffer, { refs: 1, whole, classIndex: ci });
    return whole.length === bytes ? whole : whole.subarray(0, bytes);
  }

  /** Whether `buf` is a view of a pooled buffer that is currently leased. */
  isPooled(buf: Buffer): boolean {
    const lease = this.leases.get(buf.buffer);
    return lease !== undefined && lease.refs > 0;
  }

  /** One more holder (no-op for buffers that are not pooled). */
  retain(buf: Buffer): void {
    const lease = this.leases.get(buf.buffer);
    if (lease !== undefined && lease.refs > 0) lease.refs++;
  }

  /** A holder is done (no-op for buffers that are not pooled). */
  release(buf: Buffer): void {
    const lease = this.leases.get(buf.buffer);
    if (lease === undefined || lease.refs <= 0) return;
    if (--lease.refs > 0) return;
    this.leases.delete(buf.buffer);
    const list = this.free[lease.classIndex]!;
    if (list.length < this.freeMax[lease.classIndex]!) list.push(lease.whole);
  }
}

function classIndex(bytes: number): number {
  let ci = 0;
  for (let size = CLASS_MIN_BYTES; size < bytes; size *= 2) ci++;
  return ci;
}

/** The process's pool: the NBD server, the peer link and the resource runtime share buffers. */
export const payloadPool = new BufferPool();
