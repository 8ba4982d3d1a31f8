// Generation UUIDs (DRBD 8.4 style: current, bitmap, two history slots) and the
// ways they move. Pure: randomness comes in as a function. All values are u64 as
// bigint. Bit 0 of a UUID records "was Primary when this UUID was current" and is
// ignored when UUIDs are compared.
//
// Follows the kernel's drbd_main.c: drbd_uuid_new_current, drbd_uuid_set,
// drbd_uuid_set_bm, drbd_uuid_move_history; and drbd_gen_and_send_sync_uuid.

export const UUID_JUST_CREATED = 4n;
export const UUID_PRIMARY = 1n;
/** Added to the bitmap UUID at the start of a resync (drbd_gen_and_send_sync_uuid). */
export const UUID_NEW_BM_OFFSET = 0x0001_0000_0000_0000n;
export const U64_MASK = 0xffff_ffff_ffff_ffffn;
export const HISTORY_UUIDS = 2;

export interface GenerationUuids {
  current: bigint;
  bitmap: bigint;
  /** history[0] is the most recent. */
  history: readonly [bigint, bigint];
}

/** Result of a change; `overwrittenBitmapUuid` reproduces DRBD's "bm UUID was already set" warning. */
export interface UuidChange {
  uuids: GenerationUuids;
  overwrittenBitmapUuid: bigint | null;
}

export type RandomU64 = () => bigint;

export const freshUuids = (): GenerationUuids => ({ current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] });

const u64 = (v: bigint): bigint => v & U64_MASK;
const withRole = (v: bigint, isPrimary: boolean): bigint => (isPrimary ? u64(v) | UUID_PRIMARY : u64(v) & ~UUID_PRIMARY);

export function isU64(v: bigint): boolean {
  return v >= 0n && v <= U64_MASK;
}

/** Equality as DRBD compares UUIDs: bit 0 (the role bit) masked off. */
export function uuidEqual(a: bigint, b: bigint): boolean {
  return (a & ~UUID_PRIMARY) === (b & ~UUID_PRIMARY);
}

/** history[1] := history[0]; history[0] := v (the oldest falls off). */
function pushHistory(set: GenerationUuids, v: bigint): readonly [bigint, bigint] {
  return [v, set.history[0]];
}

/**
 * drbd_uuid_new_current: bitmap := current (start tracking changes since the peer
 * was last in sync); current := fresh random value with bit 0 = role. History does
 * not move; a non-zero bitmap UUID is overwritten (DRBD warns about it).
 */
export function newCurrentUuid(set: GenerationUuids, randomU64: RandomU64, isPrimary: boolean): UuidChange {
  return {
    uuids: { current: withRole(randomU64(), isPrimary), bitmap: set.current, history: set.history },
    overwrittenBitmapUuid: set.bitmap !== 0n ? set.bitmap : null,
  };
}

/**
 * drbd_uuid_set_bm(0): the bitmap UUID goes into history[0] (history shifts by one)
 * and the bitmap UUID becomes 0. Done by both sides at the end of a resync.
 */
export function rotateBitmapIntoHistory(set: GenerationUuids): GenerationUuids {
  return { current: set.current, bitmap: 0n, history: pushHistory(set, set.bitmap) };
}

/** Alias with DRBD's intent in the name: clear the bitmap UUID, keeping it in history. */
export const clearBitmapUuid = rotateBitmapIntoHistory;

/**
 * drbd_uuid_set_bm(val != 0): bitmap := val with bit 0 cleared; history untouched.
 * A non-zero previous bitmap UUID is overwritten (DRBD warns).
 */
export function setBitmapUuidKeepHistory(set: GenerationUuids, val: bigint): UuidChange {
  if (val === 0n) return { uuids: rotateBitmapIntoHistory(set), overwrittenBitmapUuid: null };
  return {
    uuids: { current: set.current, bitmap: u64(val) & ~UUID_PRIMARY, history: set.history },
    overwrittenBitmapUuid: set.bitmap !== 0n ? set.bitmap : null,
  };
}

/**
 * drbd_uuid_set(BITMAP, val): a non-zero old bitmap UUID is first pushed into
 * history, then bitmap := val.
 */
export function setBitmapUuid(set: GenerationUuids, val: bigint): GenerationUuids {
  const history = set.bitmap !== 0n ? pushHistory(set, set.bitmap) : set.history;
  return { current: set.current, bitmap: u64(val), history };
}

/** drbd_uuid_set(CURRENT, val): current := val with bit 0 = role. */
export function setCurrentUuid(set: GenerationUuids, val: bigint, isPrimary: boolean): GenerationUuids {
  return { current: withRole(val, isPrimary), bitmap: set.bitmap, history: set.history };
}

/**
 * SyncSource at the start of a resync (drbd_gen_and_send_sync_uuid): the new
 * bitmap UUID is the old one + UUID_NEW_BM_OFFSET (random if it was 0 or
 * JUST_CREATED), set with drbd_uuid_set (old bitmap UUID into history). Returns the
 * new set and the value to send to the peer (P_SYNC_UUID).
 */
export function startResyncAsSource(set: GenerationUuids, randomU64: RandomU64): { uuids: GenerationUuids; syncUuid: bigint } {
  const old = set.bitmap;
  const syncUuid = old !== 0n && old !== UUID_JUST_CREATED ? u64(old + UUID_NEW_BM_OFFSET) : u64(randomU64());
  return { uuids: setBitmapUuid(set, syncUuid), syncUuid };
}

/** Render like DRBD's kernel log: `CURRENT:BITMAP:HIST0:HIST1` in upper-case hex. */
export function formatUuids(set: GenerationUuids): string {
  return [set.current, set.bitmap, set.history[0], set.history[1]].map((v) => v.toString(16).toUpperCase().padStart(16, '0')).join(':');
}
