// The activity log (AL): which 4 MiB extents of the volume may have writes in flight.
// After a Primary crash only these extents need resyncing. On disk it is a ring of
// 4 KiB transaction blocks (32 KiB = 8 blocks by default); transaction n goes to block
// n % blocks. The block format is DRBD's al_transaction_on_disk (big-endian):
//
//   0  u32 magic 0x69cb65a2        4  u32 tr_number          8  u32 crc32c
//  12  u16 transaction_type (0 update, 0xffff initialized)  14  u16 n_updates
//  16  u16 context_size (= al-extents)  18  u16 context_start_slot_nr
//  20  u32 reserved[4]
//  36  u16 update_slot_nr[64]     164  u32 update_extent_nr[64]
// 420  u32 context[919]   (extent number per slot, 0xffffffff = free)
//
// crc32c is DRBD's: CRC-32C with seed 0 and no final inversion (the kernel's
// crc32c(0, block, 4096)), over the block with the crc field zero. Pure.

import { crc32cRaw, hex32 } from './metadata-crc32c.js';
import { MetadataError } from './metadata-errors.js';

export const AL_MAGIC = 0x69cb65a2;
export const AL_BLOCK_BYTES = 4096;
export const AL_TR_UPDATE = 0;
export const AL_TR_INITIALIZED = 0xffff;
export const AL_UPDATES_PER_TRANSACTION = 64;
export const AL_CONTEXT_PER_TRANSACTION = 919;
/** An AL extent covers 4 MiB of the volume (AL_EXTENT_SHIFT 22). */
export const AL_EXTENT_BYTES = 4 * 1024 * 1024;
/** Extent number of an empty slot (lru_cache's LC_FREE = -1). */
export const LC_FREE = 0xffffffff;
const SLOT_NONE = 0xffff;

const OFF = { magic: 0, trNumber: 4, crc: 8, type: 12, nUpdates: 14, contextSize: 16, contextStart: 18, updateSlots: 36, updateExtents: 164, context: 420 } as const;

export interface AlUpdate {
  slot: number;
  extent: number;
}

export interface AlTransaction {
  type: 'update' | 'initialized';
  trNumber: number;
  updates: AlUpdate[];
  /** Number of slots (al-extents) of the log that wrote this. */
  contextSize: number;
  contextStartSlot: number;
  /** Extent numbers of slots contextStartSlot.. (LC_FREE = empty); at most 919. */
  context: number[];
}

export function encodeAlTransaction(tr: AlTransaction): Buffer {
  if (tr.updates.length > AL_UPDATES_PER_TRANSACTION) throw new RangeError(`${tr.updates.length} updates exceed ${AL_UPDATES_PER_TRANSACTION} per transaction`);
  if (tr.context.length > AL_CONTEXT_PER_TRANSACTION) throw new RangeError(`${tr.context.length} context entries exceed ${AL_CONTEXT_PER_TRANSACTION}`);
  const b = Buffer.alloc(AL_BLOCK_BYTES);
  b.writeUInt32BE(AL_MAGIC, OFF.magic);
  b.writeUInt32BE(tr.trNumber >>> 0, OFF.trNumber);
  if (tr.type === 'initialized') {
    // drbdmeta's initialize_al: magic + type, everything else zero.
    b.writeUInt16BE(AL_TR_INITIALIZED, OFF.type);
  } else {
    b.writeUInt16BE(AL_TR_UPDATE, OFF.type);
    b.writeUInt16BE(tr.updates.length, OFF.nUpdates);
    b.writeUInt16BE(tr.contextSize, OFF.contextSize);
    b.writeUInt16BE(tr.contextStartSlot, OFF.contextStart);
    for (let i = 0; i < AL_UPDATES_PER_TRANSACTION; i++) {
      const u = tr.updates[i];
      b.writeUInt16BE(u ? u.slot : SLOT_NONE, OFF.updateSlots + 2 * i);
      b.writeUInt32BE(u ? u.extent >>> 0 : LC_FREE, OFF.updateExtents + 4 * i);
    }
    for (let i = 0; i < AL_CONTEXT_PER_TRANSACTION; i++) {
      b.writeUInt32BE(i < tr.context.length ? tr.context[i]! >>> 0 : LC_FREE, OFF.context + 4 * i);
    }
  }
  b.writeUInt32BE(crc32cRaw(0, b), OFF.crc);
  return b;
}

