// The resync decision of a connecting pair, as pure functions.
//
// When two nodes connect they exchange their generation UUIDs (P_UUIDS: current,
// bitmap, two history slots, the number of out-of-sync blocks and some flags) and
// each decides on its own which way to resync. Both must reach complementary
// answers without talking further. This module is DRBD 8.4's drbd_uuid_compare and
// drbd_sync_handshake (modern protocol >= 96, with the DRBD_FF_WSAME feature that
// enables rule 41), written as functions of their inputs: no mutation, no I/O.
//
// uuidCompare's return value `hg` ("handshake goal" in the kernel's variable name):
//      2  SyncSource, full sync            1  SyncSource using the bitmap
//      0  no resync
//     -1  SyncTarget using the bitmap     -2  SyncTarget, full sync
//    100  split brain with a common parent: after-sb policies may resolve it
//   -100  split brain, diverged long ago: drop the connection (unless always-asbp)
//  -1000  unrelated data
//
// Where DRBD corrects UUIDs during the comparison (rules 34, 35, 51, 71) the
// corrected sets are returned (`fixedSelf`, `fixedPeer`) for the caller to apply.

import { Role, DiskState } from './states.js';
import { UUID_JUST_CREATED, UUID_NEW_BM_OFFSET, U64_MASK, formatUuids, type GenerationUuids } from './uuids.js';
import {
  recoverSplitBrain,
  peerViewOfPolicy,
  type AfterSbPolicies,
  type AfterSbPolicy,
  type RrConflictPolicy,
} from './after-split-brain.js';

/** uuid[5] of P_UUIDS. */
export const UUID_FLAG_DISCARD_MY_DATA = 1;
export const UUID_FLAG_CRASHED_PRIMARY = 2;
export const UUID_FLAG_INCONSISTENT = 4;

/** One node's UUID set as exchanged in P_UUIDS. */
export interface UuidSnapshot extends GenerationUuids {
  /** Set bits in the bitmap ("changes", uuid[4]). */
  dirtyBits: number;
  /** uuid[5]: 1 discard-my-data, 2 crashed primary, 4 disk inconsistent. */
  flags: number;
}

export interface UuidCompareContext {
  /** RESOLVE_CONFLICTS: true on exactly one node of the connection. */
  resolveConflicts: boolean;
  selfRole: Role;
  peerRole: Role;
}

export interface UuidCompareResult {
  hg: number;
  rule: number;
  /** Rules 34 and 71: my UUIDs after DRBD's correction; the caller writes them. */
  fixedSelf?: GenerationUuids;
  /** Rules 35 and 51: the peer's UUIDs as I now see them (the peer corrects its own copy by the mirror rule). */
  fixedPeer?: GenerationUuids;
  log: string[];
}

/** What each rule means, in a few words (used in decisions and docs). */
export const RULE_DESCRIPTIONS: Readonly<Record<number, string>> = Object.freeze({
  10: 'both just created',
  20: 'I am just created (or have no UUID)',
  30: 'peer is just created (or has no UUID)',
  34: 'I was SyncSource and missed "resync finished"',
  35: 'peer was SyncSource and missed "resync finished"',
  36: 'I was SyncSource, peer failed to write the sync UUID',
  37: 'peer was SyncSource, I failed to write the sync UUID',
  40: 'same data generation; crashed primary decides',
  41: 'same data generation, a Primary is present now',
  50: 'peer is ahead by one generation',
  51: 'peer is ahead, its last P_SYNC_UUID was lost',
  60: 'peer is ahead by several generations',
  70: 'I am ahead by one generation',
  71: 'I am ahead, my last P_SYNC_UUID was lost',
  80: 'I am ahead by several generations',
  90: 'split brain: both changed since a common parent',
  100: 'split brain: diverged long ago',
});

const m = (x: bigint): bigint => x & ~1n;
const plusOffset = (x: bigint): bigint => (x + UUID_NEW_BM_OFFSET) & U64_MASK;
const uuidsOf = (s: GenerationUuids): GenerationUuids => ({ current: s.current, bitmap: s.bitmap, history: [s.history[0], s.history[1]] });

