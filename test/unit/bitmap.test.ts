import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { QuickSyncBitmap } from '../../src/volume/bitmap.js';

const B = 4096;

type Op =
  | { kind: 'setBits'; first: number; count: number }
  | { kind: 'clearBits'; first: number; count: number }
  | { kind: 'setRange'; offset: number; length: number }
  | { kind: 'clearRange'; offset: number; length: number };

/** Naive model: an array of booleans, one per 4 KiB block. */
class Model {
  readonly v: boolean[];
  constructor(
    readonly bits: number,
    readonly volumeBytes: number,
  ) {
    this.v = new Array<boolean>(bits).fill(false);
  }
  apply(op: Op): number {
    let first: number;
    let end: number;
    let value: boolean;
    if (op.kind === 'setBits' || op.kind === 'clearBits') {
      first = op.first;
      end = op.first + op.count;
      value = op.kind === 'setBits';
    } else if (op.kind === 'setRange') {
      if (op.length === 0) return 0;
      first = Math.floor(op.offset / B);
      end = Math.ceil((op.offset + op.length) / B);
      value = true;
    } else {
      if (op.length === 0) return 0;
      first = Math.ceil(op.offset / B);
      const e = op.offset + op.length;
      end = e === this.volumeBytes ? this.bits : Math.floor(e / B);
      value = false;
    }
    let changed = 0;
    for (let i = first; i < end; i++) {
      if (this.v[i] !== value) changed++;
      this.v[i] = value;
    }
    return changed;
  }
}

const scenario = fc
  .integer({ min: 1, max: 700 * B })
  .chain((volumeBytes) => {
    const bits = Math.ceil(volumeBytes / B);
    const bitOp = fc
      .integer({ min: 0, max: bits })
      .chain((first) =>
        fc.record({ kind: fc.constantFrom('setBits' as const, 'clearBits' as const), first: fc.constant(first), count: fc.integer({ min: 0, max: bits - first }) }),
      ) as fc.Arbitrary<Op>;
    const rangeOp = fc
      .integer({ min: 0, max: volumeBytes })
      .chain((offset) =>
        fc.record({ kind: fc.constantFrom('setRange' as const, 'clearRange' as const), offset: fc.constant(offset), length: fc.integer({ min: 0, max: volumeBytes - offset }) }),
      ) as fc.Arbitrary<Op>;
    return fc.record({ volumeBytes: fc.constant(volumeBytes), ops: fc.array(fc.oneof(bitOp, rangeOp), { maxLength: 30 }) });
  });

function runOp(bm: QuickSyncBitmap, op: Op): number {
  switch (op.kind) {
    case 'setBits':
      return bm.setBits(op.first, op.count);
    case 'clearBits':
      return bm.clearBits(op.first, op.count);
    case 'setRange':
      return bm.setRange(op.offset, op.length);
    case 'clearRange':
      return bm.clearRange(op.offset, op.length);
  }
}

test('bitmap behaves like a boolean array (property)', () => {
  fc.assert(
    fc.property(scenario, ({ volumeBytes, ops }) => {
      const bm = QuickSyncBitmap.forVolumeBytes(volumeBytes);
      const model = new Model(bm.bits, volumeBytes);
      for (const op of ops) assert.equal(runOp(bm, op), model.apply(op), JSON.stringify(op));
      for (let i = 0; i < bm.bits; i++) assert.equal(bm.test(i), model.v[i], `bit ${i}`);
      assert.equal(bm.countSet(), model.v.filter(Boolean).length);
      // runs are exactly the maximal runs of true
      const runs: Array<[number, number]> = [];
      for (let i = 0; i < model.v.length; i++) {
        if (model.v[i] && (i === 0 || !model.v[i - 1])) runs.push([i, 0]);
        if (model.v[i]) runs[runs.length - 1]![1]++;
      }
      assert.deepEqual([...bm.runs()].map((r) => [r.firstBit, r.bitCount]), runs);
      // on-disk round trip
      const back = QuickSyncBitmap.fromBytes(bm.toBytes(), bm.bits, volumeBytes);
      assert.deepEqual(back.toBytes(), bm.toBytes());
      assert.equal(back.countSet(), bm.countSet());
    }),
  );
});

test('on-disk image is little-endian 64-bit words, whole words long', () => {
  const bm = new QuickSyncBitmap(130);
  assert.equal(bm.toBytes().length, 24);
  bm.setBits(0, 1);
  bm.setBits(63, 1);
  bm.setBits(64, 1);
  bm.setBits(129, 1);
  const img = bm.toBytes();
  assert.equal(img.readBigUInt64LE(0), (1n << 63n) | 1n);
  assert.equal(img.readBigUInt64LE(8), 1n);
  assert.equal(img.readBigUInt64LE(16), 2n);
});

test('fromBytes ignores padding bits past the end and accepts a longer (4 KiB aligned) area', () => {
  const area = Buffer.alloc(4096, 0xff);
  const bm = QuickSyncBitmap.fromBytes(area, 70);
  assert.equal(bm.countSet(), 70);
  assert.equal(bm.toBytes().readBigUInt64LE(8), 0x3fn);
  assert.throws(() => QuickSyncBitmap.fromBytes(Buffer.alloc(8), 70), RangeError);
});

test('setRange marks partly touched blocks; clearRange only fully covered ones', () => {
  const bm = QuickSyncBitmap.forVolumeBytes(10 * B + 100); // last block partial
  assert.equal(bm.bits, 11);
  assert.equal(bm.setRange(B - 1, 2), 2); // touches blocks 0 and 1
  assert.equal(bm.clearRange(B - 1, 2), 0); // covers neither fully
  assert.equal(bm.clearRange(0, 2 * B), 2);
  bm.setRange(10 * B, 100);
  assert.ok(bm.test(10));
  assert.equal(bm.clearRange(10 * B, 100), 1, 'a range ending at the volume end clears the partial last block');
  assert.throws(() => bm.setRange(10 * B, 101), RangeError);
});

test('large ranges are fast and exact', () => {
  const bm = new QuickSyncBitmap(5_242_711); // 20 GiB internal
  assert.equal(bm.setAll(), 5_242_711);
  assert.equal(bm.countSet(), 5_242_711);
  assert.equal(bm.clearBits(5, 5_000_000), 5_000_000);
  assert.deepEqual([...bm.runs()], [{ firstBit: 0, bitCount: 5 }, { firstBit: 5_000_005, bitCount: 242_706 }]);
});
