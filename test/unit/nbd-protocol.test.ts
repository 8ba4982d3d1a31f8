import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as P from '../../src/runtime/nbd/protocol.js';
import { ByteQueue } from '../../src/runtime/byte-queue.js';
import { payloadPool } from '../../src/runtime/buffer-pool.js';
import { FileBlockExport } from '../../src/runtime/nbd/file-export.js';
import { BlockIoError, NbdErrno } from '../../src/runtime/nbd/block-export.js';

test('greeting carries both magics and the handshake flags', () => {
  const g = P.encodeGreeting(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES);
  assert.equal(g.toString('latin1', 0, 16), 'NBDMAGICIHAVEOPT');
  assert.deepEqual(P.decodeGreeting(g), { ok: true, handshakeFlags: 3 });
  assert.equal(P.decodeGreeting(Buffer.from('NBDMAGICxxxxxxxx\0\0')).ok, false);
});

test('option and option reply round-trip', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 300 }), (opt, data) => {
      const b = P.encodeOption(opt, Buffer.from(data));
      const h = P.decodeOptionHeader(b);
      assert.deepEqual(h, { magicOk: true, option: opt, length: data.length });
      assert.deepEqual(b.subarray(16), Buffer.from(data));
      const r = P.encodeOptionReply(opt, P.NBD_REP_ERR_POLICY, Buffer.from(data));
      assert.deepEqual(P.decodeOptionReplyHeader(r), { magicOk: true, option: opt, type: P.NBD_REP_ERR_POLICY, length: data.length });
    }),
  );
  const magic = P.encodeOptionReply(1, 1);
  assert.equal(magic.readBigUInt64BE(0), 0x3e889045565a9n);
});

test('info request round-trips and rejects inconsistent lengths', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 100 }).filter((s) => !s.includes('\0')), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 }), (name, infos) => {
      const d = P.decodeInfoRequest(P.encodeInfoRequest(name, infos));
      assert.deepEqual(d, { ok: true, name, infoTypes: infos });
    }),
  );
  const good = P.encodeInfoRequest('vol', [1, 2]);
  assert.equal(P.decodeInfoRequest(good.subarray(0, good.length - 1)).ok, false);
  assert.equal(P.decodeInfoRequest(Buffer.concat([good, Buffer.alloc(1)])).ok, false);
  const hugeName = Buffer.from(good);
  hugeName.writeUInt32BE(0xffffffff, 0);
  assert.equal(P.decodeInfoRequest(hugeName).ok, false);
  assert.equal(P.decodeInfoRequest(Buffer.alloc(3)).ok, false);
  assert.equal(P.decodeName(Buffer.from([0xff, 0xfe])), null, 'invalid UTF-8');
  assert.equal(P.decodeName(Buffer.from('a\0b')), null, 'NUL');
});

test('info replies decode', () => {
  assert.deepEqual(P.decodeInfo(P.encodeInfoExport(2 ** 40 + 5, 0x1ed)), { type: P.NBD_INFO_EXPORT, sizeBytes: 2 ** 40 + 5, transmissionFlags: 0x1ed });
  assert.deepEqual(P.decodeInfo(P.encodeInfoBlockSize(1, 4096, 32 << 20)), {
    type: P.NBD_INFO_BLOCK_SIZE,
    minimum: 1,
    preferred: 4096,
    maximum: 32 << 20,
  });
  assert.deepEqual(P.decodeInfo(P.encodeInfoString(P.NBD_INFO_NAME, 'vö')), { type: P.NBD_INFO_NAME, text: 'vö' });
  assert.deepEqual(P.decodeRepServer(P.encodeRepServer('a', 'desc')), { name: 'a', description: 'desc' });
});

test('export name reply honours NO_ZEROES', () => {
  assert.equal(P.encodeExportNameReply(1024, 1, true).length, 10);
  const full = P.encodeExportNameReply(1024, 1, false);
  assert.equal(full.length, 134);
  assert.equal(P.readU64(full, 0), 1024);
  assert.ok(full.subarray(10).every((b) => b === 0));
});

test('request header round-trips, including 64-bit offsets', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (flags, type, hi, lo, offset, length) => {
        const h = P.decodeRequestHeader(P.encodeRequestHeader({ flags, type, handleHi: hi, handleLo: lo, offset, length }));
        assert.equal(h.magic, P.REQUEST_MAGIC);
        assert.deepEqual([h.flags, h.type, h.handleHi, h.handleLo, h.length], [flags, type, hi, lo, length]);
        if (offset < BigInt(Number.MAX_SAFE_INTEGER)) assert.equal(h.offset, Number(offset));
        else assert.ok(h.offset >= Number.MAX_SAFE_INTEGER, 'huge offsets stay huge');
      },
    ),
  );
});

test('simple and structured replies decode', () => {
  const s = P.decodeReplyHeader(P.encodeSimpleReply(22, 7, 9));
  assert.equal(s.kind, 'simple');
  assert.deepEqual([s.error, s.handleHi, s.handleLo], [22, 7, 9]);
  const d = P.encodeOffsetDataHeader(1, 2, 2 ** 35, 4096, true);
  const dh = P.decodeReplyHeader(d);
  assert.deepEqual([dh.kind, dh.flags, dh.type, dh.handleHi, dh.handleLo, dh.length], ['structured', 1, 1, 1, 2, 4104]);
  assert.equal(P.readU64(d, 20), 2 ** 35);
  const e = P.encodeStructuredError(3, 4, 5, 'disk on fire');
  const eh = P.decodeReplyHeader(e);
  assert.equal(eh.type, P.NBD_REPLY_TYPE_ERROR);
  assert.equal(eh.flags, P.NBD_REPLY_FLAG_DONE);
  assert.deepEqual(P.decodeStructuredError(e.subarray(20)), { error: 5, message: 'disk on fire' });
  assert.equal(P.decodeReplyHeader(Buffer.alloc(20)).kind, 'bad');
});