/** The kernel's drbd_uuid_dump line: `self CUR:BM:H0:H1 bits:N flags:X`. */
export function formatUuidDump(label: string, set: GenerationUuids, bits: number, flags: number): string {
  return `${label} ${formatUuids(set)} bits:${bits} flags:${flags.toString(16).toUpperCase()}`;
}

/**
 * drbd_uuid_compare (DRBD 8.4, protocol >= 96 with DRBD_FF_WSAME). Compares with
 * bit 0 masked, except the "bitmap UUID is zero" tests of rules 34-37 which, like
 * the kernel, look at the raw value.
 */
export function uuidCompare(self: UuidSnapshot, peer: UuidSnapshot, ctx: UuidCompareContext): UuidCompareResult {
  const log: string[] = [];
  const sCur = m(self.current);
  const pCur = m(peer.current);

  if (sCur === UUID_JUST_CREATED && pCur === UUID_JUST_CREATED) return { hg: 0, rule: 10, log };
  if ((sCur === UUID_JUST_CREATED || sCur === 0n) && pCur !== UUID_JUST_CREATED) return { hg: -2, rule: 20, log };
  if (sCur !== UUID_JUST_CREATED && (pCur === UUID_JUST_CREATED || pCur === 0n)) return { hg: 2, rule: 30, log };

  if (sCur === pCur) {
    if (peer.bitmap === 0n && self.bitmap !== 0n) {
      // I was SyncSource: either I missed "resync finished" (peer already rotated
      // its bitmap UUID into history), or the peer never stored the sync UUID.
      if (m(self.bitmap) === m(peer.history[0]) && m(self.history[0]) === m(peer.history[1])) {
        const fixedSelf: GenerationUuids = { current: self.current, bitmap: 0n, history: [self.bitmap, self.history[0]] };
        log.push('was SyncSource, missed the resync finished event, corrected myself:');
        log.push(formatUuidDump('self', fixedSelf, self.dirtyBits, 0));
        return { hg: 1, rule: 34, fixedSelf, log };
      }
      log.push('was SyncSource (peer failed to write sync_uuid)');
      return { hg: 1, rule: 36, log };
    }
    if (self.bitmap === 0n && peer.bitmap !== 0n) {
      if (m(self.history[0]) === m(peer.bitmap) && m(self.history[1]) === m(peer.history[0])) {
        const fixedPeer: GenerationUuids = { current: peer.current, bitmap: 0n, history: [peer.bitmap, peer.history[0]] };
        log.push('was SyncTarget, peer missed the resync finished event, corrected peer:');
        log.push(formatUuidDump('peer', fixedPeer, peer.dirtyBits, peer.flags));
        return { hg: -1, rule: 35, fixedPeer, log };
      }
      log.push('was SyncTarget (failed to write sync_uuid)');
      return { hg: -1, rule: 37, log };
    }

    // Same generation, same bitmap state. Who crashed while Primary?
    const rct = ((self.flags & UUID_FLAG_CRASHED_PRIMARY) !== 0 ? 1 : 0) + (peer.flags & UUID_FLAG_CRASHED_PRIMARY);
    if (rct === 0) return { hg: 0, rule: 40, log }; // a replication link hiccup
    if (ctx.selfRole === Role.Primary || ctx.peerRole === Role.Primary) {
      // UUIDs not rotated, yet someone is Primary now (IO was frozen, no bump).
      if (ctx.selfRole === Role.Primary && ctx.peerRole === Role.Primary) {
        log.push('Equivalent unrotated UUIDs, but both are primary. Can not resolve this.');
        return { hg: -100, rule: 41, log };
      }
      return { hg: ctx.selfRole === Role.Primary ? 1 : -1, rule: 41, log };
    }
    // Both Secondary: recovery from a (simultaneous) hard crash.
    if (rct === 1) return { hg: 1, rule: 40, log };
    if (rct === 2) return { hg: -1, rule: 40, log };
    return { hg: ctx.resolveConflicts ? -1 : 1, rule: 40, log };
  }

  if (sCur === m(peer.bitmap)) return { hg: -1, rule: 50, log };

  {
    const pH0 = m(peer.history[0]);
    if (sCur === pH0 && plusOffset(pH0) === m(peer.bitmap)) {
      // The peer started a resync as SyncSource towards me but its P_SYNC_UUID never arrived: undo that on my copy.
      const fixedPeer: GenerationUuids = { current: peer.current, bitmap: peer.history[0], history: [peer.history[1], peer.history[1]] };
      log.push('Lost last syncUUID packet, corrected:');
      log.push(formatUuidDump('peer', fixedPeer, peer.dirtyBits, peer.flags));
      return { hg: -1, rule: 51, fixedPeer, log };
    }
  }

  if (sCur === m(peer.history[0]) || sCur === m(peer.history[1])) return { hg: -2, rule: 60, log };

  if (m(self.bitmap) === pCur) return { hg: 1, rule: 70, log };

  {
    const sH0 = m(self.history[0]);
    if (sH0 === pCur && plusOffset(sH0) === m(self.bitmap)) {
      const fixedSelf: GenerationUuids = { current: self.current, bitmap: self.history[0], history: [self.history[1], self.history[1]] };
      log.push('Last syncUUID did not get through, corrected:');
      log.push(formatUuidDump('self', fixedSelf, self.dirtyBits, 0));
      return { hg: 1, rule: 71, fixedSelf, log };
    }
  }

  if (m(self.history[0]) === pCur || m(self.history[1]) === pCur) return { hg: 2, rule: 80, log };

  if (m(self.bitmap) === m(peer.bitmap) && m(self.bitmap) !== 0n) return { hg: 100, rule: 90, log };

  for (const a of self.history) for (const b of peer.history) if (m(a) === m(b)) return { hg: -100, rule: 100, log };

  return { hg: -1000, rule: 100, log };
}

