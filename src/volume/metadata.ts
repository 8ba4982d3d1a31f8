// The safeside superblock: 4096 bytes, big-endian, our own magic and format version,
// protected by CRC-32C. It carries what DRBD's meta_data_on_disk carries (flags,
// last-agreed size, generation UUIDs, device UUID, where the AL and bitmap are).
// See docs/on-disk-format.md for the byte table.
//
// Decoding never trusts the block: magic, version, checksum, then every field is
// range-checked; problems come out as MetadataError with a stable code.

import { crc32c, hex32 } from './metadata-crc32c.js';
import { MetadataError } from './metadata-errors.js';
import {
  AL_BYTES,
  BITMAP_BYTES_PER_BIT,
  MAX_PEERS_MAX,
  SECTOR_BYTES,
  SUPERBLOCK_BYTES,
  type LayoutKind,
  type MetadataLayout,
} from './metadata-layout.js';
import { formatUuids, isU64, type GenerationUuids } from './uuids.js';

export { MetadataError, type MetadataErrorCode } from './metadata-errors.js';

/** ASCII "SAFESIDE". */
export const SUPERBLOCK_MAGIC = Buffer.from('SAFESIDE', 'ascii');
export const SUPERBLOCK_FORMAT_VERSION = 1;

// DRBD's MDF_* flag bits (linux/drbd.h); same meaning here.
export const MDF_CONSISTENT = 1 << 0;
export const MDF_PRIMARY_IND = 1 << 1;
export const MDF_CONNECTED_IND = 1 << 2;
export const MDF_FULL_SYNC = 1 << 3;
export const MDF_WAS_UP_TO_DATE = 1 << 4;
export const MDF_PEER_OUT_DATED = 1 << 5;
export const MDF_CRASHED_PRIMARY = 1 << 6;
export const MDF_AL_CLEAN = 1 << 7;
export const MDF_KNOWN_MASK = 0xff;

/** DRBD's default al-extents (8.4 and 9): 1237 extents of 4 MiB ~ 4.8 GiB hot set. */
export const AL_EXTENTS_DEFAULT = 1237;
export const AL_EXTENTS_MIN = 67;
/** (al 4k blocks - 1) * 919 context slots: 6433 with the 32 KiB AL (drbd_al_extents_max). */
export const AL_EXTENTS_MAX = 6433;

/** DRBD superblock magics, big-endian u32 at byte 60 of DRBD's superblock. */
export const DRBD_MAGIC_08 = 0x8374026b;
export const DRBD_MAGIC_84_UNCLEAN = 0x8374026c;
export const DRBD_MAGIC_09 = 0x8374026d;
const DRBD_MAGIC_OFFSET = 60;

const NONE_U32 = 0xffffffff;

// Field offsets (bytes) inside the 4096-byte block.
export const SB = {
  magic: 0, // 8 bytes
  formatVersion: 8, // u32
  checksum: 12, // u32 CRC-32C of the block with this field zero
  flags: 16, // u32
  layoutKind: 20, // u32 1 internal, 2 external
  externalIndex: 24, // u32, 0xffffffff = flexible / not applicable
  nodeId: 28, // u32, 0xffffffff = unset
  maxPeers: 32, // u32
  bytesPerBit: 36, // u32
  alExtents: 40, // u32
  alBytes: 44, // u32
  laSizeSectors: 48, // u64
  currentUuid: 56, // u64
  bitmapUuid: 64, // u64
  historyUuid0: 72, // u64
  historyUuid1: 80, // u64
  deviceUuid: 88, // u64
  mdSizeSectors: 96, // u64
  alOffsetFromSuperblockBytes: 104, // s64
  bitmapOffsetFromSuperblockBytes: 112, // s64
  bitmapBytes: 120, // u64
  reservedStart: 128, // ..4096, zero in version 1
} as const;