/** An initialized (empty) AL block, as create-md writes into every slot of the ring. */
export function initializedAlBlock(): Buffer {
  return encodeAlTransaction({ type: 'initialized', trNumber: 0, updates: [], contextSize: 0, contextStartSlot: 0, context: [] });
}

/** The whole AL area as create-md writes it. */
export function initializedAlArea(alBytes: number): Buffer {
  if (alBytes <= 0 || alBytes % AL_BLOCK_BYTES !== 0) throw new RangeError(`AL size ${alBytes} is not a positive multiple of ${AL_BLOCK_BYTES}`);
  const block = initializedAlBlock();
  const area = Buffer.alloc(alBytes);
  for (let off = 0; off < alBytes; off += AL_BLOCK_BYTES) block.copy(area, off);
  return area;
}

export function decodeAlTransaction(buf: Uint8Array): AlTransaction {
  if (buf.byteLength < AL_BLOCK_BYTES) throw bad(`block is ${buf.byteLength} bytes, expected ${AL_BLOCK_BYTES}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, AL_BLOCK_BYTES);
  const magic = b.readUInt32BE(OFF.magic);
  if (magic !== AL_MAGIC) throw bad(`magic ${hex32(magic)} (expected ${hex32(AL_MAGIC)})`);
  const stored = b.readUInt32BE(OFF.crc);
  const copy = Buffer.from(b);
  copy.writeUInt32BE(0, OFF.crc);
  const computed = crc32cRaw(0, copy);
  if (stored !== computed) throw bad(`checksum mismatch: stored ${hex32(stored)}, computed ${hex32(computed)}`);
  const type = b.readUInt16BE(OFF.type);
  const trNumber = b.readUInt32BE(OFF.trNumber);
  if (type === AL_TR_INITIALIZED) return { type: 'initialized', trNumber, updates: [], contextSize: 0, contextStartSlot: 0, context: [] };
  if (type !== AL_TR_UPDATE) throw bad(`transaction type ${type}`);
  const nUpdates = b.readUInt16BE(OFF.nUpdates);
  if (nUpdates > AL_UPDATES_PER_TRANSACTION) throw bad(`n_updates ${nUpdates} > ${AL_UPDATES_PER_TRANSACTION}`);
  const contextSize = b.readUInt16BE(OFF.contextSize);
  const contextStartSlot = b.readUInt16BE(OFF.contextStart);
  if (contextStartSlot > contextSize) throw bad(`context start slot ${contextStartSlot} beyond context size ${contextSize}`);
  const updates: AlUpdate[] = [];
  for (let i = 0; i < nUpdates; i++) {
    const slot = b.readUInt16BE(OFF.updateSlots + 2 * i);
    if (slot >= contextSize) throw bad(`update ${i} names slot ${slot} beyond context size ${contextSize}`);
    updates.push({ slot, extent: b.readUInt32BE(OFF.updateExtents + 4 * i) });
  }
  const contextLen = Math.min(AL_CONTEXT_PER_TRANSACTION, contextSize - contextStartSlot);
  const context: number[] = [];
  for (let i = 0; i < contextLen; i++) context.push(b.readUInt32BE(OFF.context + 4 * i));
  return { type: 'update', trNumber, updates, contextSize, contextStartSlot, context };
}

export interface AlReplay {
  /** Extents that were hot when the newest transaction was written (sorted). */
  activeExtents: number[];
  /** tr_number of the newest update transaction, or null if the log holds none. */
  lastTrNumber: number | null;
  /** Blocks that were neither a valid transaction nor an initialized block. */
  badBlocks: number[];
}

/**
 * Read the AL ring (apply-al): replay valid update transactions from oldest to
 * newest — each one's context first (slot values before its own updates), then its
 * updates. The result is the set of extents to mark out of sync after a crash.
 */
export function replayActivityLog(area: Uint8Array): AlReplay {
  const txs: AlTransaction[] = [];
  const badBlocks: number[] = [];
  for (let i = 0; i * AL_BLOCK_BYTES + AL_BLOCK_BYTES <= area.byteLength; i++) {
    try {
      const tr = decodeAlTransaction(area.subarray(i * AL_BLOCK_BYTES, (i + 1) * AL_BLOCK_BYTES));
      if (tr.type === 'update') txs.push(tr);
    } catch (e) {
      if (e instanceof MetadataError) badBlocks.push(i);
      else throw e;
    }
  }
  if (txs.length === 0) return { activeExtents: [], lastTrNumber: null, badBlocks };
  // tr_number is a u32 that may wrap: order by distance from the smallest, unwrapping
  // when the spread exceeds half the range.
  const nums = txs.map((t) => t.trNumber);
  const wraps = Math.max(...nums) - Math.min(...nums) > 0x80000000;
  const key = (n: number): number => (wraps && n < 0x80000000 ? n + 0x100000000 : n);
  txs.sort((a, b) => key(a.trNumber) - key(b.trNumber));
  const size = txs[txs.length - 1]!.contextSize;
  const slots = new Array<number>(size).fill(LC_FREE);
  for (const tr of txs) {
    tr.context.forEach((extent, i) => {
      const slot = tr.contextStartSlot + i;
      if (slot < size) slots[slot] = extent;
    });
    for (const u of tr.updates) if (u.slot < size) slots[u.slot] = u.extent;
  }
  const active = [...new Set(slots.filter((e) => e !== LC_FREE))].sort((a, b) => a - b);
  return { activeExtents: active, lastTrNumber: txs[txs.length - 1]!.trNumber, badBlocks };
}

/** The AL extents a byte range of the volume touches. */
export function extentsForRange(offsetBytes: number, lengthBytes: number): number[] {
  if (lengthBytes <= 0) return [];
  const first = Math.floor(offsetBytes / AL_EXTENT_BYTES);
  const last = Math.floor((offsetBytes + lengthBytes - 1) / AL_EXTENT_BYTES);
  const out: number[] = [];
  for (let e = first; e <= last; e++) out.push(e);
  return out;
}

export type AlActivation =
  | {
      status: 'ready';
      /** Write this (and wait for it) before submitting the data write; null if every extent was already hot. */
      transaction: AlTransaction | null;
      /** Ring block index to write the transaction to. */
      blockIndex: number | null;
      /** Extents that went cold: their bitmap pages must be written before the transaction (DRBD's order). */
      evicted: number[];
    }
  | { status: 'busy' };

/**
 * In-memory LRU of hot extents with DRBD's journaling: making a cold extent hot
 * takes a slot (a free one, else the least recently used idle one) and yields a
 * transaction recording the slot change plus a window of 919 slots of context that
 * cycles through the whole log.
 */
export class ActivityLog {
  readonly alExtents: number;
  readonly ringBlocks: number;
  private readonly slots: number[];
  /** Hot extent -> slot, in LRU order (first = least recently used). */
  private readonly lru = new Map<number, number>();
  private readonly refs = new Map<number, number>();
  private nextTrNumber: number;
  private contextCycle = 0;

  constructor(opts: { alExtents: number; ringBlocks?: number; nextTrNumber?: number; activeExtents?: readonly number[] }) {
    if (!Number.isInteger(opts.alExtents) || opts.alExtents < 1 || opts.alExtents > 0xfffe) throw new RangeError(`al-extents ${opts.alExtents}`);
    this.alExtents = opts.alExtents;
    this.ringBlocks = opts.ringBlocks ?? 8;
    this.nextTrNumber = opts.nextTrNumber ?? 0;
    this.slots = new Array<number>(opts.alExtents).fill(LC_FREE);
    const initial = opts.activeExtents ?? [];
    if (initial.length > opts.alExtents) throw new RangeError(`${initial.length} active extents exceed al-extents ${opts.alExtents}`);
    initial.forEach((e, slot) => {
      this.slots[slot] = e;
      this.lru.set(e, slot);
    });
  }

  isHot(extent: number): boolean {
    return this.lru.has(extent);
  }

  hotExtents(): number[] {
    return [...this.lru.keys()];
  }

  /**
   * Pin `extents` for a write (DRBD's al_begin_io). All-or-nothing: 'busy' when
   * there are not enough idle slots (the caller waits for writes to complete).
   */
  activate(extents: readonly number[]): AlActivation {
    const wanted = [...new Set(extents)];
    const cold = wanted.filter((e) => !this.lru.has(e));
    if (cold.length > AL_UPDATES_PER_TRANSACTION) throw new RangeError(`${cold.length} cold extents exceed ${AL_UPDATES_PER_TRANSACTION} per transaction`);
    const wantedSet = new Set(wanted);
    // Find slots before changing anything.
    const freeSlots: number[] = [];
    for (let s = 0; s < this.slots.length && freeSlots.length < cold.length; s++) if (this.slots[s] === LC_FREE) freeSlots.push(s);
    const victims: number[] = [];
    if (freeSlots.length < cold.length) {
      for (const e of this.lru.keys()) {
        if (victims.length + freeSlots.length >= cold.length) break;
        if ((this.refs.get(e) ?? 0) === 0 && !wantedSet.has(e)) victims.push(e);
      }
      if (victims.length + freeSlots.length < cold.length) return { status: 'busy' };
    }
    const updates: AlUpdate[] = [];
    const slotsToUse = [...freeSlots, ...victims.map((v) => this.lru.get(v)!)];
    for (const v of victims) this.lru.delete(v);
    cold.forEach((e, i) => {
      const slot = slotsToUse[i]!;
      updates.push({ slot, extent: e });
    });
    for (const e of wanted) {
      const slot = this.lru.get(e);
      this.lru.delete(e);
      this.lru.set(e, slot ?? -1);
      this.refs.set(e, (this.refs.get(e) ?? 0) + 1);
    }
    if (updates.length === 0) return { status: 'ready', transaction: null, blockIndex: null, evicted: [] };
    // Context = slot contents before this transaction's updates (as DRBD records it).
    const start = this.contextCycle;
    const context = this.slots.slice(start, start + AL_CONTEXT_PER_TRANSACTION);
    this.contextCycle += AL_CONTEXT_PER_TRANSACTION;
    if (this.contextCycle >= this.alExtents) this.contextCycle = 0;
    for (const u of updates) {
      this.slots[u.slot] = u.extent;
      this.lru.set(u.extent, u.slot);
    }
    const trNumber = this.nextTrNumber >>> 0;
    this.nextTrNumber = (this.nextTrNumber + 1) >>> 0;
    return {
      status: 'ready',
      transaction: { type: 'update', trNumber, updates, contextSize: this.alExtents, contextStartSlot: start, context },
      blockIndex: trNumber % this.ringBlocks,
      evicted: victims,
    };
  }

  /** Unpin after the write completed (al_complete_io). */
  release(extents: readonly number[]): void {
    for (const e of new Set(extents)) {
      const n = this.refs.get(e) ?? 0;
      if (n <= 0) throw new Error(`activity log: release of extent ${e} that is not pinned`);
      if (n === 1) this.refs.delete(e);
      else this.refs.set(e, n - 1);
    }
  }
}

function bad(problem: string): MetadataError {
  return new MetadataError('MD_BAD_AL_BLOCK', `activity log block is invalid: ${problem}`);
}
