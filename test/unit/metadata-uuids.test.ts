import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  UUID_JUST_CREATED,
  UUID_NEW_BM_OFFSET,
  UUID_PRIMARY,
  clearBitmapUuid,
  formatUuids,
  freshUuids,
  isU64,
  newCurrentUuid,
  rotateBitmapIntoHistory,
  setBitmapUuid,
  startResyncAsSource,
  uuidEqual,
  type GenerationUuids,
} from '../../src/volume/uuids.js';

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const uuidSet = fc.record({ current: u64, bitmap: u64, history: fc.tuple(u64, u64) }) as fc.Arbitrary<GenerationUuids>;
const allU64 = (s: GenerationUuids): boolean => [s.current, s.bitmap, ...s.history].every(isU64);

test('constants', () => {
  assert.equal(UUID_JUST_CREATED, 4n);
  assert.equal(UUID_PRIMARY, 1n);
  assert.deepEqual(freshUuids(), { current: 4n, bitmap: 0n, history: [0n, 0n] });
});

test('newCurrentUuid: bitmap := current, current := random with bit0 = role, history kept', () => {
  fc.assert(
    fc.property(uuidSet, u64, fc.boolean(), (s, r, primary) => {
      const { uuids, overwrittenBitmapUuid } = newCurrentUuid(s, () => r, primary);
      assert.equal(uuids.bitmap, s.current);
      assert.equal(uuids.current & 1n, primary ? 1n : 0n);
      assert.ok(uuidEqual(uuids.current, r));
      assert.deepEqual(uuids.history, s.history);
      assert.equal(overwrittenBitmapUuid, s.bitmap === 0n ? null : s.bitmap);
      assert.ok(allU64(uuids));
    }),
  );
});

test('rotateBitmapIntoHistory: history shifts, bitmap goes to history[0], bitmap cleared', () => {
  fc.assert(
    fc.property(uuidSet, (s) => {
      const r = rotateBitmapIntoHistory(s);
      assert.deepEqual(r, { current: s.current, bitmap: 0n, history: [s.bitmap, s.history[0]] });
      assert.deepEqual(clearBitmapUuid(s), r);
    }),
  );
});

test('setBitmapUuid pushes a non-zero old bitmap UUID into history', () => {
  fc.assert(
    fc.property(uuidSet, u64, (s, v) => {
      const r = setBitmapUuid(s, v);
      assert.equal(r.bitmap, v);
      assert.equal(r.current, s.current);
      assert.deepEqual(r.history, s.bitmap === 0n ? s.history : [s.bitmap, s.history[0]]);
    }),
  );
});

test('startResyncAsSource: bitmap + UUID_NEW_BM_OFFSET, or random when 0/JUST_CREATED', () => {
  fc.assert(
    fc.property(uuidSet, u64, (s, r) => {
      const { uuids, syncUuid } = startResyncAsSource(s, () => r);
      const expected = s.bitmap === 0n || s.bitmap === UUID_JUST_CREATED ? r : (s.bitmap + UUID_NEW_BM_OFFSET) & (2n ** 64n - 1n);
      assert.equal(syncUuid, expected);
      assert.equal(uuids.bitmap, expected);
      assert.ok(allU64(uuids));
    }),
  );
});

test('a disconnect/reconnect cycle as DRBD does it: new current on the primary, resync, rotate', () => {
  // Primary loses the peer: new current UUID.
  const start: GenerationUuids = { current: 0xaaaa_0000_0000_0001n, bitmap: 0n, history: [0x10n, 0x20n] };
  const { uuids: afterLoss } = newCurrentUuid(start, () => 0xbbbb_0000_0000_0000n, true);
  assert.equal(formatUuids(afterLoss), 'BBBB000000000001:AAAA000000000001:0000000000000010:0000000000000020');
  // Resync finished: bitmap UUID moves into history.
  const done = rotateBitmapIntoHistory(afterLoss);
  assert.deepEqual(done, { current: 0xbbbb_0000_0000_0001n, bitmap: 0n, history: [0xaaaa_0000_0000_0001n, 0x10n] });
});

test('uuidEqual ignores the role bit only', () => {
  assert.ok(uuidEqual(0x10n, 0x11n));
  assert.ok(!uuidEqual(0x10n, 0x12n));
});
