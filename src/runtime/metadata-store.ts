// Reading and writing a volume's meta data on its devices: `create-md`, the
// superblock, the bitmap. The formats and arithmetic live in src/volume/; this file
// only does the I/O and the operator-facing guard rails.

import type { VolumeConfig } from '../config/drbd/model.js';
import { initializedAlArea } from '../volume/activity-log.js';
import { QuickSyncBitmap } from '../volume/bitmap.js';
import {
  MetadataError,
  checkSuperblockAgainstLayout,
  decodeSuperblock,
  encodeSuperblock,
  probeSuperblock,
  superblockForLayout,
  type Superblock,
} from '../volume/metadata.js';
import {
  SUPERBLOCK_BYTES,
  bitmapSlotBytes,
  bitmapSlotOffsetBytes,
  externalLayout,
  internalLayout,
  ppsize,
  type MetadataLayout,
} from '../volume/metadata-layout.js';
import { UUID_JUST_CREATED, formatUuids } from '../volume/uuids.js';
import { detectFilesystemSignature, openBackingDevice, type BackingDevice } from './backing-device.js';

export interface CreateMetadataOptions {
  resource: string;
  volume: VolumeConfig;
  maxPeers: number;
  force: boolean;
  nodeId: number | null;
  randomBytes: (n: number) => Buffer;
  out: (line: string) => void;
  /** al-extents to record (default 1237). */
  alExtents?: number;
}

interface Devices {
  data: BackingDevice;
  /** Same object as `data` for internal meta data. */
  meta: BackingDevice;
  close(): Promise<void>;
}

const ZERO_CHUNK_BYTES = 1024 * 1024;

/** `drbdadm create-md RES` for one volume. */
export async function createMetadata(opts: CreateMetadataOptions): Promise<void> {
  const { volume } = opts;
  const who = `${opts.resource}/${volume.volume}`;
  const devs = await openDevices(volume, who, false);
  try {
    const layout = computeLayout(volume, devs, opts.maxPeers, who);
    if (!opts.force) {
      await refuseExistingMetadata(devs.meta, layout, who);
      await refuseExistingData(devs, layout, who);
    }
    const randomU64 = opts.randomBytes(8).readBigUInt64BE(0);
    const sb = superblockForLayout(layout, {
      uuids: { current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] },
      deviceUuid: randomU64,
      nodeId: opts.nodeId,
      flags: 0, // not CONSISTENT: the disk starts Inconsistent
      laSizeSectors: layout.usableSectors,
      ...(opts.alExtents !== undefined ? { alExtents: opts.alExtents } : {}),
    });
    const encoded = encodeSuperblock(sb); // validate before touching the disk

    // With --force over existing meta data: invalidate the old superblock first, so an
    // interrupted create-md cannot leave it describing a half-rewritten AL and bitmap.
    const previous = await devs.meta.read(layout.superblockOffsetBytes, SUPERBLOCK_BYTES);
    if (probeSuperblock(previous) !== 'none') {
      await devs.meta.write(layout.superblockOffsetBytes, Buffer.alloc(SUPERBLOCK_BYTES));
      await devs.meta.datasync();
    }

    opts.out('initializing activity log');
    await devs.meta.write(layout.alOffsetBytes, initializedAlArea(layout.alBytes));
    opts.out(`initializing bitmap (${ppsize(layout.bitmapBytes / 1024)}) to all zero`);
    await writeZeros(devs.meta, layout.bitmapOffsetBytes, layout.bitmapBytes);
    await devs.meta.datasync();
    opts.out('Writing meta data...');
    await devs.meta.write(layout.superblockOffsetBytes, encoded);
    await devs.meta.datasync();
    opts.out('New drbd meta data block successfully created.');
  } finally {
    await devs.close();
  }
}

export interface ReadMetadataOptions {
  /** Resource name, for the "run create-md" hint. */
  resource?: string;
}

/** Read and check the superblock; returns it with the layout of the devices as they are now. */
export async function readMetadata(volume: VolumeConfig, opts: ReadMetadataOptions = {}): Promise<{ superblock: Superblock; layout: MetadataLayout }> {
  const who = `${opts.resource ?? 'volume'}/${volume.volume}`;
  const devs = await openDevices(volume, who, true);
  try {
    return await readSuperblockAndLayout(devs, volume, who, opts.resource ?? 'RES');
  } finally {
    await devs.close();
  }
}

