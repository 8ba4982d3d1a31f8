// The quick-sync bitmap: one bit per 4 KiB block of the volume; a set bit means
// "this block may differ from the peer and must be resynced". In memory and on disk
// the bits are little-endian 64-bit words (bit n lives in word n/64 at bit n%64),
// exactly as DRBD stores them. With little-endian words that is simply byte n/8,
// bit n%8, so the in-memory byte array is the on-disk image. Pure.

import { BITMAP_BYTES_PER_BIT } from './metadata-layout.js';

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1]!;

export interface BitRun {
  /** First set bit of the run. */
  firstBit: number;
  bitCount: number;
}

export class QuickSyncBitmap {
  /** Number of meaningful bits (4 KiB blocks covered). */
  readonly bits: number;
  /** ceil(bits/64)*8 bytes; padding bits past `bits` are always zero. */
  private readonly bytes: Uint8Array;
  /** Exact volume size when known (the last block may be partial); else bits * 4 KiB. */
  readonly volumeBytes: number | null;
  private setCount = 0;

  constructor(bits: number, volumeBytes: number | null = null) {
    if (!Number.isSafeInteger(bits) || bits < 0) throw new RangeError(`bitmap size must be a non-negative integer, got ${bits}`);
    if (volumeBytes !== null && (!Number.isSafeInteger(volumeBytes) || Math.ceil(volumeBytes / BITMAP_BYTES_PER_BIT) !== bits)) {
      throw new RangeError(`a volume of ${volumeBytes} bytes needs ${Math.ceil(volumeBytes / BITMAP_BYTES_PER_BIT)} bits, not ${bits}`);
    }
    this.bits = bits;
    this.volumeBytes = volumeBytes;
    this.bytes = new Uint8Array(Math.ceil(bits / 64) * 8);
  }

  /** A bitmap covering a volume of `sizeBytes` (the last bit may cover a partial block). */
  static forVolumeBytes(sizeBytes: number): QuickSyncBitmap {
    return new QuickSyncBitmap(Math.ceil(sizeBytes / BITMAP_BYTES_PER_BIT), sizeBytes);
  }

  /** Bytes of the on-disk image: whole 64-bit words. */
  static encodedBytes(bits: number): number {
    return Math.ceil(bits / 64) * 8;
  }

  /**
   * Read an on-disk image. `buf` may be longer (the 4 KiB-aligned area); only the
   * first encodedBytes(bits) count. Padding bits past `bits` are ignored (cleared).
   */
  static fromBytes(buf: Uint8Array, bits: number, volumeBytes: number | null = null): QuickSyncBitmap {
    const bm = new QuickSyncBitmap(bits, volumeBytes);
    if (buf.byteLength < bm.bytes.length) {
      throw new RangeError(`bitmap image of ${buf.byteLength} bytes is too short for ${bits} bits (${bm.bytes.length} bytes)`);
    }
    bm.bytes.set(buf.subarray(0, bm.bytes.length));
    bm.clearPadding();
    let n = 0;
    for (let i = 0; i < bm.bytes.length; i++) n += POPCOUNT[bm.bytes[i]!]!;
    bm.setCount = n;
    return bm;
  }

  /** The on-disk image (a copy), encodedBytes(bits) long. */
  toBytes(): Buffer {
    return Buffer.from(this.bytes);
  }

  countSet(): number {
    return this.setCount;
  }

  test(bit: number): boolean {
    this.checkBit(bit);
    return (this.bytes[bit >>> 3]! & (1 << (bit & 7))) !== 0;
  }

  /** Set bits [firstBit, firstBit+count). Returns how many changed from 0 to 1. */
  setBits(firstBit: number, count: number): number {
    return this.apply(firstBit, count, true);
  }

  /** Clear bits [firstBit, firstBit+count). Returns how many changed from 1 to 0. */
  clearBits(firstBit: number, count: number): number {
    return this.apply(firstBit, count, false);
  }

  setAll(): number {
    return this.setBits(0, this.bits);
  }

  clearAll(): number {
    return this.clearBits(0, this.bits);
  }

  /**
   * Mark the byte range out of sync: every block the range touches, even partly
   * (drbd_set_out_of_sync). Returns the number of newly set bits.
   */
  setRange(offsetBytes: number, lengthBytes: number): number {
    const r = this.blockRange(offsetBytes, lengthBytes, 'outward');
    return r === null ? 0 : this.setBits(r.first, r.count);
  }