export interface Superblock {
  formatVersion: number;
  /** MDF_* bits. */
  flags: number;
  /** Last agreed size of the volume, sectors. */
  laSizeSectors: number;
  uuids: GenerationUuids;
  deviceUuid: bigint;
  nodeId: number | null;
  maxPeers: number;
  mdSizeSectors: number;
  /** Signed, relative to the superblock's own offset (DRBD keeps them relative too). */
  alOffsetFromSuperblockBytes: number;
  alBytes: number;
  bitmapOffsetFromSuperblockBytes: number;
  bitmapBytes: number;
  bytesPerBit: number;
  alExtents: number;
  layoutKind: LayoutKind;
  /** meta-disk [idx] for indexed external meta data, else null. */
  externalIndex: number | null;
}

/** A superblock describing `layout`, with the given identity and state. */
export function superblockForLayout(
  layout: MetadataLayout,
  init: {
    uuids: GenerationUuids;
    deviceUuid: bigint;
    nodeId: number | null;
    flags?: number;
    laSizeSectors?: number;
    alExtents?: number;
  },
): Superblock {
  return {
    formatVersion: SUPERBLOCK_FORMAT_VERSION,
    flags: init.flags ?? 0,
    laSizeSectors: init.laSizeSectors ?? layout.usableSectors,
    uuids: init.uuids,
    deviceUuid: init.deviceUuid,
    nodeId: init.nodeId,
    maxPeers: layout.maxPeers,
    mdSizeSectors: layout.mdSizeSectors,
    alOffsetFromSuperblockBytes: layout.alOffsetBytes - layout.superblockOffsetBytes,
    alBytes: layout.alBytes,
    bitmapOffsetFromSuperblockBytes: layout.bitmapOffsetBytes - layout.superblockOffsetBytes,
    bitmapBytes: layout.bitmapBytes,
    bytesPerBit: BITMAP_BYTES_PER_BIT,
    alExtents: init.alExtents ?? AL_EXTENTS_DEFAULT,
    layoutKind: layout.kind,
    externalIndex: layout.index,
  };
}

export function encodeSuperblock(sb: Superblock): Buffer {
  const problem = superblockFieldProblem(sb);
  if (problem !== null) throw new MetadataError('MD_BAD_FIELD', `refusing to write an invalid superblock: ${problem}`);
  const b = Buffer.alloc(SUPERBLOCK_BYTES);
  SUPERBLOCK_MAGIC.copy(b, SB.magic);
  b.writeUInt32BE(sb.formatVersion, SB.formatVersion);
  b.writeUInt32BE(sb.flags >>> 0, SB.flags);
  b.writeUInt32BE(sb.layoutKind === 'internal' ? 1 : 2, SB.layoutKind);
  b.writeUInt32BE(sb.externalIndex ?? NONE_U32, SB.externalIndex);
  b.writeUInt32BE(sb.nodeId ?? NONE_U32, SB.nodeId);
  b.writeUInt32BE(sb.maxPeers, SB.maxPeers);
  b.writeUInt32BE(sb.bytesPerBit, SB.bytesPerBit);
  b.writeUInt32BE(sb.alExtents, SB.alExtents);
  b.writeUInt32BE(sb.alBytes, SB.alBytes);
  b.writeBigUInt64BE(BigInt(sb.laSizeSectors), SB.laSizeSectors);
  b.writeBigUInt64BE(sb.uuids.current, SB.currentUuid);
  b.writeBigUInt64BE(sb.uuids.bitmap, SB.bitmapUuid);
  b.writeBigUInt64BE(sb.uuids.history[0], SB.historyUuid0);
  b.writeBigUInt64BE(sb.uuids.history[1], SB.historyUuid1);
  b.writeBigUInt64BE(sb.deviceUuid, SB.deviceUuid);
  b.writeBigUInt64BE(BigInt(sb.mdSizeSectors), SB.mdSizeSectors);
  b.writeBigInt64BE(BigInt(sb.alOffsetFromSuperblockBytes), SB.alOffsetFromSuperblockBytes);
  b.writeBigInt64BE(BigInt(sb.bitmapOffsetFromSuperblockBytes), SB.bitmapOffsetFromSuperblockBytes);
  b.writeBigUInt64BE(BigInt(sb.bitmapBytes), SB.bitmapBytes);
  b.writeUInt32BE(crc32c(b), SB.checksum);
  return b;
}