// ---------------------------------------------------------------------------------
// drbd_sync_handshake

export type HandlerName = 'initial-split-brain' | 'split-brain' | 'pri-lost-after-sb' | 'pri-lost';

export interface SyncHandshakeInput {
  self: UuidSnapshot;
  peer: UuidSnapshot;
  /** My disk state for the decision (DRBD uses the pending state when Negotiating). */
  selfDisk: DiskState;
  peerDisk: DiskState;
  selfRole: Role;
  peerRole: Role;
  resolveConflicts: boolean;
  policy: AfterSbPolicies;
  /** `connect --discard-my-data` on this node. `self.flags & 1` counts as well. */
  selfDiscardMyData: boolean;
  /** The peer asked to discard its data. `peer.flags & 1` (how DRBD learns it) counts as well. */
  peerDiscardMyData: boolean;
  /**
   * Would demoting this node succeed now (device not open)? Asked only by
   * call-pri-lost-after-sb. Default false: a Primary normally has its device in use.
   */
  selfDemotable?: boolean;
  /** `--tentative` / dry-run connect: decide, log, and drop the connection. */
  dryRun?: boolean;
}

interface DecisionBase {
  /** Final handshake value after disk-state override, policies and manual resolution. */
  hg: number;
  /** uuid_compare's value and rule. */
  uuidHg: number;
  rule: number;
  log: string[];
  handlers: HandlerName[];
  /** call-pri-lost-after-sb chose this Primary as the victim: the caller must demote it (DRBD already did when this is true). */
  demoteSelf: boolean;
  fixedSelf?: GenerationUuids;
  fixedPeer?: GenerationUuids;
}