  /**
   * Mark the byte range in sync: only blocks the range covers completely, plus a
   * partial last block of the volume when the range reaches its end
   * (drbd_set_in_sync rounds inward). Returns the number of bits cleared.
   */
  clearRange(offsetBytes: number, lengthBytes: number): number {
    const r = this.blockRange(offsetBytes, lengthBytes, 'inward');
    return r === null ? 0 : this.clearBits(r.first, r.count);
  }

  /** Runs of consecutive set bits, in order. */
  *runs(): Generator<BitRun> {
    let bit = 0;
    while (bit < this.bits) {
      const start = this.findNext(bit, true);
      if (start >= this.bits) return;
      const end = this.findNext(start, false);
      yield { firstBit: start, bitCount: end - start };
      bit = end;
    }
  }

  /** First bit >= from whose value is `value`, or `bits` if none. */
  findNext(from: number, value: boolean): number {
    let bit = from;
    const skip = value ? 0x00 : 0xff;
    while (bit < this.bits) {
      if ((bit & 7) === 0 && this.bytes[bit >>> 3] === skip) {
        bit += 8;
        continue;
      }
      if (((this.bytes[bit >>> 3]! >> (bit & 7)) & 1) === (value ? 1 : 0)) return bit;
      bit++;
    }
    return this.bits;
  }

  private blockRange(offsetBytes: number, lengthBytes: number, round: 'outward' | 'inward'): { first: number; count: number } | null {
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0) {
      throw new RangeError(`bad byte range offset ${offsetBytes} length ${lengthBytes}`);
    }
    const endBytes = offsetBytes + lengthBytes;
    const limit = this.volumeBytes ?? this.bits * BITMAP_BYTES_PER_BIT;
    if (endBytes > limit) {
      throw new RangeError(`byte range [${offsetBytes}, ${endBytes}) is beyond the ${limit} bytes this bitmap covers`);
    }
    if (lengthBytes === 0) return null;
    let first: number;
    let end: number;
    if (round === 'outward') {
      first = Math.floor(offsetBytes / BITMAP_BYTES_PER_BIT);
      end = Math.ceil(endBytes / BITMAP_BYTES_PER_BIT);
    } else {
      first = Math.ceil(offsetBytes / BITMAP_BYTES_PER_BIT);
      // A range reaching the end of the volume covers its last, possibly partial, block.
      end = endBytes === limit ? this.bits : Math.floor(endBytes / BITMAP_BYTES_PER_BIT);
    }
    return end > first ? { first, count: end - first } : null;
  }

  private apply(firstBit: number, count: number, value: boolean): number {
    if (!Number.isSafeInteger(firstBit) || !Number.isSafeInteger(count) || firstBit < 0 || count < 0 || firstBit + count > this.bits) {
      throw new RangeError(`bit range [${firstBit}, ${firstBit + count}) outside bitmap of ${this.bits} bits`);
    }
    let changed = 0;
    let bit = firstBit;
    const end = firstBit + count;
    const full = value ? 0xff : 0x00;
    while (bit < end) {
      const byteIdx = bit >>> 3;
      if ((bit & 7) === 0 && end - bit >= 8) {
        const old = this.bytes[byteIdx]!;
        changed += value ? 8 - POPCOUNT[old]! : POPCOUNT[old]!;
        this.bytes[byteIdx] = full;
        bit += 8;
        continue;
      }
      const mask = 1 << (bit & 7);
      const old = this.bytes[byteIdx]!;
      if (value && (old & mask) === 0) {
        this.bytes[byteIdx] = old | mask;
        changed++;
      } else if (!value && (old & mask) !== 0) {
        this.bytes[byteIdx] = old & ~mask;
        changed++;
      }
      bit++;
    }
    this.setCount += value ? changed : -changed;
    return changed;
  }

  private clearPadding(): void {
    for (let bit = this.bits; bit < this.bytes.length * 8; bit++) this.bytes[bit >>> 3]! &= ~(1 << (bit & 7));
  }

  private checkBit(bit: number): void {
    if (!Number.isSafeInteger(bit) || bit < 0 || bit >= this.bits) throw new RangeError(`bit ${bit} outside bitmap of ${this.bits} bits`);
  }
}
