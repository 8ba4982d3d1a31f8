// A FIFO of received socket chunks, shared by the NBD server and the peer frame decoder.
// Taking bytes that lie inside one chunk returns a view (no copy);
// only messages that straddle chunk boundaries are copied, once, into a fresh buffer.
// Taking bytes that lie inside one chunk returns a view (no copy);
// only messages that straddle chunk boundaries are copied, once, into a fresh buffer.

export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk in `chunks` (avoids Array#shift on every take). */
  private head = 0;
  /** Read position inside chunks[head]. */
  private headOffset = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  /** The byte at position i from the front, without removing anything (i < length). */
  byteAt(i: number): number {
    if (i < 0 || i >= this.total) throw new RangeError(`byteAt(${i}) with ${this.total} bytes queued`);
    let ci = this.head;
    let off = this.headOffset + i;
    while (off >= this.chunks[ci]!.length) {
      off -= this.chunks[ci]!.length;
      ci++;
    }
    return this.chunks[ci]![off]!;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Remove and return the next n bytes (caller checks n <= length). */
  take(n: number): Buffer {
    if (n > this.total) throw new RangeError(`take(${n}) with ${this.total} bytes queued`);
    if (n === 0) return EMPTY;
    const first = this.chunks[this.head]!;
    const avail = first.length - this.headOffset;
    if (n <= avail) {
      const view = first.subarray(this.headOffset, this.headOffset + n);
      this.advance(n, avail);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const c = this.chunks[this.head]!;
      const cAvail = c.length - this.headOffset;
      const m = Math.min(cAvail, n - copied);
      c.copy(out, copied, this.headOffset, this.headOffset + m);
      copied += m;
      this.advance(m, cAvail);
    }
    return out;
  }

  /** Remove the next n bytes as a list of views into the received chunks (no copy). */
  takeChunks(n: number): Buffer[] {
    if (n > this.total) throw new RangeError(`takeChunks(${n}) with ${this.total} bytes queued`);
    const out: Buffer[] = [];
    let taken = 0;
    while (taken < n) {
      const c = this.chunks[this.head]!;
      const cAvail = c.length - this.headOffset;
      const m = Math.min(cAvail, n - taken);
      out.push(c.subarray(this.headOffset, this.headOffset + m));
      taken += m;
      this.advance(m, cAvail);
    }
    return out;
  }

  /** Move up to n bytes into dst at offset (a copy); returns how many were moved. */
  takeInto(dst: Buffer, offset: number, n: number): number {
    let moved = 0;
    while (moved < n && this.total > 0) {
      const c = this.chunks[this.head]!;
      const cAvail = c.length - this.headOffset;
      const m = Math.min(cAvail, n - moved);
      c.copy(dst, offset + moved, this.headOffset, this.headOffset + m);
      moved += m;
      this.advance(m, cAvail);
    }
    return moved;
  }

  /**
   * Copy what is still queued into a buffer of its own: the chunks may be views of a read
   * buffer that the socket is about to reuse.
   */
  compact(): void {
    if (this.total === 0) {
      this.clear();
      return;
    }
    const own = Buffer.allocUnsafe(this.total);
    this.takeInto(own, 0, this.total);
    this.clear();
    this.push(own);
  }

  /** Drop up to n bytes; returns how many were dropped. */
  skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.total > 0) {
      const c = this.chunks[this.head]!;
      const cAvail = c.length - this.headOffset;
      const m = Math.min(cAvail, n - dropped);
      dropped += m;
      this.advance(m, cAvail);
    }
    return dropped;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.headOffset = 0;
    this.total = 0;
  }

  private advance(m: number, avail: number): void {
    this.total -= m;
    if (m === avail) {
      this.chunks[this.head] = EMPTY; // release the chunk
      this.head++;
      this.headOffset = 0;
      if (this.head === this.chunks.length) {
        this.chunks.length = 0;
        this.head = 0;
      } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      this.headOffset += m;
    }
  }
}

const EMPTY = Buffer.alloc(0);
