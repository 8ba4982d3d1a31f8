import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePeerMessage, parsePeerMessageBySchema } from '../../src/volume/message-schema.js';

test('well-formed messages pass, with bigint UUIDs intact', () => {
  const r = parsePeerMessage({ type: 'uuids', volume: 0, current: 0x1234n, bitmap: 0n, history: [4n, 0n], dirtyBits: 7, flags: 2 }, null);
  assert.ok(r.ok);
  assert.equal(r.ok && r.message.type === 'uuids' && r.message.current, 0x1234n);
  assert.ok(parsePeerMessage({ type: 'data', volume: 0, id: 1, epoch: 1, offset: 4096, fua: false }, Buffer.alloc(4096)).ok);
});

test('bad shapes are refused with a reason that names the problem', () => {
  const cases: [unknown, Buffer | null, RegExp][] = [
    [null, null, /without a type/],
    [{ type: 'no-such' }, null, /unknown message type "no-such"/],
    [{ type: 'data', volume: 0, id: 1, epoch: 1, offset: -1, fua: false }, Buffer.alloc(1), /bad data message: offset/],
    [{ type: 'data', volume: 0, id: 1, epoch: 1, offset: 0, fua: false }, null, /needs a payload/],
    [{ type: 'state', role: 1, disks: [] }, Buffer.alloc(1), /must not carry a payload/],
    [{ type: 'uuids', volume: 0, current: 1n << 70n, bitmap: 0n, history: [0n, 0n], dirtyBits: 0, flags: 0 }, null, /current/],
    [{ type: 'rs-request', volume: 0, offset: 0, length: 1 << 30, digest: null }, null, /length/],
  ];
  for (const [header, payload, why] of cases) {
    const r = parsePeerMessage(header, payload);
    assert.equal(r.ok, false, JSON.stringify(header, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    assert.match(!r.ok ? r.problem : '', why);
  }
});

test('property: arbitrary peer input never throws', () => {
  const types = ['params', 'uuids', 'sizes', 'state', 'data', 'write-ack', 'barrier', 'bitmap', 'rs-request', 'rs-data', 'ov-request', 'peer-ack', 'x'];
  fc.assert(
    fc.property(
      fc.oneof(
        fc.anything(),
        fc.record({ type: fc.constantFrom(...types) }, { requiredKeys: [] }).chain((base) =>
          fc.dictionary(fc.string({ maxLength: 12 }), fc.anything()).map((extra) => ({ ...extra, ...base })),
        ),
      ),
      fc.option(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))),
      (header, payload) => {
        const r = parsePeerMessage(header, payload);
        assert.equal(typeof r.ok, 'boolean');
      },
    ),
    { numRuns: 3000 },
  );
});

test('property: the hand-checked write and resync messages are judged exactly as their schemas judge them', () => {
  const types = ['data', 'recv-ack', 'write-ack', 'neg-ack', 'barrier', 'barrier-ack', 'rs-request', 'rs-data', 'rs-in-sync', 'rs-ack'];
  const value = fc.oneof(
    fc.constantFrom(0, 1, -1, 0.5, 65535, 65536, 2 ** 53 - 1, 2 ** 53, 64 * 1024 * 1024, 64 * 1024 * 1024 + 1, NaN, Infinity, -0),
    fc.constantFrom(true, false, null, undefined, '', 'ab12', 'XYZ', '0'.repeat(257), [], {}),
    fc.integer(),
    fc.anything(),
  );
  const field = fc.constantFrom('volume', 'id', 'epoch', 'offset', 'length', 'fua', 'digest', 'extra');
  fc.assert(
    fc.property(
      fc.constantFrom(...types),
      fc.dictionary(field, value),
      fc.boolean(),
      (type, fields, withPayload) => {
        const header = { ...fields, type };
        const payload = withPayload ? Buffer.alloc(8) : null;
        const fast = parsePeerMessage(header, payload);
        const bySchema = parsePeerMessageBySchema(header, payload);
        assert.deepEqual(fast, bySchema);
      },
    ),
    { numRuns: 5000 },
  );
  // Well-formed ones (the common case) too.
  const good = { type: 'data', volume: 3, id: 9, epoch: 2, offset: 8192, fua: true, ignored: 'x' };
  assert.deepEqual(parsePeerMessage(good, Buffer.alloc(1)), parsePeerMessageBySchema(good, Buffer.alloc(1)));
  const req = { type: 'rs-request', volume: 0, offset: 0, length: 4096, digest: 'ab' };
  assert.deepEqual(parsePeerMessage(req, null), parsePeerMessageBySchema(req, null));
});
