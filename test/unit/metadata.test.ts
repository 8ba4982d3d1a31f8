import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c, crc32cRaw } from '../../src/volume/metadata-crc32c.js';
import {
  AL_EXTENTS_DEFAULT,
  MDF_AL_CLEAN,
  MDF_CONSISTENT,
  MetadataError,
  SB,
  checkSuperblockAgainstLayout,
  decodeSuperblock,
  encodeSuperblock,
  superblockForLayout,
  type Superblock,
} from '../../src/volume/metadata.js';
import { externalLayout, internalLayout } from '../../src/volume/metadata-layout.js';
import { UUID_JUST_CREATED } from '../../src/volume/uuids.js';

const GiB = 1024 ** 3;

const sample = (): Superblock =>
  superblockForLayout(internalLayout(20 * GiB), {
    uuids: { current: 0x1234_5678_9abc_def1n, bitmap: 0xffff_ffff_ffff_fffen, history: [0x42n, 0n] },
    deviceUuid: 0xdead_beef_0000_0001n,
    nodeId: 1,
    flags: MDF_CONSISTENT | MDF_AL_CLEAN,
  });

const isCode = (code: string, re?: RegExp) => (e: unknown): boolean =>
  e instanceof MetadataError && e.code === code && (re === undefined || re.test(e.message));

test('crc32c check values', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32cRaw(0, Buffer.alloc(0)), 0);
});

test('superblock: 4096 bytes, magic SAFESIDE, version 1, big-endian fields at documented offsets', () => {
  const sb = sample();
  const b = encodeSuperblock(sb);
  assert.equal(b.length, 4096);
  assert.equal(b.subarray(0, 8).toString('ascii'), 'SAFESIDE');
  assert.equal(b.readUInt32BE(SB.formatVersion), 1);
  assert.equal(b.readBigUInt64BE(SB.laSizeSectors), 41941688n);
  assert.equal(b.readBigUInt64BE(SB.currentUuid), 0x1234_5678_9abc_def1n);
  assert.equal(b.readUInt32BE(SB.alExtents), AL_EXTENTS_DEFAULT);
  assert.equal(b.readBigInt64BE(SB.alOffsetFromSuperblockBytes), -32768n);
  assert.equal(b.readBigInt64BE(SB.bitmapOffsetFromSuperblockBytes), -(1352n * 512n - 4096n));
  assert.ok(b.subarray(SB.reservedStart).every((x) => x === 0));
  assert.deepEqual(decodeSuperblock(b), sb);
});

const arbU64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

test('superblock round trip (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2 * 1024 * 1024, max: 2 ** 46 }),
      fc.integer({ min: 1, max: 32 }),
      fc.boolean(),
      fc.integer({ min: 0, max: 255 }),
      fc.tuple(arbU64, arbU64, arbU64, arbU64, arbU64),
      fc.option(fc.integer({ min: 0, max: 31 }), { nil: null }),
      fc.integer({ min: 67, max: 6433 }),
      (bytes, peers, external, flags, [cur, bm, h0, h1, dev], nodeId, alExtents) => {
        const layout = external ? externalLayout(bytes, 256 * 1024 * 1024, null, peers) : internalLayout(bytes, peers);
        const sb = superblockForLayout(layout, { uuids: { current: cur, bitmap: bm, history: [h0, h1] }, deviceUuid: dev, nodeId, flags, alExtents });
        const back = decodeSuperblock(encodeSuperblock(sb));
        assert.deepEqual(back, sb);
        checkSuperblockAgainstLayout(back, layout);
      },
    ),
  );
});

test('flipping any byte is detected as a checksum mismatch with a clear message', () => {
  const good = encodeSuperblock(sample());
  for (const at of [SB.flags + 3, SB.currentUuid, SB.laSizeSectors + 7, 2000, 4095]) {
    const bad = Buffer.from(good);
    bad[at]! ^= 0x01;
    assert.throws(
      () => decodeSuperblock(bad),
      isCode('MD_BAD_CHECKSUM', /^meta data superblock checksum mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8} — the superblock is corrupted$/),
      `byte ${at}`,
    );
  }
});