/** What kind of meta data a 4 KiB block holds, without throwing. */
export type SuperblockProbe = 'safeside' | 'drbd' | 'none';

export function probeSuperblock(buf: Uint8Array): SuperblockProbe {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length >= 8 && b.subarray(0, 8).equals(SUPERBLOCK_MAGIC)) return 'safeside';
  if (b.length >= DRBD_MAGIC_OFFSET + 4) {
    const m = b.readUInt32BE(DRBD_MAGIC_OFFSET);
    if (m === DRBD_MAGIC_08 || m === DRBD_MAGIC_84_UNCLEAN || m === DRBD_MAGIC_09) return 'drbd';
  }
  return 'none';
}

export function decodeSuperblock(buf: Uint8Array): Superblock {
  if (buf.byteLength < SUPERBLOCK_BYTES) {
    throw new MetadataError('MD_NO_MAGIC', `No valid meta data found (superblock block is ${buf.byteLength} bytes, expected ${SUPERBLOCK_BYTES})`);
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, SUPERBLOCK_BYTES);
  const probe = probeSuperblock(b);
  if (probe === 'drbd') {
    const m = b.readUInt32BE(DRBD_MAGIC_OFFSET);
    const which = m === DRBD_MAGIC_09 ? 'DRBD 9' : m === DRBD_MAGIC_84_UNCLEAN ? 'DRBD 8.4 (unclean)' : 'DRBD 8.4';
    throw new MetadataError(
      'MD_FOREIGN_DRBD',
      `found ${which} meta data (magic ${hex32(m)}); safeside does not convert it yet`,
    );
  }
  if (probe === 'none') throw new MetadataError('MD_NO_MAGIC', 'No valid meta data found');

  const version = b.readUInt32BE(SB.formatVersion);
  if (version !== SUPERBLOCK_FORMAT_VERSION) {
    throw new MetadataError(
      'MD_UNSUPPORTED_VERSION',
      `safeside meta data format version ${version} is not supported (this safeside reads version ${SUPERBLOCK_FORMAT_VERSION}); ` +
        `it was written by a newer safeside, or the superblock is damaged`,
    );
  }
  const stored = b.readUInt32BE(SB.checksum);
  const copy = Buffer.from(b);
  copy.writeUInt32BE(0, SB.checksum);
  const computed = crc32c(copy);
  if (stored !== computed) {
    throw new MetadataError(
      'MD_BAD_CHECKSUM',
      `meta data superblock checksum mismatch: stored ${hex32(stored)}, computed ${hex32(computed)} — the superblock is corrupted`,
    );
  }

  const kindRaw = b.readUInt32BE(SB.layoutKind);
  if (kindRaw !== 1 && kindRaw !== 2) throw badField(`layout kind ${kindRaw} (expected 1 internal or 2 external)`);
  const idx = b.readUInt32BE(SB.externalIndex);
  const node = b.readUInt32BE(SB.nodeId);
  for (let i = SB.reservedStart; i < SUPERBLOCK_BYTES; i++) {
    if (b[i] !== 0) throw badField(`reserved byte ${i} is ${b[i]} (must be 0 in format version 1)`);
  }
  const sb: Superblock = {
    formatVersion: version,
    flags: b.readUInt32BE(SB.flags),
    laSizeSectors: safeNumber(b.readBigUInt64BE(SB.laSizeSectors), 'la-size'),
    uuids: {
      current: b.readBigUInt64BE(SB.currentUuid),
      bitmap: b.readBigUInt64BE(SB.bitmapUuid),
      history: [b.readBigUInt64BE(SB.historyUuid0), b.readBigUInt64BE(SB.historyUuid1)],
    },
    deviceUuid: b.readBigUInt64BE(SB.deviceUuid),
    nodeId: node === NONE_U32 ? null : node,
    maxPeers: b.readUInt32BE(SB.maxPeers),
    mdSizeSectors: safeNumber(b.readBigUInt64BE(SB.mdSizeSectors), 'md size'),
    alOffsetFromSuperblockBytes: safeNumber(b.readBigInt64BE(SB.alOffsetFromSuperblockBytes), 'al offset'),
    alBytes: b.readUInt32BE(SB.alBytes),
    bitmapOffsetFromSuperblockBytes: safeNumber(b.readBigInt64BE(SB.bitmapOffsetFromSuperblockBytes), 'bitmap offset'),
    bitmapBytes: safeNumber(b.readBigUInt64BE(SB.bitmapBytes), 'bitmap bytes'),
    bytesPerBit: b.readUInt32BE(SB.bytesPerBit),
    alExtents: b.readUInt32BE(SB.alExtents),
    layoutKind: kindRaw === 1 ? 'internal' : 'external',
    externalIndex: idx === NONE_U32 ? null : idx,
  };
  const problem = superblockFieldProblem(sb);
  if (problem !== null) throw badField(problem);
  return sb;
}

