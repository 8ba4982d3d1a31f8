// The seed article's Listing 3 as a resync run: a 20 GiB device (5242711 blocks), 105 s
// in, that sped up after 87 s: 134840 blocks in the last 18 s (29,964 KiB/s), 438784
// since the start (16,712 KiB/s average), 4803927 left (finish 640 s = 0:10:40).

import { SyncProgress } from '../../src/volume/sync-progress.js';

export const LISTING3_AT_MS = 105_000;

export function listing3Progress(): SyncProgress {
  const T = 5242711;
  const L87 = 4803927 + 134840;
  const L105 = 4803927;
  const p = new SyncProgress({ totalBits: T, startMs: 0 });
  for (let s = 1; s <= 105; s++) {
    const left = s <= 87 ? T - Math.round(((T - L87) * s) / 87) : L87 - Math.round(((L87 - L105) * (s - 87)) / 18);
    p.update(left, s * 1000);
  }
  p.setWant(41000);
  return p;
}