/** Write a superblock (after checking it matches the devices' layout), then datasync. */
export async function writeSuperblock(volume: VolumeConfig, sb: Superblock): Promise<void> {
  const who = `volume ${volume.volume}`;
  const devs = await openDevices(volume, who, false);
  try {
    const layout = computeLayout(volume, devs, sb.maxPeers, who);
    checkSuperblockAgainstLayout(sb, layout);
    await devs.meta.write(layout.superblockOffsetBytes, encodeSuperblock(sb));
    await devs.meta.datasync();
  } finally {
    await devs.close();
  }
}

/** Read one peer's bitmap slot. */
export async function readBitmap(volume: VolumeConfig, layout: MetadataLayout, peer = 0): Promise<QuickSyncBitmap> {
  const devs = await openDevices(volume, `volume ${volume.volume}`, true);
  try {
    const buf = await devs.meta.read(bitmapSlotOffsetBytes(layout, peer), bitmapSlotBytes(layout));
    return QuickSyncBitmap.fromBytes(buf, layout.bitmapBits, layout.usableBytes);
  } finally {
    await devs.close();
  }
}

/** Write one peer's bitmap slot, then datasync. */
export async function writeBitmap(volume: VolumeConfig, layout: MetadataLayout, bitmap: QuickSyncBitmap, peer = 0): Promise<void> {
  if (bitmap.bits !== layout.bitmapBits) {
    throw new RangeError(`bitmap has ${bitmap.bits} bits but the layout needs ${layout.bitmapBits}`);
  }
  const devs = await openDevices(volume, `volume ${volume.volume}`, false);
  try {
    await devs.meta.write(bitmapSlotOffsetBytes(layout, peer), bitmap.toBytes());
    await devs.meta.datasync();
  } finally {
    await devs.close();
  }
}

/**
 * The byte range of the backing disk that holds the volume's data: [0, usableBytes).
 * Internal: everything in front of the bitmap; external: the data disk, capped by
 * what the bitmap covers.
 */
export function dataWindow(volume: VolumeConfig, layout: MetadataLayout): { path: string; offsetBytes: number; sizeBytes: number } {
  if (volume.disk === null) throw new MetadataError('MD_NO_DEVICE', `volume ${volume.volume} has no backing disk (disk none)`);
  return { path: volume.disk, offsetBytes: 0, sizeBytes: layout.usableBytes };
}

// --- internals ---------------------------------------------------------------------

async function openDevices(volume: VolumeConfig, who: string, readOnly: boolean): Promise<Devices> {
  if (volume.disk === null) {
    throw new MetadataError('MD_NO_DEVICE', `${who}: the volume has no backing disk (disk none), so it has no meta data`);
  }
  const data = await openBackingDevice(volume.disk, { readOnly, role: 'backing disk' });
  if (volume.metaDisk.kind === 'internal') {
    return { data, meta: data, close: () => data.close() };
  }
  let meta: BackingDevice;
  try {
    meta = await openBackingDevice(volume.metaDisk.path, { readOnly, role: 'meta disk' });
  } catch (e) {
    await data.close();
    throw e;
  }
  return {
    data,
    meta,
    close: async () => {
      await meta.close();
      await data.close();
    },
  };
}

function computeLayout(volume: VolumeConfig, devs: Devices, maxPeers: number, who: string): MetadataLayout {
  try {
    return volume.metaDisk.kind === 'internal'
      ? internalLayout(devs.data.sizeBytes, maxPeers)
      : externalLayout(devs.data.sizeBytes, devs.meta.sizeBytes, volume.metaDisk.index, maxPeers);
  } catch (e) {
    if (e instanceof MetadataError) throw new MetadataError(e.code, `${who}: ${e.message}`);
    throw e;
  }
}

/** Where the superblock is, from the device size alone (the layout needs max-peers from it). */
function superblockOffset(volume: VolumeConfig, devs: Devices): number {
  if (volume.metaDisk.kind === 'internal') return Math.max(0, Math.floor((devs.meta.sizeBytes - SUPERBLOCK_BYTES) / 4096) * 4096);
  return (volume.metaDisk.index ?? 0) * 128 * 1024 * 1024;
}

