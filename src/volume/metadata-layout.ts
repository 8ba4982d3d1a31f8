// Where a volume's meta data lives on disk, and how much of the backing device is
// left for data. Pure arithmetic following drbdmeta (drbd-utils `user/shared/drbdmeta.c`:
// bm_bytes, re_initialize_md_offsets, max_usable_sectors), so that a device gets the
// same usable size under safeside as under DRBD.
//
//   internal ("flexible internal"):
//     [data ..........][bitmap][activity log 32 KiB][superblock 4 KiB][0..7 pad sectors]
//     superblock at the last 4 KiB-aligned 4 KiB block of the device
//   external, flexible (meta-disk /dev/X):   the whole meta device
//   external, indexed  (meta-disk /dev/X[i]): a fixed 128 MiB slot at i * 128 MiB
//     [superblock 4 KiB][activity log 32 KiB][bitmap .......]
//
// All sizes in bytes unless the name says sectors (512 bytes). Byte counts stay far
// below 2^53 (8 PiB) — asserted.

import { MetadataError } from './metadata-errors.js';

export const SECTOR_BYTES = 512;
/** One bitmap bit covers this many bytes (DRBD's BM_BLOCK_SIZE). */
export const BITMAP_BYTES_PER_BIT = 4096;
export const SECTORS_PER_BIT = BITMAP_BYTES_PER_BIT / SECTOR_BYTES;
export const SUPERBLOCK_BYTES = 4096;
/** al_stripes (1) * al_stripe_size_4k (8) * 4 KiB — DRBD's default and only size we write. */
export const AL_BYTES = 32 * 1024;
/** Fixed slot per index of "meta-disk /dev/X[idx]" (DRBD's MD_RESERVED_SECT_07). */
export const EXTERNAL_INDEX_SLOT_BYTES = 128 * 1024 * 1024;
/** Refuse devices that would leave less than this for data. */
export const DATA_BYTES_MIN = 1024 * 1024;
export const MAX_PEERS_MAX = 32;
/** DRBD 8.4 caps flexible-internal devices at 1 PiB; so do we (keeps numbers exact in doubles). */
export const BACKING_BYTES_MAX = 2 ** 50;

export type LayoutKind = 'internal' | 'external';

export interface MetadataLayout {
  kind: LayoutKind;
  /** External only: the `[idx]` of meta-disk, or null for flexible external meta data. */
  index: number | null;
  /** Absolute byte offsets on the device holding the meta data (backing disk for internal). */
  superblockOffsetBytes: number;
  alOffsetBytes: number;
  alBytes: number;
  bitmapOffsetBytes: number;
  /** Size of the on-disk bitmap area (all peers' slots, 4 KiB aligned). */
  bitmapBytes: number;
  /** The whole meta-data area (DRBD's md_size_sect). */
  mdSizeSectors: number;
  /** Data sectors available to the volume (everything before the bitmap for internal). */
  usableSectors: number;
  usableBytes: number;
  /** Meaningful bits per peer: one per 4 KiB of usable data (last one may cover a partial block). */
  bitmapBits: number;
  maxPeers: number;
}

const align = (v: number, a: number): number => Math.ceil(v / a) * a;