/** The first thing wrong with a superblock's fields on their own, or null. */
export function superblockFieldProblem(sb: Superblock): string | null {
  const u32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (sb.formatVersion !== SUPERBLOCK_FORMAT_VERSION) return `format version ${sb.formatVersion}`;
  if (!u32(sb.flags) || (sb.flags & ~MDF_KNOWN_MASK) !== 0) return `flags ${hex32(sb.flags)} has bits unknown to format version 1`;
  if (!Number.isSafeInteger(sb.laSizeSectors) || sb.laSizeSectors < 0) return `la-size ${sb.laSizeSectors} sectors`;
  for (const [name, v] of [
    ['current UUID', sb.uuids.current],
    ['bitmap UUID', sb.uuids.bitmap],
    ['history UUID 0', sb.uuids.history[0]],
    ['history UUID 1', sb.uuids.history[1]],
    ['device UUID', sb.deviceUuid],
  ] as const) {
    if (!isU64(v)) return `${name} ${v} is not a u64`;
  }
  if (sb.nodeId !== null && (!Number.isInteger(sb.nodeId) || sb.nodeId < 0 || sb.nodeId >= MAX_PEERS_MAX)) {
    return `node id ${sb.nodeId} (expected 0..${MAX_PEERS_MAX - 1})`;
  }
  if (!Number.isInteger(sb.maxPeers) || sb.maxPeers < 1 || sb.maxPeers > MAX_PEERS_MAX) return `max peers ${sb.maxPeers} (expected 1..${MAX_PEERS_MAX})`;
  if (sb.bytesPerBit !== BITMAP_BYTES_PER_BIT) return `bytes per bitmap bit ${sb.bytesPerBit} (only ${BITMAP_BYTES_PER_BIT} is supported)`;
  if (sb.alBytes !== AL_BYTES) return `activity log size ${sb.alBytes} bytes (only ${AL_BYTES} is supported)`;
  if (!Number.isInteger(sb.alExtents) || sb.alExtents < AL_EXTENTS_MIN || sb.alExtents > AL_EXTENTS_MAX) {
    return `al-extents ${sb.alExtents} (expected ${AL_EXTENTS_MIN}..${AL_EXTENTS_MAX})`;
  }
  if (!Number.isSafeInteger(sb.mdSizeSectors) || sb.mdSizeSectors <= 0) return `md size ${sb.mdSizeSectors} sectors`;
  if (!Number.isSafeInteger(sb.bitmapBytes) || sb.bitmapBytes <= 0 || sb.bitmapBytes % 4096 !== 0) {
    return `bitmap size ${sb.bitmapBytes} bytes (must be a positive multiple of 4096)`;
  }
  const mdBytes = sb.mdSizeSectors * SECTOR_BYTES;
  if (sb.layoutKind === 'internal') {
    if (sb.externalIndex !== null) return `internal meta data with an external index ${sb.externalIndex}`;
    if (sb.alOffsetFromSuperblockBytes !== -sb.alBytes) {
      return `activity log at ${sb.alOffsetFromSuperblockBytes} bytes from the superblock (internal meta data has it at ${-sb.alBytes})`;
    }
    const expectBm = -(mdBytes - SUPERBLOCK_BYTES);
    if (sb.bitmapOffsetFromSuperblockBytes !== expectBm) {
      return `bitmap at ${sb.bitmapOffsetFromSuperblockBytes} bytes from the superblock (md size ${sb.mdSizeSectors} sectors puts it at ${expectBm})`;
    }
    if (sb.bitmapBytes > mdBytes - SUPERBLOCK_BYTES - sb.alBytes) return `bitmap of ${sb.bitmapBytes} bytes does not fit the ${mdBytes}-byte meta data area`;
  } else {
    if (sb.alOffsetFromSuperblockBytes !== SUPERBLOCK_BYTES) {
      return `activity log at ${sb.alOffsetFromSuperblockBytes} bytes from the superblock (external meta data has it at ${SUPERBLOCK_BYTES})`;
    }
    if (sb.bitmapOffsetFromSuperblockBytes !== SUPERBLOCK_BYTES + sb.alBytes) {
      return `bitmap at ${sb.bitmapOffsetFromSuperblockBytes} bytes from the superblock (external meta data has it at ${SUPERBLOCK_BYTES + sb.alBytes})`;
    }
    if (sb.bitmapOffsetFromSuperblockBytes + sb.bitmapBytes > mdBytes) return `bitmap of ${sb.bitmapBytes} bytes does not fit the ${mdBytes}-byte meta data area`;
  }
  return null;
}

