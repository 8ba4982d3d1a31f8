// The volume as NBD clients see it: every request goes through the resource's
// replication core (which replicates writes and enforces the role), and counts as an
// opener while a client is attached.

import { BlockIoError, NbdErrno, type VectoredBlockExport } from '../runtime/nbd/block-export.js';
import type { BlockData } from '../volume/block-data.js';

export interface VolumeRequests {
  read(volume: number, offset: number, length: number): Promise<Buffer>;
  write(volume: number, offset: number, data: BlockData, fua: boolean): Promise<void>;
  flush(volume: number): Promise<void>;
}

const zeroChunkBytes = 1024 * 1024;

export class ReplicatedExport implements VectoredBlockExport {
  private openers = 0;
  readonly readOnly = false;

  constructor(
    readonly name: string,
    readonly description: string,
    readonly sizeBytes: number,
    private readonly volume: number,
    private readonly requests: VolumeRequests,
    /** null when I/O may proceed, else the reason (e.g. "Wrong medium type"). */
    private readonly refusal: () => string | null,
  ) {}

  get openCount(): number {
    return this.openers;
  }

  attach(): void {
    this.openers++;
  }

  detach(): void {
    this.openers = Math.max(0, this.openers - 1);
  }

  private check(): void {
    const reason = this.refusal();
    if (reason !== null) throw new BlockIoError(NbdErrno.EPERM, reason);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check();
    return this.requests.read(this.volume, offset, length);
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    this.check();
    // The core keeps the buffer until every peer has it; the NBD server hands over views
    // of socket chunks, which Node never reuses, so no copy is needed.
    return this.requests.write(this.volume, offset, data, fua);
  }

  /** A large write as the received socket chunks: replicated and written without reassembly. */
  async writeVectored(offset: number, chunks: Buffer[], fua: boolean): Promise<void> {
    this.check();
    return this.requests.write(this.volume, offset, chunks, fua);
  }

  async flush(): Promise<void> {
    this.check();
    return this.requests.flush(this.volume);
  }

  /** Discarding is optional in NBD; replicas stay identical because nothing changes. */
  async trim(): Promise<void> {
    this.check();
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.check();
    const writes: Promise<void>[] = [];
    for (let done = 0; done < length; done += zeroChunkBytes) {
      const n = Math.min(zeroChunkBytes, length - done);
      writes.push(this.requests.write(this.volume, offset + done, Buffer.alloc(n), fua));
    }
    await Promise.all(writes);
  }
}
