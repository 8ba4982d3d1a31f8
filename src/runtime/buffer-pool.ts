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
//
// Buffers of ALIGNED_CLASS_MIN_BYTES and more are cut from page-aligned slabs (the memory of
// a WebAssembly.Memory is mapped page-aligned; Node's own buffers are not aligned), so that
// bulk reads and writes can use O_DIRECT, which needs aligned memory. Slab memory is never
// handed back to the garbage collector: a slab buffer that is never released stays out of
// use, and when the slabs reach ALIGNED_BYTES_MAX, buffers come from Node's allocator again
// (without alignment; their I/O then goes through the page cache).

const CLASS_MIN_BYTES = 4096;
/** Larger payloads are allocated normally (rare: NBD allows up to 32 MiB). */
const CLASS_MAX_BYTES = 8 * 1024 * 1024;
/** Free buffers kept per size class, in bytes (at least FREE_COUNT_MIN buffers). */
const FREE_BYTES_PER_CLASS = 64 * 1024 * 1024;
const FREE_COUNT_MIN = 8;
const FREE_COUNT_MAX = 1024;
/** Classes from this size up are page-aligned. */
export const ALIGNED_CLASS_MIN_BYTES = 64 * 1024;
/** What O_DIRECT asks of memory, file offsets and lengths here (a 4 KiB logical block is the strictest case). */
export const DIRECT_IO_ALIGN_BYTES = 4096;
const SLAB_BYTES = 16 * 1024 * 1024;
const WASM_PAGE_BYTES = 64 * 1024;
/** Beyond this, new buffers are unaligned and collected as usual: a burst does not pin its peak memory for good. */
const ALIGNED_BYTES_MAX = 256 * 1024 * 1024;

interface Slab {
  cellBytes: number;
  /** The lease of each cell, by cell index (undefined: free or never handed out). */
  leases: (Lease | undefined)[];
}

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
  private readonly slabs = new Map<ArrayBufferLike, Slab>();
  /** Per class: the slab being carved and its next uncut cell. */
  private readonly carving: ({ memory: ArrayBuffer; slab: Slab; next: number } | null)[] = [];
  private alignedBytes = 0;
  allocated = 0;
  reused = 0;

  constructor() {
    for (let size = CLASS_MIN_BYTES; size <= CLASS_MAX_BYTES; size *= 2) {
      this.free.push([]);
      this.freeMax.push(Math.min(FREE_COUNT_MAX, Math.max(FREE_COUNT_MIN, Math.floor(FREE_BYTES_PER_CLASS / size))));
      this.carving.push(null);
    }
  }

  /** A buffer of exactly `bytes` (contents undefined) with one reference held by the caller. */
  acquire(bytes: number): Buffer {
    if (bytes > CLASS_MAX_BYTES || bytes <= 0) return Buffer.allocUnsafeSlow(Math.max(0, bytes));
    const ci = classIndex(bytes);
    const list = this.free[ci]!;
    let whole = list.pop();
    if (whole === undefined) {
      whole = this.cutAligned(ci) ?? Buffer.allocUnsafeSlow(CLASS_MIN_BYTES << ci);
      this.allocated++;
    } else {
      this.reused++;
    }
    const lease: Lease = { refs: 1, whole, classIndex: ci };
    const slab = this.slabs.get(whole.buffer);
    if (slab !== undefined) slab.leases[whole.byteOffset / slab.cellBytes] = lease;
    else this.leases.set(whole.buffer, lease);
    return whole.length === bytes ? whole : whole.subarray(0, bytes);
  }

  /** Whether `buf` is a view of a pooled buffer that is currently leased. */
  isPooled(buf: Buffer): boolean {
    const lease = this.leaseOf(buf);
    return lease !== undefined && lease.refs > 0;
  }

  /**
   * Whether `buf` can be used for O_DIRECT I/O as it is: page-aligned memory and a length
   * that is a multiple of DIRECT_IO_ALIGN_BYTES.
   */
  isDirectCapable(buf: Buffer): boolean {
    return this.slabs.has(buf.buffer) && buf.byteOffset % DIRECT_IO_ALIGN_BYTES === 0 && buf.length % DIRECT_IO_ALIGN_BYTES === 0 && buf.length > 0;
  }

  /** One more holder (no-op for buffers that are not pooled). */
  retain(buf: Buffer): void {
    const lease = this.leaseOf(buf);
    if (lease !== undefined && lease.refs > 0) lease.refs++;
  }

  /** A holder is done (no-op for buffers that are not pooled). */
  release(buf: Buffer): void {
    const lease = this.leaseOf(buf);
    if (lease === undefined || lease.refs <= 0) return;
    if (--lease.refs > 0) return;
    const slab = this.slabs.get(buf.buffer);
    const list = this.free[lease.classIndex]!;
    if (slab !== undefined) {
      // Slab memory is not collected: a dropped cell would be lost for good.
      slab.leases[Math.floor(buf.byteOffset / slab.cellBytes)] = undefined;
      list.push(lease.whole);
      return;
    }
    this.leases.delete(buf.buffer);
    if (list.length < this.freeMax[lease.classIndex]!) list.push(lease.whole);
  }

  private leaseOf(buf: Buffer): Lease | undefined {
    const slab = this.slabs.get(buf.buffer);
    if (slab !== undefined) return slab.leases[Math.floor(buf.byteOffset / slab.cellBytes)];
    return this.leases.get(buf.buffer);
  }

  /** A fresh page-aligned buffer of class `ci`, or null (class too small, or the slabs are at their limit). */
  private cutAligned(ci: number): Buffer | null {
    const cellBytes = CLASS_MIN_BYTES << ci;
    if (cellBytes < ALIGNED_CLASS_MIN_BYTES) return null;
    let c = this.carving[ci] ?? null;
    if (c === null || c.next * cellBytes >= c.memory.byteLength) {
      const slabBytes = Math.max(SLAB_BYTES, cellBytes);
      if (this.alignedBytes + slabBytes > ALIGNED_BYTES_MAX) return null;
      let memory: ArrayBuffer;
      try {
        const pages = slabBytes / WASM_PAGE_BYTES;
        memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
      } catch {
        return null;
      }
      this.alignedBytes += slabBytes;
      const slab: Slab = { cellBytes, leases: [] };
      this.slabs.set(memory, slab);
      c = { memory, slab, next: 0 };
      this.carving[ci] = c;
    }
    const buf = Buffer.from(c.memory, c.next * cellBytes, cellBytes);
    c.next++;
    return buf;
  }
}

function classIndex(bytes: number): number {
  let ci = 0;
  for (let size = CLASS_MIN_BYTES; size < bytes; size *= 2) ci++;
  return ci;
}

/** The process's pool: the NBD server, the peer link and the resource runtime share buffers. */
export const payloadPool = new BufferPool();