export type SyncDecision = DecisionBase &
  (
    | { kind: 'no-sync' }
    | { kind: 'sync'; direction: 'source' | 'target'; full: boolean; reason: string }
    | { kind: 'split-brain'; resolved: false; message: 'Split-Brain detected but unresolved, dropping connection!' }
    | { kind: 'unrelated'; message: 'Unrelated data, aborting!' }
    | { kind: 'refuse'; message: string }
    | { kind: 'pri-lost'; handler: 'pri-lost-after-sb' | 'pri-lost'; message: string }
    | { kind: 'dry-run'; would: 'no-sync' | 'source' | 'target'; full: boolean }
  );

export type SyncDecisionKind = SyncDecision['kind'];

/** Decisions after which this node drops the connection. */
export const DROPS_CONNECTION: ReadonlySet<SyncDecisionKind> = new Set(['split-brain', 'unrelated', 'refuse', 'pri-lost', 'dry-run']);

const primaries = (a: Role, b: Role): 0 | 1 | 2 => ((a === Role.Primary ? 1 : 0) + (b === Role.Primary ? 1 : 0)) as 0 | 1 | 2;

/** drbd_sync_handshake: what this node does with the connection, with DRBD's log lines. */
export function syncHandshake(input: SyncHandshakeInput): SyncDecision {
  const { self, peer, selfDisk, peerDisk, policy } = input;
  const log: string[] = ['drbd_sync_handshake:'];
  log.push(formatUuidDump('self', self, self.dirtyBits, 0));
  log.push(formatUuidDump('peer', peer, peer.dirtyBits, peer.flags));

  const cmp = uuidCompare(self, peer, { resolveConflicts: input.resolveConflicts, selfRole: input.selfRole, peerRole: input.peerRole });
  log.push(...cmp.log);
  log.push(`uuid_compare()=${cmp.hg} by rule ${cmp.rule}`);

  const handlers: HandlerName[] = [];
  let demoteSelf = false;
  let selfRole = input.selfRole;
  let hg = cmp.hg;
  let reason = `rule ${cmp.rule}: ${RULE_DESCRIPTIONS[cmp.rule] ?? ''}`;
  const base = (): DecisionBase => {
    const b: DecisionBase = { hg, uuidHg: cmp.hg, rule: cmp.rule, log, handlers, demoteSelf };
    if (cmp.fixedSelf) b.fixedSelf = cmp.fixedSelf;
    if (cmp.fixedPeer) b.fixedPeer = cmp.fixedPeer;
    return b;
  };

  if (hg === -1000) {
    log.push('Unrelated data, aborting!');
    return { ...base(), kind: 'unrelated', message: 'Unrelated data, aborting!' };
  }

  // An Inconsistent disk never wins against a better one, whatever the UUIDs say.
  if ((selfDisk === DiskState.Inconsistent && peerDisk > DiskState.Inconsistent) || (peerDisk === DiskState.Inconsistent && selfDisk > DiskState.Inconsistent)) {
    const full = hg === -100 || Math.abs(hg) === 2;
    hg = (selfDisk > DiskState.Inconsistent ? 1 : -1) * (full ? 2 : 1);
    log.push(`Becoming sync ${hg > 0 ? 'source' : 'target'} due to disk states.`);
    reason = `disk states (${DiskState[selfDisk]}/${DiskState[peerDisk]})`;
  }

  if (Math.abs(hg) === 100) handlers.push('initial-split-brain');

  if (hg === 100 || (hg === -100 && policy.alwaysAsbp)) {
    const pcount = primaries(selfRole, input.peerRole);
    const forced = hg === -100;
    const asb = recoverSplitBrain(pcount, policy, {
      self: { bitmapUuid: self.bitmap, changes: self.dirtyBits, role: selfRole },
      peer: { bitmapUuid: peer.bitmap, changes: peer.dirtyBits, role: input.peerRole },
      resolveConflicts: input.resolveConflicts,
      selfDemotable: input.selfDemotable ?? false,
    });
    log.push(...asb.log);
    handlers.push(...asb.handlers);
    if (asb.demoteSelf) {
      demoteSelf = true;
      selfRole = Role.Secondary;
    }
    hg = asb.hg;
    if (Math.abs(hg) < 100) {
      const used = pcount === 0 ? policy.afterSb0pri : pcount === 1 ? policy.afterSb1pri : policy.afterSb2pri;
      log.push(`Split-Brain detected, ${pcount} primaries, automatically solved. Sync from ${hg < 0 ? 'peer' : 'this'} node`);
      reason = `split brain, after-sb-${pcount}pri ${used}` + (pcount > 0 && (used === 'violently-as0p' || used === 'consensus' || used === 'call-pri-lost-after-sb') ? ` (after-sb-0pri ${policy.afterSb0pri})` : '');
      if (forced) {
        log.push('Doing a full sync, since UUIDs where ambiguous.');
        hg *= 2;
      }
    }
  }

  if (hg === -100) {
    const iDiscard = input.selfDiscardMyData || (self.flags & UUID_FLAG_DISCARD_MY_DATA) !== 0;
    const peerDiscards = input.peerDiscardMyData || (peer.flags & UUID_FLAG_DISCARD_MY_DATA) !== 0;
    if (iDiscard && !peerDiscards) hg = -1;
    if (!iDiscard && peerDiscards) hg = 1;
    if (Math.abs(hg) < 100) {
      log.push(`Split-Brain detected, manually solved. Sync from ${hg < 0 ? 'peer' : 'this'} node`);
      reason = `split brain, manually solved (--discard-my-data on ${hg < 0 ? 'this' : 'the peer'} node)`;
    }
  }

  if (hg === -100) {
    log.push('Split-Brain detected but unresolved, dropping connection!');
    handlers.push('split-brain');
    const message = 'Split-Brain detected but unresolved, dropping connection!' as const;
    if (handlers.includes('pri-lost-after-sb')) return { ...base(), kind: 'pri-lost', handler: 'pri-lost-after-sb', message };
    return { ...base(), kind: 'split-brain', resolved: false, message };
  }

  if (hg > 0 && selfDisk <= DiskState.Inconsistent) {
    const message = 'I shall become SyncSource, but I am inconsistent!';
    log.push(message);
    return { ...base(), kind: 'refuse', message };
  }

  if (hg < 0 && selfRole === Role.Primary && selfDisk >= DiskState.Consistent) {
    const rr: RrConflictPolicy = policy.rrConflict;
    if (rr === 'call-pri-lost' || rr === 'disconnect') {
      const message = 'I shall become SyncTarget, but I am primary!';
      if (rr === 'call-pri-lost') handlers.push('pri-lost');
      log.push(message);
      if (rr === 'call-pri-lost') return { ...base(), kind: 'pri-lost', handler: 'pri-lost', message };
      return { ...base(), kind: 'refuse', message };
    }
    // DRBD's message really lacks the space ("stable-data" "assumption").
    log.push('Becoming SyncTarget, violating the stable-dataassumption');
    reason += ', rr-conflict violently';
  }

  if (input.dryRun) {
    if (hg === 0) log.push('dry-run connect: No resync, would become Connected immediately.');
    else log.push(`dry-run connect: Would become ${hg > 0 ? 'SyncSource' : 'SyncTarget'}, doing a ${Math.abs(hg) >= 2 ? 'full' : 'bit-map based'} resync.`);
    return { ...base(), kind: 'dry-run', would: hg === 0 ? 'no-sync' : hg > 0 ? 'source' : 'target', full: Math.abs(hg) >= 2 };
  }

  if (Math.abs(hg) >= 2) log.push('Writing the whole bitmap, full sync required after drbd_sync_handshake.');

  if (hg === 0) {
    if (self.dirtyBits > 0) log.push(`No resync, but ${self.dirtyBits} bits in bitmap!`);
    return { ...base(), kind: 'no-sync' };
  }
  return { ...base(), kind: 'sync', direction: hg > 0 ? 'source' : 'target', full: Math.abs(hg) >= 2, reason };
}

