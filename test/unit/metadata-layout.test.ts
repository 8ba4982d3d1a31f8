import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MetadataError } from '../../src/volume/metadata-errors.js';
import {
  AL_BYTES,
  DATA_BYTES_MIN,
  EXTERNAL_INDEX_SLOT_BYTES,
  externalLayout,
  internalLayout,
  ppsize,
} from '../../src/volume/metadata-layout.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** The users' guide estimate: Ms = ceil(Cs / 2^18) * 8 * N + 72 sectors. */
const ugMetaSectors = (cs: number, n: number): number => Math.ceil(cs / 2 ** 18) * 8 * n + 72;

test('20 GiB internal: the figures of a real drbdmeta create-md log', () => {
  const l = internalLayout(20 * GiB);
  assert.equal(l.kind, 'internal');
  assert.equal(l.superblockOffsetBytes, 21474832384);
  assert.equal(l.alOffsetBytes, 21474799616);
  assert.equal(l.bitmapOffsetBytes, 21474144256);
  assert.equal(l.bitmapBytes, 655360); // 640 KiB
  assert.equal(ppsize(l.bitmapBytes / 1024), '640 KB');
  assert.equal(l.mdSizeSectors, 1352);
  assert.equal(l.usableSectors, 41941688);
  assert.equal(l.usableBytes / 1024, 20970844);
  assert.equal(l.alBytes, AL_BYTES);
  assert.equal(l.bitmapBits, Math.ceil(41941688 / 8));
});

test('internal md size agrees with the UG formula for one peer (Cs = whole device)', () => {
  for (const bytes of [1 * GiB, 20 * GiB, 100 * GiB + 4096 * 7, 3 * 1024 * GiB + 512 * 3, 64 * MiB + 512, 2 * MiB]) {
    const l = internalLayout(bytes);
    assert.equal(l.mdSizeSectors, ugMetaSectors(Math.floor(bytes / 512), 1), `size ${bytes}`);
  }
});

test('internal md size agrees with the UG formula for N peers when the device is a multiple of 128 MiB', () => {
  for (const [bytes, n] of [[1 * GiB, 2], [20 * GiB, 3], [512 * GiB, 4], [128 * MiB, 7]] as const) {
    assert.equal(internalLayout(bytes, n).mdSizeSectors, ugMetaSectors(bytes / 512, n), `size ${bytes} peers ${n}`);
  }
});

test('internal layout invariants hold for any size', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2 * MiB, max: 2 ** 46 }), fc.integer({ min: 1, max: 8 }), (bytes, n) => {
      const l = internalLayout(bytes, n);
      assert.equal(l.superblockOffsetBytes % 4096, 0);
      assert.ok(l.superblockOffsetBytes + 4096 <= bytes && bytes - (l.superblockOffsetBytes + 4096) < 4096);
      assert.equal(l.alOffsetBytes, l.superblockOffsetBytes - AL_BYTES);
      assert.equal(l.bitmapOffsetBytes + l.mdSizeSectors * 512 - 4096, l.superblockOffsetBytes);
      assert.ok(l.bitmapOffsetBytes + l.bitmapBytes <= l.alOffsetBytes);
      assert.equal(l.usableBytes, l.bitmapOffsetBytes);
      assert.equal(l.usableSectors * 512, l.usableBytes);
      // every peer's bits fit in the bitmap area
      assert.ok(Math.ceil(l.bitmapBits / 64) * 8 * n <= l.bitmapBytes);
      assert.equal(l.bitmapBytes % 4096, 0);
    }),
  );
});

test('a device too small for meta data plus data is refused with a clear error', () => {
  for (const bytes of [0, 4096, 100 * 1024, DATA_BYTES_MIN]) {
    assert.throws(
      () => internalLayout(bytes),
      (e: unknown) => e instanceof MetadataError && e.code === 'MD_DEVICE_TOO_SMALL' && /too small/.test(e.message) && e.message.includes(String(bytes)),
    );
  }
  assert.doesNotThrow(() => internalLayout(2 * MiB));
});

test('external flexible: superblock at 0, AL at 4 KiB, bitmap at 36 KiB, usable = data disk', () => {
  const l = externalLayout(20 * GiB, 1 * GiB, null);
  assert.deepEqual(
    [l.superblockOffsetBytes, l.alOffsetBytes, l.bitmapOffsetBytes, l.bitmapBytes, l.usableSectors, l.mdSizeSectors],
    [0, 4096, 36864, 655360, 41943040, (1 * GiB) / 512],
  );
});

test('external: usable size is capped by what the bitmap area can cover', () => {
  // 1 MiB meta device: (1 MiB - 36 KiB) of bitmap = 1011712 bytes * 8 bits * 4 KiB
  const l = externalLayout(2 ** 45, 1 * MiB, null);
  assert.equal(l.usableBytes, (1 * MiB - 36864) * 8 * 4096);
  assert.ok(l.bitmapOffsetBytes + l.bitmapBytes <= 1 * MiB);
  const two = externalLayout(2 ** 45, 1 * MiB, null, 2);
  assert.equal(two.usableBytes, ((1 * MiB - 36864) / 2) * 8 * 4096);
});

test('external indexed: 128 MiB slot per index', () => {
  const l = externalLayout(10 * GiB, 4 * EXTERNAL_INDEX_SLOT_BYTES, 3);
  assert.equal(l.superblockOffsetBytes, 3 * EXTERNAL_INDEX_SLOT_BYTES);
  assert.equal(l.alOffsetBytes, 3 * EXTERNAL_INDEX_SLOT_BYTES + 4096);
  assert.equal(l.mdSizeSectors, 262144);
  assert.equal(l.usableBytes, 10 * GiB);
  assert.throws(
    () => externalLayout(10 * GiB, 4 * EXTERNAL_INDEX_SLOT_BYTES - 1, 3),
    (e: unknown) => e instanceof MetadataError && e.code === 'MD_DEVICE_TOO_SMALL' && /index 3/.test(e.message),
  );
  // The fixed slot caps a volume at just under 4 TiB.
  assert.ok(externalLayout(2 ** 45, EXTERNAL_INDEX_SLOT_BYTES, 0).usableBytes < 4 * 1024 * GiB);
});

test('ppsize divides by 1024 with rounding while >= 10000', () => {
  assert.equal(ppsize(640), '640 KB');
  assert.equal(ppsize(9999), '9999 KB');
  assert.equal(ppsize(10000), '10 MB');
  assert.equal(ppsize(12 * 1024 + 511), '12 MB');
  assert.equal(ppsize(12 * 1024 + 512), '13 MB');
  assert.equal(ppsize(20970844), '20 GB');
  assert.equal(ppsize(3 * 1024 ** 3), '3072 GB');
  assert.equal(ppsize(20 * 1024 ** 3), '20 TB');
});
