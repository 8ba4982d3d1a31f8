// The I/O side of one attached volume: its data window, its metadata areas (superblock,
// per-peer bitmap slots, activity log) on the backing or meta device, opened once.

import type { VolumeConfig } from '../config/drbd/model.js';
import { openBackingDevice, type BackingDevice } from '../runtime/backing-device.js';
import { readMetadata, writeSuperblock, dataWindow } from '../runtime/metadata-store.js';
import { FileBlockExport } from '../runtime/nbd/file-export.js';
import { bitmapSlotOffsetBytes, bitmapSlotBytes, type MetadataLayout } from '../volume/metadata-layout.js';
import { replayActivityLog } from '../volume/activity-log.js';
import { MDF_PRIMARY_IND, type Superblock } from '../volume/metadata.js';
import type { GenerationUuids } from '../volume/uuids.js';

const AL_BLOCK_BYTES = 4096;
/**
 * Small application and replicated writes are done on the event loop: into the page cache
 * they take a few microseconds, less than handing them to the thread pool and back (which
 * also wakes a second thread on a busy machine). Measured in docs/replication-tests.md.
 */
const INLINE_WRITE_BYTES_MAX = 16 * 1024;

export class VolumeIo {
  private constructor(
    readonly config: VolumeConfig,
    readonly data: FileBlockExport,
    private readonly meta: BackingDevice,
    readonly layout: MetadataLayout,
    public superblock: Superblock,
  ) {}

  static async open(resource: string, v: VolumeConfig, exportName: string): Promise<VolumeIo> {
    const { superblock, layout } = await readMetadata(v, { resource });
    const window = dataWindow(v, layout);
    const data = await FileBlockExport.open(window.path, {
      name: exportName,
      offsetBytes: window.offsetBytes,
      sizeBytes: window.sizeBytes,
      inlineWriteBytesMax: INLINE_WRITE_BYTES_MAX,
      // Below the replicated device, as DRBD: large writes and resync I/O skip the page cache.
      directIo: true,
    });
    const metaPath = v.metaDisk.kind === 'internal' ? v.disk! : v.metaDisk.path;
    let meta: BackingDevice;
    try {
      meta = await openBackingDevice(metaPath, { role: v.metaDisk.kind === 'internal' ? 'backing disk' : 'meta disk' });
    } catch (err) {
      await data.close();
      throw err;
    }
    return new VolumeIo(v, data, meta, layout, superblock);
  }

  get sizeBytes(): number {
    return this.data.sizeBytes;
  }

  /** Persisted bitmap of one peer slot (slots beyond what create-md made are treated as clean). */
  async readBitmap(slot: number): Promise<Buffer | null> {
    if (slot >= this.layout.maxPeers) return null;
    return this.meta.read(bitmapSlotOffsetBytes(this.layout, slot), bitmapSlotBytes(this.layout));
  }

  async writeBitmap(slot: number, bytes: Buffer, flushDataFirst: boolean): Promise<void> {
    if (slot >= this.layout.maxPeers) return;
    if (flushDataFirst) await this.data.flush();
    const slotBytes = bitmapSlotBytes(this.layout);
    await this.meta.writeDurable(bitmapSlotOffsetBytes(this.layout, slot), bytes.length > slotBytes ? bytes.subarray(0, slotBytes) : bytes);
  }

  /** Hot extents of the activity log, meaningful only after an unclean stop. */
  async hotExtents(): Promise<number[]> {
    if ((this.superblock.flags & MDF_PRIMARY_IND) === 0) return [];
    const area = await this.meta.read(this.layout.alOffsetBytes, this.layout.alBytes);
    return replayActivityLog(area).activeExtents;
  }

  async writeAl(blockIndex: number, bytes: Buffer): Promise<void> {
    // Durable like DRBD's FUA meta-data write, without waiting for the volume's dirty data.
    await this.meta.writeDurable(this.layout.alOffsetBytes + blockIndex * AL_BLOCK_BYTES, bytes);
  }

  async writeSuperblock(uuids: GenerationUuids, flags: number): Promise<void> {
    this.superblock = { ...this.superblock, flags, uuids: { current: uuids.current, bitmap: uuids.bitmap, history: [uuids.history[0], uuids.history[1]] } };
    await writeSuperblock(this.config, this.superblock);
  }

  async close(): Promise<void> {
    await this.data.flush().catch(() => undefined);
    await this.data.close();
    await this.meta.close();
  }
}
