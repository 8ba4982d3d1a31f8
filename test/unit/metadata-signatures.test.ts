import { test } from 'node:test';
import assert from 'node:assert/strict';
import { devMajorMinor, probeSignature } from '../../src/runtime/backing-device.js';

const img = (): Buffer => Buffer.alloc(0x10000 + 4096);

test('probeSignature: well-known magics', () => {
  assert.equal(probeSignature(img()), null);
  const xfs = img();
  xfs.write('XFSB', 0, 'latin1');
  xfs.writeUInt32BE(4096, 4);
  xfs.writeBigUInt64BE(1000n, 8);
  assert.deepEqual(probeSignature(xfs), { name: 'xfs', sizeBytes: 4096000 });
  const luks = img();
  Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]).copy(luks, 0);
  assert.equal(probeSignature(luks)?.name, 'LUKS');
  const btrfs = img();
  btrfs.write('_BHRfS_M', 65600, 'latin1');
  btrfs.writeBigUInt64LE(123n * 4096n, 0x10000 + 0x70);
  assert.deepEqual(probeSignature(btrfs), { name: 'btrfs', sizeBytes: 123 * 4096 });
  const gpt = img();
  gpt.writeUInt16LE(0xaa55, 510);
  gpt.write('EFI PART', 512, 'latin1');
  assert.equal(probeSignature(gpt)?.name, 'GPT partition table');
  const mbr = img();
  mbr.writeUInt16LE(0xaa55, 510);
  assert.equal(probeSignature(mbr)?.name, 'DOS partition table or boot sector');
  const ext2 = img();
  ext2.writeUInt16LE(0xef53, 1080);
  ext2.writeUInt32LE(2, 1024 + 0x18); // 4 KiB blocks
  ext2.writeUInt32LE(256, 1024 + 0x04);
  assert.deepEqual(probeSignature(ext2), { name: 'ext2', sizeBytes: 1024 * 1024 });
  ext2.writeUInt32LE(0x4, 1024 + 0x5c);
  assert.equal(probeSignature(ext2)?.name, 'ext3');
  ext2.writeUInt32LE(0x40, 1024 + 0x60);
  assert.equal(probeSignature(ext2)?.name, 'ext4');
});

test('dev_t decoding matches glibc', () => {
  assert.deepEqual(devMajorMinor(0x0700n), { major: 7, minor: 0 }); // /dev/loop0
  assert.deepEqual(devMajorMinor(0x0803n), { major: 8, minor: 3 }); // /dev/sda3
  const makedev = (major: bigint, minor: bigint): bigint =>
    (minor & 0xffn) | ((major & 0xfffn) << 8n) | ((minor & ~0xffn) << 12n) | ((major & ~0xfffn) << 32n);
  assert.deepEqual(devMajorMinor(makedev(259n, 0x1005n)), { major: 259, minor: 0x1005 });
  assert.deepEqual(devMajorMinor(makedev(0x12345n, 0xabcden)), { major: 0x12345, minor: 0xabcde });
});
