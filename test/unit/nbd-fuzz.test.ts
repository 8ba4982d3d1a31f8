// Property test: random byte streams (raw, after a valid handshake, and as plausible but
// random requests) never crash the server, never touch bytes outside the export window,
// and never stop it from serving a well-behaved client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import * as P from '../../src/runtime/nbd/protocol.js';
import { GUARD_BYTE, RawClient, startHarness, type Harness } from '../helpers/nbd.js';

const SIZE = 256 * 1024;
const GUARD = 64 * 1024;
let h: Harness;

before(async () => {
  h = await startHarness({ sizeBytes: SIZE, guardBytes: GUARD, limits: { requestBytesMax: 128 * 1024, handshakeTimeoutMs: 500 } });
});
after(async () => {
  await h.close();
});

const handshakeBytes = (structured: boolean): Buffer =>
  Buffer.concat([
    P.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES),
    structured ? P.encodeOption(P.NBD_OPT_STRUCTURED_REPLY) : Buffer.alloc(0),
    P.encodeOption(P.NBD_OPT_GO, P.encodeInfoRequest('vol0')),
  ]);

const interestingOffset = fc.oneof(
  fc.integer({ min: 0, max: SIZE }),
  fc.constantFrom(SIZE - 1, SIZE, SIZE + 1, 2 ** 32, 2 ** 53, 2 ** 63 + 5, 2 ** 64 - 1),
  fc.integer({ min: 0, max: 2 ** 53 }),
);
const interestingLength = fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(0, 1, GUARD, 128 * 1024 + 1, 2 ** 31, 2 ** 32 - 1));

const request = fc
  .record({
    type: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffff })),
    flags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    offset: interestingOffset,
    length: interestingLength,
    payloadDelta: fc.oneof(fc.constant(0), fc.integer({ min: -10, max: 10 })),
    badMagic: fc.integer({ min: 0, max: 19 }).map((x) => x === 0),
  })
  .map((r) => {
    const header = P.encodeRequestHeader(
      { type: r.type, flags: r.flags, handleLo: 1, offset: BigInt(Math.min(r.offset, 2 ** 64 - 1)) & ((1n << 64n) - 1n), length: r.length },
      r.badMagic ? 0x12345678 : P.REQUEST_MAGIC,
    );
    const payloadBytes = r.type === P.NBD_CMD_WRITE ? Math.max(0, Math.min(r.length, 70_000) + r.payloadDelta) : 0;
    return Buffer.concat([header, Buffer.alloc(payloadBytes, 0xcc)]);
  });

const stream = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 2000 })).map(([s, b]) => Buffer.concat([handshakeBytes(s), Buffer.from(b)])),
  fc.tuple(fc.boolean(), fc.array(request, { maxLength: 12 })).map(([s, rs]) => Buffer.concat([handshakeBytes(s), ...rs])),
);

async function feed(bytes: Buffer, splitAt: number): Promise<void> {
  const c = await RawClient.connect(h.socket);
  try {
    const cut = Math.min(splitAt, bytes.length);
    c.send(bytes.subarray(0, cut));
    await new Promise((r) => setImmediate(r));
    c.send(bytes.subarray(cut));
    await c.waitClosed(40);
  } finally {
    c.close();
  }
}

test('random byte streams are survived and contained', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(stream, fc.nat(3000), async (bytes, splitAt) => {
      await feed(bytes, splitAt);
    }),
    { numRuns: 150 },
  );
  // Let in-flight work settle, then check containment and liveness.
  await new Promise((r) => setTimeout(r, 200));
  const raw = await readFile(h.file);
  assert.ok(raw.subarray(0, GUARD).every((b) => b === GUARD_BYTE), 'guard before the window intact');
  assert.ok(raw.subarray(GUARD + SIZE).every((b) => b === GUARD_BYTE), 'guard after the window intact');
  const c = await RawClient.connect(h.socket);
  try {
    await c.handshake('vol0', { structured: true });
    c.request(P.NBD_CMD_WRITE, 1, SIZE - 3, 3, { data: Buffer.from('end') });
    assert.equal((await c.reply()).error, 0);
    c.request(P.NBD_CMD_READ, 2, SIZE - 3, 3);
    assert.equal((await c.reply()).data?.toString(), 'end');
  } finally {
    c.close();
  }
  assert.equal(h.logger.lines.filter((l) => l.level === 'error').length, 0, 'no internal errors');
});
