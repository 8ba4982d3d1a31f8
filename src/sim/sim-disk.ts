// A simulated backing device: writes land in a volatile view first and become durable
// on flush or FUA; a crash keeps a random subset of the unflushed writes (in order),
// as a real disk cache may. Metadata (superblock, bitmap, activity log) is written
// durably, as the runtime does with fdatasync.

import type { Prng } from './prng.js';
import type { GenerationUuids } from '../volume/uuids.js';

interface PendingWrite {
  offset: number;
  data: Buffer;
  /** FUA writes always survive; replaying in order keeps them above older cached writes. */
  fua: boolean;
}

export class SimDisk {
  current: Buffer;
  private durable: Buffer;
  private unflushed: PendingWrite[] = [];
  /** Persistent metadata, as the superblock would hold it. */
  uuids: GenerationUuids;
  flags: number;
  bitmaps = new Map<string, Buffer>();
  alArea: Buffer;

  constructor(
    readonly sizeBytes: number,
    alBytes: number,
  ) {
    this.current = Buffer.alloc(sizeBytes);
    this.durable = Buffer.alloc(sizeBytes);
    this.uuids = { current: 4n, bitmap: 0n, history: [0n, 0n] };
    this.flags = 0;
    this.alArea = Buffer.alloc(alBytes);
  }

  write(offset: number, data: Buffer, fua: boolean): void {
    data.copy(this.current, offset);
    this.unflushed.push({ offset, data: Buffer.from(data), fua });
  }

  read(offset: number, length: number): Buffer {
    return Buffer.from(this.current.subarray(offset, offset + length));
  }

  flush(): void {
    this.current.copy(this.durable);
    this.unflushed = [];
  }

  /** Power loss: what was not flushed may or may not have reached the platter. */
  crash(rng: Prng): void {
    const kept = this.unflushed.filter((w) => w.fua || rng.chance(0.5));
    this.current = Buffer.from(this.durable);
    for (const w of kept) w.data.copy(this.current, w.offset);
    this.durable = Buffer.from(this.current);
    this.unflushed = [];
  }
}
