// Progress of one resync or online-verify run, and the numbers DRBD shows for it:
// percent done, current speed, average speed, time to finish, "(stalled)".
//
// Like DRBD (drbd_int.h: rs_mark_left/rs_mark_time, DRBD_SYNC_MARKS = 8,
// DRBD_SYNC_MARK_STEP = 3 s), progress is sampled into a ring of 8 marks, a new mark at
// most every 3 s and only when the count of blocks left changed. The "speed" of
// /proc/drbd is measured against the mark two places after the newest one, which is
// 18–21 s old: an ≈18 s window. DRBD 9's `db1/dt1` and time-to-finish use the mark
// just before the newest (3–6 s old). The average counts from the start, minus the time
// spent paused. A run whose ≈18 s mark is more than 180 s old is "stalled".
//
// Pure: every time is a number of milliseconds passed in by the caller. Counts are in
// bitmap bits (4 KiB blocks), as DRBD keeps them.

export const SYNC_MARKS = 8;
export const SYNC_MARK_STEP_MS = 3000;
/** /proc/drbd appends "(stalled)" when the ≈18 s mark is older than this many seconds. */
export const SYNC_STALLED_AFTER_S = 180;
/** 4 KiB per bitmap bit. */
export const KIB_PER_BIT = 4;
export const SECTORS_PER_BIT = 8;

export type SyncKind = 'resync' | 'verify';

/** Online-verify position, all in 512-byte sectors (DRBD 9's ov-* fields). */
export interface VerifyPosition {
  startSector: number;
  /** ULLONG_MAX in DRBD when unbounded; we use null. */
  stopSector: number | null;
  positionSector: number;
  skippedBits: number;
}

/**
 * A snapshot of a run at one instant: everything the status formats need, already
 * relative to that instant. Produced by SyncProgress.details(); may also be built by hand.
 */
export interface SyncDetails {
  kind: SyncKind;
  /** Blocks to sync (or verify) when the run started: DRBD's rs_total. */
  totalBits: number;
  /** Blocks still to go: out-of-sync minus failed for a resync, ov_left for a verify. */
  leftBits: number;
  /** Blocks that failed to resync (I/O errors): rs_failed. */
  failedBits: number;
  /** Blocks found equal by checksum-based resync (csums-alg): rs_same_csum. */
  sameCsumBits: number;
  /** Time since the run started, ms (rs-dt-start-ms). */
  elapsedMs: number;
  /** Time spent paused, ms (rs-paused-ms). */
  pausedMs: number;
  /** Age of the ≈18 s mark and blocks done since it (rs-dt0-ms, rs-db0-sectors / 8). */
  dt0Ms: number;
  db0Bits: number;
  /** Age of the ≈3 s mark and blocks done since it (rs-dt1-ms, rs-db1-sectors / 8). */
  dt1Ms: number;
  db1Bits: number;
  /** Rate controller target, KiB/s (c_sync_rate, `want:`). */
  wantKiBps: number;
  verify?: VerifyPosition;
}

export interface SyncProgressStart {
  kind?: SyncKind;
  totalBits: number;
  startMs: number;
  verify?: VerifyPosition;
}

function assertCount(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
}

export class SyncProgress {
  readonly kind: SyncKind;
  readonly totalBits: number;
  readonly startMs: number;
  private left: number;
  private failed = 0;
  private sameCsum = 0;
  private paused = 0;
  private pausedSinceMs: number | null = null;
  private want = 0;
  private verifyPos: VerifyPosition | undefined;
  private readonly markLeft: number[];
  private readonly markTimeMs: number[];
  private lastMark = 0;

  constructor(start: SyncProgressStart) {
    assertCount('totalBits', start.totalBits);
    this.kind = start.kind ?? 'resync';
    this.totalBits = start.totalBits;
    this.startMs = start.startMs;
    this.left = start.totalBits;
    this.verifyPos = start.verify ? { ...start.verify } : undefined;
    this.markLeft = new Array<number>(SYNC_MARKS).fill(start.totalBits);
    this.markTimeMs = new Array<number>(SYNC_MARKS).fill(start.startMs);
  }

  get leftBits(): number {
    return this.left;
  }

  get pausedMs(): number {
    return this.paused;
  }

  get isPaused(): boolean {
    return this.pausedSinceMs !== null;
  }

  /**
   * Record the blocks still to go at `nowMs` (drbd_advance_rs_marks): a new mark is taken
   * when the newest is at least 3 s old, progress was made, and the run is not paused.
   */
  update(leftBits: number, nowMs: number, extra: { failedBits?: number; sameCsumBits?: number; verifyPositionSector?: number; verifySkippedBits?: number } = {}): void {
    assertCount('leftBits', leftBits);
    this.left = leftBits;
    if (extra.failedBits !== undefined) this.failed = extra.failedBits;
    if (extra.sameCsumBits !== undefined) this.sameCsum = extra.sameCsumBits;
    if (this.verifyPos) {
      if (extra.verifyPositionSector !== undefined) this.verifyPos.positionSector = extra.verifyPositionSector;
      if (extra.verifySkippedBits !== undefined) this.verifyPos.skippedBits = extra.verifySkippedBits;
    }
    if (this.pausedSinceMs !== null) return;
    if (nowMs - this.markTimeMs[this.lastMark]! < SYNC_MARK_STEP_MS) return;
    if (this.markLeft[this.lastMark] === leftBits) return;
    const next = (this.lastMark + 1) % SYNC_MARKS;
    this.markTimeMs[next] = nowMs;
    this.markLeft[next] = leftBits;
    this.lastMark = next;
  }

