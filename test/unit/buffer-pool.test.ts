import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/runtime/buffer-pool.js';
import { ByteQueue } from '../../src/runtime/byte-queue.js';

test('BufferPool: a buffer is reused only after every holder released it', () => {
  const pool = new BufferPool();
  const a = pool.acquire(1024 * 1024);
  assert.equal(a.length, 1024 * 1024);
  assert.ok(pool.isPooled(a));
  pool.retain(a); // e.g. a socket write in flight
  pool.release(a); // the request finished
  const b = pool.acquire(1024 * 1024);
  assert.notEqual(b.buffer, a.buffer, 'still held by the socket: not handed out again');
  pool.release(a); // the socket wrote it
  assert.ok(!pool.isPooled(a));
  const c = pool.acquire(1000 * 1024);
  assert.equal(c.buffer, a.buffer, 'same size class, now free: reused');
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
  assert.notEqual(leaked.buffer, next.buffer);
  const huge = pool.acquire(16 * 1024 * 1024);
  assert.equal(huge.length, 16 * 1024 * 1024);
  assert.ok(!pool.isPooled(huge), 'beyond the largest class: a plain allocation');
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