function assertSize(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${v}`);
}

function assertPeers(maxPeers: number): void {
  if (!Number.isInteger(maxPeers) || maxPeers < 1 || maxPeers > MAX_PEERS_MAX) {
    throw new RangeError(`maxPeers must be an integer in 1..${MAX_PEERS_MAX}, got ${maxPeers}`);
  }
}

/** Bits needed to cover `sectors` (4 KiB per bit), rounded up to whole 64-bit words. */
export function bitmapWordAlignedBits(sectors: number): number {
  return align(Math.ceil(sectors / SECTORS_PER_BIT), 64);
}

/** drbdmeta's bm_bytes(): ALIGN(ALIGN(bits, 64) / 8 * max_peers, 4096). */
export function bitmapAreaBytes(sectors: number, maxPeers: number): number {
  return align((bitmapWordAlignedBits(sectors) / 8) * maxPeers, 4096);
}

/** Internal ("flexible internal") meta data at the end of the backing device. */
export function internalLayout(backingBytes: number, maxPeers = 1): MetadataLayout {
  assertSize('backingBytes', backingBytes);
  assertPeers(maxPeers);
  if (backingBytes > BACKING_BYTES_MAX) {
    throw new MetadataError(
      'MD_DEVICE_TOO_LARGE',
      `backing device of ${backingBytes} bytes is larger than the supported maximum of ${BACKING_BYTES_MAX} bytes (1 PiB)`,
    );
  }
  const deviceSectors = Math.floor(backingBytes / SECTOR_BYTES);
  // drbdmeta sizes the bitmap for the whole device (the data area is not known yet);
  // this over-provisions by a few bits and gives exactly DRBD's figures.
  const bitmapBytes = bitmapAreaBytes(deviceSectors, maxPeers);
  const mdSizeSectors = align(bitmapBytes / SECTOR_BYTES, 8) + SUPERBLOCK_BYTES / SECTOR_BYTES + AL_BYTES / SECTOR_BYTES;
  const mdBytes = mdSizeSectors * SECTOR_BYTES;
  if (backingBytes < mdBytes + DATA_BYTES_MIN) {
    throw tooSmall(
      `backing device of ${backingBytes} bytes is too small for internal meta data: ` +
        `the meta data needs ${mdBytes} bytes (${mdBytes / 1024} KiB) at the end of the device ` +
        `and at least ${DATA_BYTES_MIN / 1024} KiB must remain for data`,
    );
  }
  const superblockOffsetBytes = Math.floor((backingBytes - SUPERBLOCK_BYTES) / 4096) * 4096;
  const alOffsetBytes = superblockOffsetBytes - AL_BYTES;
  const bitmapOffsetBytes = superblockOffsetBytes - (mdSizeSectors - SUPERBLOCK_BYTES / SECTOR_BYTES) * SECTOR_BYTES;
  // max_usable_sectors(): everything in front of the lowest meta-data offset.
  const usableBytes = Math.min(superblockOffsetBytes, alOffsetBytes, bitmapOffsetBytes);
  const usableSectors = usableBytes / SECTOR_BYTES;
  if (usableBytes < DATA_BYTES_MIN) {
    throw tooSmall(`backing device of ${backingBytes} bytes leaves only ${usableBytes} bytes for data after internal meta data`);
  }
  return {
    kind: 'internal',
    index: null,
    superblockOffsetBytes,
    alOffsetBytes,
    alBytes: AL_BYTES,
    bitmapOffsetBytes,
    bitmapBytes,
    mdSizeSectors,
    usableSectors,
    usableBytes,
    bitmapBits: Math.ceil(usableSectors / SECTORS_PER_BIT),
    maxPeers,
  };
}

/**
 * External meta data on a separate device. `index` null = flexible (the whole meta
 * device is the meta-data area); a number = DRBD's fixed 128 MiB slot at index*128 MiB.
 * Usable size = the data disk, capped by what the bitmap area can cover.
 */
export function externalLayout(
  dataBackingBytes: number,
  metaDeviceBytes: number,
  index: number | null,
  maxPeers = 1,
): MetadataLayout {
  assertSize('dataBackingBytes', dataBackingBytes);
  assertSize('metaDeviceBytes', metaDeviceBytes);
  assertPeers(maxPeers);
  if (index !== null && (!Number.isInteger(index) || index < 0)) {
    throw new RangeError(`meta-disk index must be a non-negative integer, got ${index}`);
  }
  let superblockOffsetBytes: number;
  let mdSizeSectors: number;
  let areaBytes: number;
  if (index === null) {
    superblockOffsetBytes = 0;
    mdSizeSectors = Math.floor(metaDeviceBytes / SECTOR_BYTES);
    areaBytes = Math.floor(metaDeviceBytes / 4096) * 4096;
  } else {
    superblockOffsetBytes = index * EXTERNAL_INDEX_SLOT_BYTES;
    mdSizeSectors = EXTERNAL_INDEX_SLOT_BYTES / SECTOR_BYTES;
    areaBytes = EXTERNAL_INDEX_SLOT_BYTES;
    if (metaDeviceBytes < superblockOffsetBytes + areaBytes) {
      throw tooSmall(
        `meta device of ${metaDeviceBytes} bytes is too small for index ${index}: ` +
          `indexed meta data uses a ${EXTERNAL_INDEX_SLOT_BYTES / 1048576} MiB slot per index, ` +
          `so index ${index} needs ${superblockOffsetBytes + areaBytes} bytes`,
      );
    }
  }
  const alOffsetBytes = superblockOffsetBytes + SUPERBLOCK_BYTES;
  const bitmapOffsetBytes = alOffsetBytes + AL_BYTES;
  const bitmapCapacityBytes = areaBytes - SUPERBLOCK_BYTES - AL_BYTES;
  if (bitmapCapacityBytes < 4096) {
    throw tooSmall(
      `meta device of ${metaDeviceBytes} bytes is too small for external meta data: ` +
        `it needs at least ${SUPERBLOCK_BYTES + AL_BYTES + 4096} bytes (superblock, activity log, one bitmap page)`,
    );
  }
  const dataSectors = Math.floor(Math.min(dataBackingBytes, BACKING_BYTES_MAX) / SECTOR_BYTES);
  // Bits one peer's slot can hold, in whole 64-bit words.
  const coverableBits = Math.floor(bitmapCapacityBytes / (8 * maxPeers)) * 64;
  const usableSectors = Math.min(dataSectors, coverableBits * SECTORS_PER_BIT);
  const usableBytes = usableSectors * SECTOR_BYTES;
  if (usableBytes < DATA_BYTES_MIN) {
    throw tooSmall(
      `data device of ${dataBackingBytes} bytes is too small: at least ${DATA_BYTES_MIN / 1024} KiB of data are required`,
    );
  }
  return {
    kind: 'external',
    index,
    superblockOffsetBytes,
    alOffsetBytes,
    alBytes: AL_BYTES,
    bitmapOffsetBytes,
    bitmapBytes: bitmapAreaBytes(usableSectors, maxPeers),
    mdSizeSectors,
    usableSectors,
    usableBytes,
    bitmapBits: Math.ceil(usableSectors / SECTORS_PER_BIT),
    maxPeers,
  };
}

/** Byte offset of peer slot `peer` inside the bitmap area (slots are contiguous, 8-byte aligned). */
export function bitmapSlotOffsetBytes(layout: MetadataLayout, peer: number): number {
  if (!Number.isInteger(peer) || peer < 0 || peer >= layout.maxPeers) {
    throw new RangeError(`peer bitmap slot ${peer} out of range 0..${layout.maxPeers - 1}`);
  }
  return layout.bitmapOffsetBytes + peer * bitmapSlotBytes(layout);
}

/** Bytes of one peer's bitmap slot: the meaningful bits rounded up to 64-bit words. */
export function bitmapSlotBytes(layout: MetadataLayout): number {
  return align(layout.bitmapBits, 64) / 8;
}

/**
 * drbd-utils' ppsize(): a KiB count printed with units, dividing by 1024 (rounding on
 * the 512 bit) while the value is >= 10000: 655360 KiB... e.g. 640 -> "640 KB",
 * 20970844 -> "20 GB".
 */
export function ppsize(kib: number): string {
  const units = ['K', 'M', 'G', 'T', 'P', 'E'];
  let size = kib;
  let base = 0;
  while (size >= 10000 && base < units.length - 1) {
    size = Math.floor(size / 1024) + (Math.floor(size / 512) % 2);
    base++;
  }
  return `${size} ${units[base]}B`;
}

function tooSmall(message: string): MetadataError {
  return new MetadataError('MD_DEVICE_TOO_SMALL', message);
}