async function readSuperblockAndLayout(devs: Devices, volume: VolumeConfig, who: string, resource: string): Promise<{ superblock: Superblock; layout: MetadataLayout }> {
  const off = superblockOffset(volume, devs);
  if (devs.meta.sizeBytes < off + SUPERBLOCK_BYTES) {
    throw new MetadataError('MD_NO_MAGIC', `${who}: No valid meta data found: ${devs.meta.path} is too small to hold any. Run \`safeside create-md ${resource}\` to create it.`);
  }
  const buf = await devs.meta.read(off, SUPERBLOCK_BYTES);
  let superblock: Superblock;
  try {
    superblock = decodeSuperblock(buf);
  } catch (e) {
    if (e instanceof MetadataError) {
      const where = `${devs.meta.path} (superblock at byte ${off})`;
      const hint = e.code === 'MD_NO_MAGIC' ? ` Run \`safeside create-md ${resource}\` to create it.` : '';
      throw new MetadataError(e.code, `${who}: ${e.message} on ${where}.${hint}`);
    }
    throw e;
  }
  const layout = computeLayout(volume, devs, superblock.maxPeers, who);
  try {
    checkSuperblockAgainstLayout(superblock, layout);
  } catch (e) {
    if (e instanceof MetadataError) throw new MetadataError(e.code, `${who}: ${devs.meta.path}: ${e.message}`);
    throw e;
  }
  return { superblock, layout };
}

async function refuseExistingMetadata(meta: BackingDevice, layout: MetadataLayout, who: string): Promise<void> {
  const buf = await meta.read(layout.superblockOffsetBytes, SUPERBLOCK_BYTES);
  const kind = probeSuperblock(buf);
  if (kind === 'none') return;
  const tail = 'Do you want to overwrite it? Re-run with --force to do so; the data area is left as it is.';
  if (kind === 'drbd') {
    throw new MetadataError('MD_EXISTS', `${who}: ${meta.path} already holds DRBD 8.4/9 meta data (safeside does not convert it yet). ${tail}`);
  }
  try {
    const sb = decodeSuperblock(buf);
    throw new MetadataError(
      'MD_EXISTS',
      `${who}: ${meta.path} already holds safeside meta data (current UUID ${sb.uuids.current.toString(16).toUpperCase()}, uuids ${formatUuids(sb.uuids)}). ${tail}`,
    );
  } catch (e) {
    if (e instanceof MetadataError && e.code !== 'MD_EXISTS') {
      throw new MetadataError('MD_EXISTS', `${who}: ${meta.path} already holds safeside meta data, but it is unreadable (${e.message}). ${tail}`);
    }
    throw e;
  }
}

async function refuseExistingData(devs: Devices, layout: MetadataLayout, who: string): Promise<void> {
  const fs = await detectFilesystemSignature(devs.data, 0);
  if (fs !== null) {
    const at = `${devs.data.path} (at offset ${fs.offsetBytes})`;
    if (layout.kind === 'internal' && fs.sizeBytes !== null && fs.sizeBytes > layout.usableBytes) {
      throw new MetadataError(
        'MD_FOUND_DATA',
        `${who}: Found ${fs.name} filesystem on ${at}: it spans ${fs.sizeBytes / 1024} KiB, but internal meta data leaves only ` +
          `${layout.usableBytes / 1024} KiB for data; the meta data would overwrite the end of the filesystem. ` +
          `==> This might destroy existing data! <== Use external meta data, shrink the filesystem first, ` +
          `or re-run with --force if you want to proceed anyway.`,
      );
    }
    const note =
      layout.kind === 'internal'
        ? fs.sizeBytes !== null
          ? ' The filesystem seems to end before the meta data area, but that is only a guess.'
          : ''
        : ' External meta data leaves it in place, but this disk starts Inconsistent and a resync from the peer would overwrite it.';
    throw new MetadataError(
      'MD_FOUND_DATA',
      `${who}: Found ${fs.name} filesystem on ${at} ==> This might destroy existing data! <==${note} Re-run with --force if you want to proceed.`,
    );
  }
  if (devs.meta !== devs.data) {
    const onMeta = await detectFilesystemSignature(devs.meta, layout.superblockOffsetBytes);
    if (onMeta !== null) {
      throw new MetadataError(
        'MD_FOUND_DATA',
        `${who}: Found ${onMeta.name} filesystem on meta disk ${devs.meta.path} (at offset ${onMeta.offsetBytes}) ==> This might destroy existing data! <== Re-run with --force if you want to proceed.`,
      );
    }
  }
}

async function writeZeros(dev: BackingDevice, offsetBytes: number, lengthBytes: number): Promise<void> {
  const zero = Buffer.alloc(Math.min(ZERO_CHUNK_BYTES, lengthBytes));
  for (let done = 0; done < lengthBytes; done += zero.length) {
    const n = Math.min(zero.length, lengthBytes - done);
    await dev.write(offsetBytes + done, n === zero.length ? zero : zero.subarray(0, n));
  }
}
