// The volume as the NBD server sees it: the data window of the backing device, open for
// I/O only while this node is Primary, with DRBD-style counters (dr/dw in KiB).

import { BlockIoError, NbdErrno, type BlockExport } from '../runtime/nbd/block-export.js';
import type { DeviceCounters } from '../volume/status-format.js';

export interface ExportGate {
  /** null when I/O may proceed; otherwise the reason it may not (e.g. "Wrong medium type"). */
  refusal(): string | null;
}

export function emptyCounters(): DeviceCounters {
  return { readKiB: 0, writtenKiB: 0, alWrites: 0, bmWrites: 0, upperPending: 0, lowerPending: 0 };
}

export class GatedExport implements BlockExport {
  private openers = 0;
  readonly description: string;

  constructor(
    readonly name: string,
    private readonly inner: BlockExport,
    private readonly gate: ExportGate,
    private readonly counters: DeviceCounters,
  ) {
    this.description = inner.description;
  }

  get sizeBytes(): number {
    return this.inner.sizeBytes;
  }

  get readOnly(): boolean {
    return this.inner.readOnly;
  }

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
    const reason = this.gate.refusal();
    if (reason !== null) throw new BlockIoError(NbdErrno.EPERM, reason);
  }

  private async tracked<T>(op: () => Promise<T>): Promise<T> {
    this.check();
    this.counters.upperPending++;
    try {
      return await op();
    } finally {
      this.counters.upperPending--;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const data = await this.tracked(() => this.inner.read(offset, length));
    this.counters.readKiB += length / 1024;
    return data;
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    await this.tracked(() => this.inner.write(offset, data, fua));
    this.counters.writtenKiB += data.length / 1024;
  }

  flush(): Promise<void> {
    return this.tracked(() => this.inner.flush());
  }

  trim(offset: number, length: number, fua: boolean): Promise<void> {
    return this.tracked(() => this.inner.trim(offset, length, fua));
  }

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    await this.tracked(() => this.inner.writeZeroes(offset, length, fua));
    this.counters.writtenKiB += length / 1024;
  }
}