// ---------------------------------------------------------------------------------
// Both ends of one connection

/**
 * The input the peer runs with, given mine: sides swapped, RESOLVE_CONFLICTS flipped,
 * discard flags swapped, discard-local/remote exchanged (DRBD refuses to connect
 * otherwise). Demotability and dry-run are per node: pass the peer's.
 */
export function mirrorHandshakeInput(input: SyncHandshakeInput, peerOptions: { selfDemotable?: boolean; dryRun?: boolean } = {}): SyncHandshakeInput {
  const conv = (p: AfterSbPolicy): AfterSbPolicy => peerViewOfPolicy(p);
  const mirrored: SyncHandshakeInput = {
    self: input.peer,
    peer: input.self,
    selfDisk: input.peerDisk,
    peerDisk: input.selfDisk,
    selfRole: input.peerRole,
    peerRole: input.selfRole,
    resolveConflicts: !input.resolveConflicts,
    policy: { ...input.policy, afterSb0pri: conv(input.policy.afterSb0pri), afterSb1pri: conv(input.policy.afterSb1pri), afterSb2pri: conv(input.policy.afterSb2pri) },
    selfDiscardMyData: input.peerDiscardMyData,
    peerDiscardMyData: input.selfDiscardMyData,
  };
  if (peerOptions.selfDemotable !== undefined) mirrored.selfDemotable = peerOptions.selfDemotable;
  if (peerOptions.dryRun !== undefined) mirrored.dryRun = peerOptions.dryRun;
  return mirrored;
}