  /** The rate controller's current target (shown as `want:`). */
  setWant(kiBps: number): void {
    this.want = kiBps;
  }

  pause(nowMs: number): void {
    if (this.pausedSinceMs === null) this.pausedSinceMs = nowMs;
  }

  /** Resume: the paused time is added to pausedMs and the marks are moved past it. */
  resume(nowMs: number): void {
    if (this.pausedSinceMs === null) return;
    const d = Math.max(0, nowMs - this.pausedSinceMs);
    this.paused += d;
    for (let i = 0; i < SYNC_MARKS; i++) this.markTimeMs[i]! += d;
    this.pausedSinceMs = null;
  }

  /** Snapshot at `nowMs` for the status formats. */
  details(nowMs: number): SyncDetails {
    // While paused, time stands still for the rate windows.
    const effNow = this.pausedSinceMs ?? nowMs;
    const pausedMs = this.paused + (this.pausedSinceMs === null ? 0 : Math.max(0, nowMs - this.pausedSinceMs));
    const i0 = (this.lastMark + 2) % SYNC_MARKS;
    const i1 = (this.lastMark + SYNC_MARKS - 1) % SYNC_MARKS;
    const d: SyncDetails = {
      kind: this.kind,
      totalBits: this.totalBits,
      leftBits: this.left,
      failedBits: this.failed,
      sameCsumBits: this.sameCsum,
      elapsedMs: Math.max(0, nowMs - this.startMs),
      pausedMs,
      dt0Ms: Math.max(0, effNow - this.markTimeMs[i0]!),
      db0Bits: Math.max(0, this.markLeft[i0]! - this.left),
      dt1Ms: Math.max(0, effNow - this.markTimeMs[i1]!),
      db1Bits: Math.max(0, this.markLeft[i1]! - this.left),
      wantKiBps: this.want,
    };
    if (this.verifyPos) d.verify = { ...this.verifyPos };
    return d;
  }
}

// ---- derived numbers, computed exactly as DRBD does ----

/**
 * drbd_get_syncer_progress: per mil done, 1000 - left*1000/(1+total) with both shifted
 * right by 10 bits (16 for huge bitmaps) first, in integer arithmetic. Runs smaller than
 * 1024 blocks (4 MiB) therefore show 100% from the start, as in DRBD.
 */
export function perMilDone(d: Pick<SyncDetails, 'totalBits' | 'leftBits'>): number {
  const total = d.totalBits;
  if (d.leftBits > total) return total ? 0 : 1000;
  const div = total > 0xffffffff ? 65536 : 1024;
  const left = Math.floor(d.leftBits / div);
  const t = 1 + Math.floor(total / div);
  return 1000 - Math.floor((left * 1000) / t);
}

/** "8.4" style: per mil with one decimal, as /proc/drbd prints it. */
export function percentDoneText(d: Pick<SyncDetails, 'totalBits' | 'leftBits'>): string {
  const pm = perMilDone(d);
  return `${Math.floor(pm / 10)}.${pm % 10}`;
}

/** DRBD 9's percent-resync-done / `done:`: 100 × (total − left) / total (0 when total is 0). */
export function percentDone(d: Pick<SyncDetails, 'totalBits' | 'leftBits'>): number {
  if (d.totalBits === 0) return 0;
  return (100 * (d.totalBits - d.leftBits)) / d.totalBits;
}

/** /proc/drbd's "speed": KiB/s over the ≈18 s window (whole seconds, at least 1). */
export function currentKiBps(d: Pick<SyncDetails, 'dt0Ms' | 'db0Bits'>): number {
  const dt = Math.max(1, Math.floor(d.dt0Ms / 1000));
  return Math.floor(d.db0Bits / dt) * KIB_PER_BIT;
}

/** /proc/drbd's second number: KiB/s since the start, not counting paused time. */
export function averageKiBps(d: Pick<SyncDetails, 'elapsedMs' | 'pausedMs' | 'totalBits' | 'leftBits'>): number {
  const dt = Math.max(1, Math.floor((d.elapsedMs - d.pausedMs) / 1000));
  return Math.floor(Math.max(0, d.totalBits - d.leftBits) / dt) * KIB_PER_BIT;
}

/** /proc/drbd's "finish:" in seconds: left at the ≈18 s window's rate (drivers/md style arithmetic). */
export function procFinishSeconds(d: Pick<SyncDetails, 'dt0Ms' | 'db0Bits' | 'leftBits'>): number {
  const dt = Math.max(1, Math.floor(d.dt0Ms / 1000));
  return Math.floor((dt * Math.floor(d.leftBits / (Math.floor(d.db0Bits / 100) + 1))) / 100);
}

/** DRBD 9's estimated-seconds-to-finish: left at the ≈3 s window's rate; 987654321 without progress. */
export function estimatedSecondsToFinish(d: Pick<SyncDetails, 'dt1Ms' | 'db1Bits' | 'leftBits'>): number {
  if (d.db1Bits <= 0) return 987654321;
  const dt = d.dt1Ms || 1;
  return (dt * 1e-3 * d.leftBits) / d.db1Bits;
}

/** "(stalled)": no new mark for so long that the ≈18 s mark is more than 180 s old. */
export function isStalled(d: Pick<SyncDetails, 'dt0Ms'>): boolean {
  return Math.floor(d.dt0Ms / 1000) > SYNC_STALLED_AFTER_S;
}

/** MiB/s from sectors per ms, as drbdsetup computes db/dt. */
export function mibPerSecond(sectors: number, ms: number): number {
  return ((sectors / (ms || 1)) * 1000) / 2048;
}
