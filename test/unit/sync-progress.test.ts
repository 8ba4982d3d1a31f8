import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { listing3Progress } from '../helpers/listing3.js';
import {
  SyncProgress,
  averageKiBps,
  currentKiBps,
  estimatedSecondsToFinish,
  isStalled,
  perMilDone,
  percentDone,
  percentDoneText,
  procFinishSeconds,
} from '../../src/volume/sync-progress.js';

test('per mil done uses DRBD integer arithmetic (bits shifted by 10)', () => {
  // The article's Listing 3: 20 GiB device, 18764 of 20476 MiB left -> 8.4%.
  assert.equal(perMilDone({ totalBits: 5242711, leftBits: 4803927 }), 84);
  assert.equal(percentDoneText({ totalBits: 5242711, leftBits: 4803927 }), '8.4');
  // At the very start of a large sync DRBD shows 0.1%, not 0.0%.
  assert.equal(perMilDone({ totalBits: 2620416, leftBits: 2620416 }), 1);
  assert.equal(perMilDone({ totalBits: 2620416, leftBits: 0 }), 1000);
  // Runs below 1024 blocks (4 MiB) read 100% throughout, as in DRBD.
  assert.equal(perMilDone({ totalBits: 1000, leftBits: 1000 }), 1000);
  // More left than total (a race in DRBD): 0, or 1000 when total is 0.
  assert.equal(perMilDone({ totalBits: 5000, leftBits: 6000 }), 0);
  assert.equal(perMilDone({ totalBits: 0, leftBits: 1 }), 1000);
  // DRBD 9's float percentage
  assert.equal(percentDone({ totalBits: 0, leftBits: 0 }), 0);
  assert.equal(percentDone({ totalBits: 400, leftBits: 100 }), 75);
});

test('property: per mil is within 0..1000 and never decreases as blocks get done', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (total, a, b) => {
      const l1 = Math.floor(total * Math.max(a, b));
      const l2 = Math.floor(total * Math.min(a, b));
      const p1 = perMilDone({ totalBits: total, leftBits: l1 });
      const p2 = perMilDone({ totalBits: total, leftBits: l2 });
      assert.ok(p1 >= 0 && p1 <= 1000 && p2 >= p1);
    }),
  );
});


test('marks: a new mark every 3 s with progress; speed over the ≈18 s mark, average since start', () => {
  const d = listing3Progress().details(105_000);
  assert.equal(d.leftBits, 4803927);
  assert.equal(d.elapsedMs, 105_000);
  assert.equal(d.dt0Ms, 18_000);
  assert.equal(d.db0Bits, 134840);
  assert.equal(d.dt1Ms, 3000);
  assert.equal(currentKiBps(d), 29964);
  assert.equal(averageKiBps(d), 16712);
  assert.equal(procFinishSeconds(d), 640);
  assert.equal(d.wantKiBps, 41000);
  // DRBD 9's estimate from the ≈3 s window: the last 3 s went at the same pace
  const est = estimatedSecondsToFinish(d);
  assert.ok(est > 600 && est < 660, String(est));
});

test('marks are not taken without progress, and then the run shows as stalled', () => {
  const p = new SyncProgress({ totalBits: 1 << 20, startMs: 1000 });
  for (let s = 1; s <= 30; s++) p.update((1 << 20) - s * 1000, 1000 + s * 1000);
  const left = p.leftBits;
  // no progress from here on
  let firstStalled: number | null = null;
  for (let s = 31; s <= 400; s++) {
    p.update(left, 1000 + s * 1000);
    if (firstStalled === null && isStalled(p.details(1000 + s * 1000))) firstStalled = s;
  }
  assert.ok(firstStalled !== null);
  // marks every 3 s up to 31 s; the ≈18 s one (two after the newest) is at 13 s,
  // so it is more than 180 s old from 194 s on
  assert.equal(firstStalled, 193);
  assert.ok(!isStalled(p.details(1000 + 192 * 1000)));
  // progress resumes: a fresh mark, but the ≈18 s mark stays old until the ring turns over
  p.update(left - 1, 402_000);
  const d = p.details(402_000);
  assert.equal(d.dt1Ms, 402_000 - 31_000);
  assert.ok(isStalled(d));
});

test('a mark needs 3 s since the newest one', () => {
  const p = new SyncProgress({ totalBits: 100000, startMs: 0 });
  p.update(99000, 2999);
  assert.equal(p.details(2999).dt1Ms, 2999); // still the start mark
  p.update(98000, 3000);
  const d = p.details(3000);
  // newest mark is at 3000; the one before it is the start mark
  assert.equal(d.dt1Ms, 3000);
  assert.equal(d.db1Bits, 2000);
});

test('paused time is left out of the average and out of the rate windows', () => {
  const p = new SyncProgress({ totalBits: 1 << 20, startMs: 0 });
  for (let s = 1; s <= 10; s++) p.update((1 << 20) - s * 1024, s * 1000);
  p.pause(10_000);
  const whilePaused = p.details(60_000);
  assert.equal(whilePaused.pausedMs, 50_000);
  assert.equal(whilePaused.dt1Ms, p.details(10_000).dt1Ms); // time stands still for the windows
  p.update((1 << 20) - 10 * 1024, 30_000); // no marks while paused
  p.resume(60_000);
  assert.equal(p.pausedMs, 50_000);
  const d = p.details(61_000);
  assert.equal(d.elapsedMs, 61_000);
  assert.equal(averageKiBps(d), Math.floor((10 * 1024) / 11) * 4);
  assert.equal(d.dt1Ms, 61_000 - 50_000 - 6000); // the mark at 6 s, moved past the pause
});

test('verify runs carry their position', () => {
  const p = new SyncProgress({ kind: 'verify', totalBits: 2048, startMs: 0, verify: { startSector: 0, stopSector: null, positionSector: 0, skippedBits: 0 } });
  p.update(1024, 5000, { verifyPositionSector: 8192, verifySkippedBits: 3 });
  const d = p.details(5000);
  assert.equal(d.kind, 'verify');
  assert.deepEqual(d.verify, { startSector: 0, stopSector: null, positionSector: 8192, skippedBits: 3 });
});

test('rejects bad counts', () => {
  assert.throws(() => new SyncProgress({ totalBits: -1, startMs: 0 }), RangeError);
  const p = new SyncProgress({ totalBits: 10, startMs: 0 });
  assert.throws(() => p.update(1.5, 0), RangeError);
});