export type PairVerdict =
  /** One SyncSource, one SyncTarget, same full/bitmap choice. */
  | 'complementary'
  /** One SyncSource, one SyncTarget, but only one of them sets the whole bitmap (harmless in DRBD: bitmaps are OR-ed when exchanged). */
  | 'complementary-full-mismatch'
  | 'both-no-sync'
  /** Both drop the connection. */
  | 'both-drop'
  /** One drops the connection (refusal, pri-lost, unresolved split brain); whatever the other decided never starts. */
  | 'one-drops'
  /** Both SyncSource, both SyncTarget, or sync against no-sync: the two ends disagree. */
  | 'conflict';

/** Judge the decisions of both ends of one connection. */
export function judgePair(a: SyncDecision, b: SyncDecision): PairVerdict {
  const aDrops = DROPS_CONNECTION.has(a.kind);
  const bDrops = DROPS_CONNECTION.has(b.kind);
  if (aDrops && bDrops) return 'both-drop';
  if (aDrops || bDrops) return 'one-drops';
  if (a.kind === 'no-sync' && b.kind === 'no-sync') return 'both-no-sync';
  if (a.kind === 'sync' && b.kind === 'sync' && a.direction !== b.direction) {
    return a.full === b.full ? 'complementary' : 'complementary-full-mismatch';
  }
  return 'conflict';
}

/** Run the handshake on both ends. */
export function handshakeBothEnds(input: SyncHandshakeInput, peerOptions: { selfDemotable?: boolean; dryRun?: boolean } = {}): { self: SyncDecision; peer: SyncDecision; verdict: PairVerdict } {
  const selfDecision = syncHandshake(input);
  const peerDecision = syncHandshake(mirrorHandshakeInput(input, peerOptions));
  return { self: selfDecision, peer: peerDecision, verdict: judgePair(selfDecision, peerDecision) };
}

/** Short text for a decision, used by scenario files and logs: `sync target bitmap`, `split-brain`, ... */
export function describeDecision(d: SyncDecision): string {
  switch (d.kind) {
    case 'sync':
      return `sync ${d.direction} ${d.full ? 'full' : 'bitmap'}`;
    case 'dry-run':
      return `dry-run ${d.would}${d.would === 'no-sync' ? '' : d.full ? ' full' : ' bitmap'}`;
    case 'pri-lost':
      return `pri-lost ${d.handler}`;
    case 'refuse':
      return `refuse "${d.message}"`;
    default:
      return d.kind;
  }
}