/**
 * Cross-check a decoded superblock against the layout computed from the devices as
 * they are now. Throws MD_BAD_FIELD naming the first disagreement.
 */
export function checkSuperblockAgainstLayout(sb: Superblock, layout: MetadataLayout): void {
  const rel = (abs: number): number => abs - layout.superblockOffsetBytes;
  const checks: Array<[string, number | string | null, number | string | null]> = [
    ['layout kind', sb.layoutKind, layout.kind],
    ['external index', sb.externalIndex, layout.index],
    ['max peers', sb.maxPeers, layout.maxPeers],
    ['md size (sectors)', sb.mdSizeSectors, layout.mdSizeSectors],
    ['activity log offset (bytes from superblock)', sb.alOffsetFromSuperblockBytes, rel(layout.alOffsetBytes)],
    ['bitmap offset (bytes from superblock)', sb.bitmapOffsetFromSuperblockBytes, rel(layout.bitmapOffsetBytes)],
    ['bitmap size (bytes)', sb.bitmapBytes, layout.bitmapBytes],
  ];
  for (const [name, stored, expected] of checks) {
    if (stored !== expected) {
      throw badField(`superblock ${name} is ${stored} but the device's layout says ${expected}; the device was resized or the meta data is damaged`);
    }
  }
  if (sb.laSizeSectors > layout.usableSectors) {
    throw badField(
      `last agreed size ${sb.laSizeSectors} sectors is larger than the ${layout.usableSectors} sectors the backing device now offers; ` +
        `the device shrank (implicit shrinking is not allowed)`,
    );
  }
}

/** One-line summary for messages and logs. */
export function describeSuperblock(sb: Superblock): string {
  return `format ${sb.formatVersion}, ${sb.layoutKind}${sb.externalIndex !== null ? `[${sb.externalIndex}]` : ''}, ` +
    `la-size ${sb.laSizeSectors} sectors, flags ${hex32(sb.flags)}, uuids ${formatUuids(sb.uuids)}`;
}

function badField(problem: string): MetadataError {
  return new MetadataError('MD_BAD_FIELD', `meta data superblock has a bad field: ${problem}`);
}

function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw badField(`${what} ${v} is out of range`);
  return Number(v);
}
