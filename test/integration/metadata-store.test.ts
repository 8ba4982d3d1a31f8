// create-md and meta-data I/O against real files and a loop device.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync, openSync, readSync, closeSync, writeSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetaDisk, VolumeConfig } from '../../src/config/drbd/model.js';
import { BackingDeviceError, detectFilesystemSignature, openBackingDevice } from '../../src/runtime/backing-device.js';
import { createMetadata, dataWindow, readBitmap, readMetadata, writeBitmap, writeSuperblock } from '../../src/runtime/metadata-store.js';
import { replayActivityLog } from '../../src/volume/activity-log.js';
import { MetadataError, MDF_CONSISTENT } from '../../src/volume/metadata.js';
import { internalLayout } from '../../src/volume/metadata-layout.js';

const dir = mkdtempSync(join(tmpdir(), 'safeside-md-'));
const loops: string[] = [];
after(() => {
  for (const l of loops) {
    try {
      execFileSync('losetup', ['-d', l]);
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function sparseFile(name: string, bytes: number): string {
  const p = join(dir, name);
  writeFileSync(p, '');
  truncateSync(p, bytes);
  return p;
}

function vol(disk: string | null, metaDisk: MetaDisk = { kind: 'internal' }): VolumeConfig {
  return { volume: 0, device: '/dev/drbd0', minor: 0, disk, metaDisk, at: { file: 'test.res', line: 1, column: 1 } };
}

let counter = 1;
const randomBytes = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (counter * 31 + i * 7) & 0xff;
  counter++;
  return b;
};

async function create(volume: VolumeConfig, force = false, maxPeers = 1): Promise<string[]> {
  const lines: string[] = [];
  await createMetadata({ resource: 'r0', volume, maxPeers, force, nodeId: 0, randomBytes, out: (l) => lines.push(l) });
  return lines;
}

const isCode = (code: string, re?: RegExp) => (e: unknown): boolean =>
  (e instanceof MetadataError || e instanceof BackingDeviceError) && e.code === code && (re === undefined || re.test(e.message));

test('create-md on a sparse 20 GiB file prints what drbdmeta prints and writes fresh meta data', async () => {
  const disk = sparseFile('20g.img', 20 * GiB);
  const lines = await create(vol(disk));
  assert.deepEqual(lines, [
    'initializing activity log',
    'initializing bitmap (640 KB) to all zero',
    'Writing meta data...',
    'New drbd meta data block successfully created.',
  ]);
  const { superblock, layout } = await readMetadata(vol(disk), { resource: 'r0' });
  assert.deepEqual(layout, internalLayout(20 * GiB));
  assert.equal(superblock.uuids.current, 4n);
  assert.equal(superblock.uuids.bitmap, 0n);
  assert.equal(superblock.flags, 0);
  assert.equal(superblock.laSizeSectors, 41941688);
  assert.equal(superblock.nodeId, 0);
  assert.equal(superblock.layoutKind, 'internal');
  assert.deepEqual(dataWindow(vol(disk), layout), { path: disk, offsetBytes: 0, sizeBytes: 41941688 * 512 });

  const bm = await readBitmap(vol(disk), layout);
  assert.equal(bm.bits, layout.bitmapBits);
  assert.equal(bm.countSet(), 0);

  const dev = await openBackingDevice(disk, { readOnly: true });
  try {
    const al = await dev.read(layout.alOffsetBytes, layout.alBytes);
    assert.deepEqual(replayActivityLog(al), { activeExtents: [], lastTrNumber: null, badBlocks: [] });
  } finally {
    await dev.close();
  }
});

test('a second create-md without --force is refused with the question DRBD asks; --force overwrites', async () => {
  const disk = sparseFile('twice.img', 64 * MiB);
  await create(vol(disk));
  await assert.rejects(
    create(vol(disk)),
    isCode('MD_EXISTS', /^r0\/0: .*twice\.img already holds safeside meta data \(current UUID 4,.*Do you want to overwrite it\? Re-run with --force to do so; the data area is left as it is\.$/),
  );
  const lines = await create(vol(disk), true);
  assert.equal(lines.at(-1), 'New drbd meta data block successfully created.');
});

test('meta data survives superblock and bitmap writes; a flipped byte is reported as corruption', async () => {
  const disk = sparseFile('rw.img', 64 * MiB);
  await create(vol(disk));
  const { superblock, layout } = await readMetadata(vol(disk));
  await writeSuperblock(vol(disk), { ...superblock, flags: MDF_CONSISTENT, uuids: { ...superblock.uuids, current: 0xabcdef00n } });
  const bm = await readBitmap(vol(disk), layout);
  bm.setRange(5 * MiB, 3 * MiB + 1);
  await writeBitmap(vol(disk), layout, bm);
  const again = await readMetadata(vol(disk));
  assert.equal(again.superblock.flags, MDF_CONSISTENT);
  assert.equal(again.superblock.uuids.current, 0xabcdef00n);
  assert.equal((await readBitmap(vol(disk), layout)).countSet(), 769);

  const fd = openSync(disk, 'r+');
  const one = Buffer.alloc(1);
  readSync(fd, one, 0, 1, layout.superblockOffsetBytes + 100);
  one[0]! ^= 0x40;
  writeSync(fd, one, 0, 1, layout.superblockOffsetBytes + 100);
  closeSync(fd);
  await assert.rejects(readMetadata(vol(disk)), isCode('MD_BAD_CHECKSUM', /checksum mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8} — the superblock is corrupted/));
  // corrupted meta data still counts as existing meta data for create-md
  await assert.rejects(create(vol(disk)), isCode('MD_EXISTS', /unreadable/));
});

test('reading a disk without meta data tells the user to run create-md', async () => {
  const disk = sparseFile('empty.img', 64 * MiB);
  await assert.rejects(readMetadata(vol(disk), { resource: 'r0' }), isCode('MD_NO_MAGIC', /No valid meta data found.*Run `safeside create-md r0`/));
});

test('create-md refuses a disk holding an ext4 filesystem that reaches into the meta data area', async () => {
  const disk = sparseFile('ext4-full.img', 64 * MiB);
  execFileSync('mkfs.ext4', ['-q', '-F', disk]);
  await assert.rejects(
    create(vol(disk)),
    isCode('MD_FOUND_DATA', /Found ext4 filesystem on .*ext4-full\.img \(at offset 0\): it spans 65536 KiB, but internal meta data leaves only \d+ KiB .*This might destroy existing data!/),
  );
  const lines = await create(vol(disk), true);
  assert.equal(lines.length, 4);
});

test('create-md refuses a disk holding a smaller ext4 filesystem unless --force', async () => {
  const disk = sparseFile('ext4-small.img', 64 * MiB);
  execFileSync('mkfs.ext4', ['-q', '-F', disk, '32M']);
  await assert.rejects(
    create(vol(disk)),
    isCode('MD_FOUND_DATA', /^r0\/0: Found ext4 filesystem on .*ext4-small\.img \(at offset 0\) ==> This might destroy existing data! <== The filesystem seems to end before the meta data area, but that is only a guess\. Re-run with --force if you want to proceed\.$/),
  );
  // with external meta data the same disk is also refused, with the reason
  const meta = sparseFile('ext4-small-meta.img', 1 * MiB);
  await assert.rejects(
    create(vol(disk, { kind: 'external', path: meta, index: null })),
    isCode('MD_FOUND_DATA', /Found ext4 filesystem .*External meta data leaves it in place/),
  );
  await create(vol(disk), true);
  const { superblock } = await readMetadata(vol(disk));
  assert.equal(superblock.uuids.current, 4n);
  // the filesystem in the data area is left alone
  const dev = await openBackingDevice(disk, { readOnly: true });
  try {
    assert.equal((await detectFilesystemSignature(dev))?.name, 'ext4');
  } finally {
    await dev.close();
  }
});

test('create-md on a loop device (size from sysfs)', async (t) => {
  const file = sparseFile('loop.img', 96 * MiB);
  let loop: string;
  try {
    loop = execFileSync('losetup', ['-f', '--show', file], { encoding: 'utf8' }).trim();
  } catch (e) {
    t.skip(`losetup unavailable: ${(e as Error).message}`);
    return;
  }
  loops.push(loop);
  try {
    const dev = await openBackingDevice(loop);
    assert.equal(dev.isBlockDevice, true);
    assert.equal(dev.sizeBytes, 96 * MiB);
    await dev.close();
    const lines = await create(vol(loop));
    assert.equal(lines[1], 'initializing bitmap (4 KB) to all zero');
    const { layout, superblock } = await readMetadata(vol(loop));
    assert.deepEqual(layout, internalLayout(96 * MiB));
    assert.equal(superblock.laSizeSectors, layout.usableSectors);
    await assert.rejects(create(vol(loop)), isCode('MD_EXISTS'));
  } finally {
    execFileSync('losetup', ['-d', loop]);
    loops.splice(loops.indexOf(loop), 1);
  }
});

test('external meta data: flexible and indexed', async () => {
  const data = sparseFile('ext-data.img', 256 * MiB);
  const meta = sparseFile('ext-meta.img', 1 * MiB);
  const v = vol(data, { kind: 'external', path: meta, index: null });
  const lines = await create(v);
  assert.equal(lines[1], 'initializing bitmap (8 KB) to all zero');
  const { superblock, layout } = await readMetadata(v);
  assert.equal(layout.superblockOffsetBytes, 0);
  assert.equal(layout.usableBytes, 256 * MiB);
  assert.equal(superblock.layoutKind, 'external');
  assert.deepEqual(dataWindow(v, layout), { path: data, offsetBytes: 0, sizeBytes: 256 * MiB });

  const slots = sparseFile('ext-slots.img', 3 * 128 * MiB);
  const vi = vol(data, { kind: 'external', path: slots, index: 2 });
  await create(vi);
  const r = await readMetadata(vi);
  assert.equal(r.layout.superblockOffsetBytes, 2 * 128 * MiB);
  assert.equal(r.superblock.externalIndex, 2);
  // index 0 of the same meta device holds nothing yet
  await assert.rejects(readMetadata(vol(data, { kind: 'external', path: slots, index: 0 })), isCode('MD_NO_MAGIC'));
});

test('external meta disk must exist', async () => {
  const data = sparseFile('ext-data2.img', 64 * MiB);
  const missing = join(dir, 'no-such-meta.img');
  await assert.rejects(create(vol(data, { kind: 'external', path: missing, index: null })), isCode('ENOENT', new RegExp(`^ENOENT: meta disk ${missing} does not exist$`)));
});

test('clear errors for a missing backing disk, a directory, a diskless volume, a tiny disk', async () => {
  const missing = join(dir, 'nope.img');
  await assert.rejects(create(vol(missing)), isCode('ENOENT', new RegExp(`^ENOENT: backing disk ${missing} does not exist$`)));
  const sub = join(dir, 'a-dir');
  mkdirSync(sub);
  await assert.rejects(create(vol(sub)), isCode('ENOTBLK', /neither a regular file nor a block device/));
  await assert.rejects(create(vol(null)), isCode('MD_NO_DEVICE', /disk none/));
  const tiny = sparseFile('tiny.img', 256 * 1024);
  await assert.rejects(create(vol(tiny)), isCode('MD_DEVICE_TOO_SMALL', /^r0\/0: backing device of 262144 bytes is too small/));
});

test('permission errors name the path', async (t) => {
  if (process.getuid?.() === 0) {
    t.skip('running as root: permission bits do not apply');
    return;
  }
  const p = sparseFile('ro.img', 4 * MiB);
  execFileSync('chmod', ['000', p]);
  await assert.rejects(openBackingDevice(p), isCode('EACCES', new RegExp(p)));
});

test('filesystem signatures: swap', async () => {
  const p = sparseFile('swap.img', 8 * MiB);
  execFileSync('mkswap', [p], { stdio: 'ignore' });
  const dev = await openBackingDevice(p, { readOnly: true });
  try {
    const sig = await detectFilesystemSignature(dev);
    assert.equal(sig?.name, 'swap');
    assert.equal(sig?.sizeBytes, 8 * MiB);
    await assert.rejects(dev.write(0, Buffer.alloc(1)), isCode('EROFS'));
    await assert.rejects(dev.read(8 * MiB - 1, 2), isCode('ERANGE'));
  } finally {
    await dev.close();
  }
});
