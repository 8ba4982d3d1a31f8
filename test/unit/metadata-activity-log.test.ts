import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AL_BLOCK_BYTES,
  AL_MAGIC,
  ActivityLog,
  LC_FREE,
  decodeAlTransaction,
  encodeAlTransaction,
  extentsForRange,
  initializedAlArea,
  initializedAlBlock,
  replayActivityLog,
} from '../../src/volume/activity-log.js';
import { crc32cRaw } from '../../src/volume/metadata-crc32c.js';
import { MetadataError } from '../../src/volume/metadata-errors.js';

test('initialized AL block: DRBD magic, type 0xffff, crc32c(seed 0) over the block with crc 0', () => {
  const b = initializedAlBlock();
  assert.equal(b.length, 4096);
  assert.equal(b.readUInt32BE(0), AL_MAGIC);
  assert.equal(b.readUInt16BE(12), 0xffff);
  const copy = Buffer.from(b);
  copy.writeUInt32BE(0, 8);
  assert.equal(b.readUInt32BE(8), crc32cRaw(0, copy));
  assert.equal(decodeAlTransaction(b).type, 'initialized');
  const area = initializedAlArea(32768);
  assert.equal(area.length, 32768);
  assert.deepEqual(replayActivityLog(area), { activeExtents: [], lastTrNumber: null, badBlocks: [] });
});

test('AL transaction round trip and field offsets', () => {
  const tr = { type: 'update' as const, trNumber: 77, updates: [{ slot: 3, extent: 1000 }], contextSize: 1237, contextStartSlot: 919, context: Array.from({ length: 318 }, (_, i) => (i % 3 === 0 ? LC_FREE : i)) };
  const b = encodeAlTransaction(tr);
  assert.equal(b.readUInt16BE(14), 1); // n_updates
  assert.equal(b.readUInt16BE(16), 1237); // context_size
  assert.equal(b.readUInt16BE(36), 3); // update_slot_nr[0]
  assert.equal(b.readUInt32BE(164), 1000); // update_extent_nr[0]
  assert.equal(b.readUInt32BE(420 + 4), 1); // context[1]
  assert.deepEqual(decodeAlTransaction(b), tr);
  const bad = Buffer.from(b);
  bad[500]! ^= 4;
  assert.throws(() => decodeAlTransaction(bad), (e: unknown) => e instanceof MetadataError && e.code === 'MD_BAD_AL_BLOCK' && /checksum/.test(e.message));
});

test('extentsForRange: 4 MiB extents', () => {
  const M4 = 4 * 1024 * 1024;
  assert.deepEqual(extentsForRange(0, 4096), [0]);
  assert.deepEqual(extentsForRange(M4 - 1, 2), [0, 1]);
  assert.deepEqual(extentsForRange(3 * M4, 0), []);
});

test('LRU: cold extents yield a transaction, hot ones none; busy when every slot is pinned', () => {
  const al = new ActivityLog({ alExtents: 67 });
  const first = al.activate([5]);
  assert.equal(first.status, 'ready');
  assert.ok(first.status === 'ready' && first.transaction !== null && first.transaction.updates[0]!.extent === 5);
  al.release([5]);
  const again = al.activate([5]);
  assert.ok(again.status === 'ready' && again.transaction === null);
  al.release([5]);
  const many = Array.from({ length: 67 }, (_, i) => 100 + i);
  const r = al.activate(many.slice(0, 60));
  assert.equal(r.status, 'ready');
  const full = al.activate(many.slice(60)); // 7 more: 66 free slots minus 60 -> 6 free + evict 5
  assert.ok(full.status === 'ready' && full.evicted.length === 1 && full.evicted[0] === 5);
  assert.equal(al.activate([999]).status, 'busy');
  al.release(many.slice(0, 60));
  const ok = al.activate([999]);
  assert.ok(ok.status === 'ready' && ok.evicted[0] === 100, 'least recently used idle extent is evicted');
});

test('replaying the ring written by the LRU gives its hot set (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 67, max: 2000 }), fc.array(fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 60 }), (alExtents, writes) => {
      const al = new ActivityLog({ alExtents });
      const ring = Buffer.alloc(8 * AL_BLOCK_BYTES);
      initializedAlArea(ring.length).copy(ring);
      let trs = 0;
      for (const w of writes) {
        const r = al.activate(w);
        assert.equal(r.status, 'ready');
        if (r.status === 'ready' && r.transaction !== null) {
          encodeAlTransaction(r.transaction).copy(ring, r.blockIndex! * AL_BLOCK_BYTES);
          trs++;
        }
        al.release(w);
      }
      const replay = replayActivityLog(ring);
      const hot = al.hotExtents().sort((a, b) => a - b);
      // 8 ring blocks x 919 context slots >= 6433 (al-extents max), and all earlier
      // transactions are in the ring while fewer than 8 were written: always complete.
      assert.deepEqual(replay.activeExtents, hot);
      assert.equal(replay.lastTrNumber, trs === 0 ? null : trs - 1);
    }),
  );
});