test('strings are capped at 4096 bytes without splitting characters', () => {
  const s = P.encodeString('é'.repeat(3000));
  assert.ok(s.length <= 4096);
  assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(s));
  assert.equal(P.encodeString('a\0b').toString(), 'ab');
});

test('ByteQueue returns views inside a chunk and copies across chunks', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 50 }), { maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 60 })), (chunks, takes) => {
      const q = new ByteQueue();
      const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
      for (const c of chunks) q.push(Buffer.from(c));
      let pos = 0;
      for (const t of takes) {
        if (t > q.length) continue;
        if (t % 3 === 0) {
          assert.equal(q.skip(t), t);
        } else if (t % 3 === 1) {
          assert.deepEqual(Buffer.concat(q.takeChunks(t)), all.subarray(pos, pos + t));
        } else {
          assert.deepEqual(q.take(t), all.subarray(pos, pos + t));
        }
        pos += t;
        assert.equal(q.length, all.length - pos);
      }
    }),
  );
  const q = new ByteQueue();
  q.push(Buffer.from('abc'));
  assert.throws(() => q.take(4), RangeError);
});

test('FileBlockExport stays inside its window', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'safeside-nbd-unit-'));
  try {
    const file = path.join(dir, 'f');
    await writeFile(file, Buffer.alloc(300, 0x5a));
    const exp = await FileBlockExport.open(file, { name: 'w', offsetBytes: 100, sizeBytes: 100 });
    assert.equal(exp.sizeBytes, 100);
    await exp.write(0, Buffer.alloc(100, 1), false);
    await exp.writeZeroes(10, 20, true);
    await exp.trim(0, 100, false);
    await exp.flush();
    await assert.rejects(exp.write(50, Buffer.alloc(51), false), (e: unknown) => e instanceof BlockIoError && e.nbdErrno === NbdErrno.EINVAL);
    await assert.rejects(exp.read(-1, 2), BlockIoError);
    const r = await exp.read(0, 100);
    assert.deepEqual(r, Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(20), Buffer.alloc(70, 1)]));
    await exp.close();
    const raw = await readFile(file);
    assert.ok(raw.subarray(0, 100).every((b) => b === 0x5a));
    assert.ok(raw.subarray(200).every((b) => b === 0x5a));
    await assert.rejects(FileBlockExport.open(file, { name: 'w', offsetBytes: 250, sizeBytes: 100 }), RangeError);
    const ro = await FileBlockExport.open(file, { name: 'ro', readOnly: true });
    await assert.rejects(ro.write(0, Buffer.alloc(1), false), (e: unknown) => e instanceof BlockIoError && e.nbdErrno === NbdErrno.EPERM);
    await ro.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('FileBlockExport: large writes and bulk reads around the page cache agree with buffered I/O', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'safeside-nbd-direct-'));
  const pool = payloadPool;
  const held: Buffer[] = [];
  try {
    const file = path.join(dir, 'f');
    const window = 4 * 1024 * 1024;
    await writeFile(file, Buffer.alloc(window + 8192, 0x5a));
    const exp = await FileBlockExport.open(file, { name: 'd', offsetBytes: 4096, sizeBytes: window, directIo: true });
    const mib = 1024 * 1024;
    // A small buffered write, then a large aligned write over it: the large one wins.
    await exp.write(mib + 100, Buffer.alloc(10, 7), false);
    const big = pool.acquire(mib);
    held.push(big);
    assert.ok(pool.isDirectCapable(big));
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    await exp.write(mib, big, false);
    // A small buffered write into what the large write wrote.
    await exp.write(mib + 4096, Buffer.alloc(4096, 9), false);
    const expected = Buffer.from(big);
    expected.fill(9, 4096, 8192);
    assert.deepEqual(await exp.read(mib, mib), expected, 'buffered read');
    const into = pool.acquire(mib);
    held.push(into);
    assert.deepEqual(await exp.read(mib, mib, into, true), expected, 'bulk read');
    // A large write that is not aligned in the file goes through the page cache, same result.
    const odd = pool.acquire(2 * mib);
    held.push(odd);
    odd.fill(3);
    await exp.write(512, odd.subarray(0, mib), false);
    assert.ok((await exp.read(512, mib)).every((b) => b === 3));
    await exp.flush();
    await exp.close();
    const raw = await readFile(file);
    assert.ok(raw.subarray(0, 4096).every((b) => b === 0x5a), 'nothing before the window');
    assert.ok(raw.subarray(4096 + window).every((b) => b === 0x5a), 'nothing after the window');
    assert.deepEqual(raw.subarray(4096 + 512 + mib, 4096 + 2 * mib), expected.subarray(512));
  } finally {
    for (const b of held) pool.release(b);
    await rm(dir, { recursive: true, force: true });
  }
});