test('no magic: "No valid meta data found"', () => {
  assert.throws(() => decodeSuperblock(Buffer.alloc(4096)), isCode('MD_NO_MAGIC', /No valid meta data found/));
  assert.throws(() => decodeSuperblock(Buffer.alloc(100)), isCode('MD_NO_MAGIC'));
});

test('real DRBD 8.4/9 meta data is recognised and not converted', () => {
  for (const magic of [0x8374026b, 0x8374026c, 0x8374026d]) {
    const b = Buffer.alloc(4096);
    b.writeUInt32BE(magic, 60);
    assert.throws(() => decodeSuperblock(b), isCode('MD_FOREIGN_DRBD', /found DRBD (8\.4|9).* meta data.*safeside does not convert it yet/));
  }
});

test('an unknown format version is refused before anything else is trusted', () => {
  const b = encodeSuperblock(sample());
  b.writeUInt32BE(2, SB.formatVersion);
  assert.throws(() => decodeSuperblock(b), isCode('MD_UNSUPPORTED_VERSION', /version 2 is not supported/));
});

/** Re-seal a hand-edited block with a correct checksum. */
function reseal(b: Buffer): Buffer {
  b.writeUInt32BE(0, SB.checksum);
  b.writeUInt32BE(crc32c(b), SB.checksum);
  return b;
}

test('bad fields are refused even with a valid checksum', () => {
  const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
    ['bytes per bit', (b) => b.writeUInt32BE(8192, SB.bytesPerBit), /bytes per bitmap bit 8192/],
    ['al offset', (b) => b.writeBigInt64BE(-4096n, SB.alOffsetFromSuperblockBytes), /activity log at -4096/],
    ['bitmap offset', (b) => b.writeBigInt64BE(-8192n, SB.bitmapOffsetFromSuperblockBytes), /bitmap at -8192/],
    ['max peers', (b) => b.writeUInt32BE(0, SB.maxPeers), /max peers 0/],
    ['layout kind', (b) => b.writeUInt32BE(7, SB.layoutKind), /layout kind 7/],
    ['unknown flag', (b) => b.writeUInt32BE(0x100, SB.flags), /flags 0x00000100/],
    ['reserved', (b) => (b[3000] = 1), /reserved byte 3000/],
    ['al-extents', (b) => b.writeUInt32BE(5, SB.alExtents), /al-extents 5/],
  ];
  for (const [name, edit, re] of cases) {
    const b = encodeSuperblock(sample());
    edit(b);
    assert.throws(() => decodeSuperblock(reseal(b)), isCode('MD_BAD_FIELD', re), name);
  }
});

test('superblock vs layout: a resized device or shrunk size is reported', () => {
  const sb = sample();
  assert.throws(() => checkSuperblockAgainstLayout(sb, internalLayout(40 * GiB)), isCode('MD_BAD_FIELD', /md size/));
  const big = { ...sb, laSizeSectors: sb.laSizeSectors + 8 };
  assert.throws(() => checkSuperblockAgainstLayout(big, internalLayout(20 * GiB)), isCode('MD_BAD_FIELD', /shrank/));
  assert.doesNotThrow(() => checkSuperblockAgainstLayout(sb, internalLayout(20 * GiB)));
});

test('fresh meta data: current UUID is UUID_JUST_CREATED and flags 0 (Inconsistent)', () => {
  const sb = superblockForLayout(internalLayout(GiB), { uuids: { current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] }, deviceUuid: 1n, nodeId: null });
  assert.equal(sb.flags, 0);
  assert.equal(decodeSuperblock(encodeSuperblock(sb)).uuids.current, 4n);
  assert.equal(decodeSuperblock(encodeSuperblock(sb)).nodeId, null);
});

test('encode refuses an invalid superblock', () => {
  assert.throws(() => encodeSuperblock({ ...sample(), deviceUuid: 2n ** 64n }), isCode('MD_BAD_FIELD', /device UUID/));
});
