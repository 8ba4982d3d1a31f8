import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BufferPool, ALIGNED_CLASS_MIN_BYTES } from '../../src/runtime/buffer-pool.js';
import { ByteQueue } from '../../src/runtime/byte-queue.js';

/** Whether two views start at the same memory. */
const sameMemory = (x: Buffer, y: Buffer): boolean => x.buffer === y.buffer && x.byteOffset === y.byteOffset;

test('BufferPool: a buffer is reused only after every holder released it', () => {
  const pool = new BufferPool();
  const a = pool.acquire(1024 * 1024);
  assert.equal(a.length, 1024 * 1024);
  assert.ok(pool.isPooled(a));
  pool.retain(a); // e.g. a socket write in flight
  pool.release(a); // the request finished
  const b = pool.acquire(1024 * 1024);
  assert.ok(!sameMemory(b, a), 'still held by the socket: not handed out again');
  pool.release(a); // the socket wrote it
  assert.ok(!pool.isPooled(a));
  const c = pool.acquire(1000 * 1024);
  assert.ok(sameMemory(c, a), 'same size class, now free: reused');
  assert.equal(c.length, 1000 * 1024);
  pool.release(b);
  pool.release(c);
});

test('BufferPool: buffers it did not hand out are ignored; a leak is harmless', () => {
  const pool = new BufferPool();
  const plain = Buffer.alloc(4096);
  assert.ok(!pool.isPooled(plain));
  pool.retain(plain);
  pool.release(plain);
  const leaked = pool.acquire(4096);
  const next = pool.acquire(4096);
  assert.ok(!sameMemory(leaked, next));
  const huge = pool.acquire(16 * 1024 * 1024);
  assert.equal(huge.length, 16 * 1024 * 1024);
  assert.ok(!pool.isPooled(huge), 'beyond the largest class: a plain allocation');
});

test('BufferPool: large buffers are page-aligned (an O_DIRECT read into them works), small ones are not claimed to be', (t) => {
  const pool = new BufferPool();
  const small = pool.acquire(4096);
  assert.ok(!pool.isDirectCapable(small));
  const big = pool.acquire(ALIGNED_CLASS_MIN_BYTES);
  const bigger = pool.acquire(1024 * 1024);
  assert.ok(pool.isDirectCapable(big) && pool.isDirectCapable(bigger));
  assert.ok(!pool.isDirectCapable(bigger.subarray(100, 100 + 8192)), 'a view off the alignment');
  assert.ok(!pool.isDirectCapable(bigger.subarray(0, 5000)), 'a length off the alignment');
  // A view into the middle of a slab buffer is recognised as pooled (a send of part of it must retain it).
  assert.ok(pool.isPooled(bigger.subarray(4096, 8192)));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-pool-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'data');
  fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 0x5a));
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  } catch {
    t.skip(`${os.tmpdir()} does not support O_DIRECT`);
    return;
  }
  try {
    assert.equal(fs.readSync(fd, bigger, 0, bigger.length, 0), bigger.length);
    assert.equal(bigger[12345], 0x5a);
    // Memory 8 bytes off the alignment is refused here (the block device asks for 512): the read above could fail.
    assert.throws(() => fs.readSync(fd, big.subarray(8, 8 + 8192), 0, 8192, 0), /EINVAL/);
  } finally {
    fs.closeSync(fd);
  }
  pool.release(big);
  pool.release(bigger);
  pool.release(small);
});

test('ByteQueue: takeInto copies across chunks; compact detaches from the pushed chunks', () => {
  const q = new ByteQueue();
  const reused = Buffer.from('abcdef');
  q.push(reused.subarray(0, 3));
  q.push(Buffer.from('XYZ'));
  const dst = Buffer.alloc(4);
  assert.equal(q.takeInto(dst, 0, 4), 4);
  assert.equal(dst.toString(), 'abcX');
  q.push(reused.subarray(3, 6));
  q.compact();
  reused.fill(0x2e); // the socket reuses its read buffer
  assert.equal(q.length, 5);
  assert.equal(q.take(5).toString(), 'YZdef');
  assert.equal(q.takeInto(dst, 0, 4), 0);
});
