// After-split-brain recovery policies (DRBD 8.4 `after-sb-0pri`, `after-sb-1pri`,
// `after-sb-2pri`), as pure functions.
//
// They run when the generation UUIDs say "split brain with a common parent"
// (uuid_compare = 100, rule 90) or, with `always-asbp`, "split brain, diverged long
// ago" (-100, rule 100). Each returns the sync direction seen from this node:
//    1  I become SyncSource (the peer's changes are thrown away)
//   -1  I become SyncTarget (my changes are thrown away)
// -100  no automatic decision: drop the connection
// together with DRBD's log lines. Follows drbd_asb_recover_0p/1p/2p of the 8.4
// kernel, including its fall-throughs and its "Configuration error." answers for a
// policy that does not belong to the slot it is used in.
//
// Demoting a Primary (call-pri-lost-after-sb) is not done here: the caller says
// whether it would succeed (`selfDemotable`), and the result says whether it must
// be done (`demoteSelf`) and which handler to run when it could not.

import { Role } from './states.js';

/** Every value of DRBD's `enum drbd_after_sb_p` that the three after-sb options can name. */
export type AfterSbPolicy =
  | 'disconnect'
  | 'discard-younger-primary'
  | 'discard-older-primary'
  | 'discard-zero-changes'
  | 'discard-least-changes'
  | 'discard-local'
  | 'discard-remote'
  | 'consensus'
  | 'discard-secondary'
  | 'call-pri-lost-after-sb'
  | 'violently-as0p';

/** What `after-sb-0pri` accepts (drbd-utils config_flags). */
export const AFTER_SB_0PRI_POLICIES = [
  'disconnect',
  'discard-younger-primary',
  'discard-older-primary',
  'discard-zero-changes',
  'discard-least-changes',
  'discard-local',
  'discard-remote',
] as const satisfies readonly AfterSbPolicy[];
/** What `after-sb-1pri` accepts. */
export const AFTER_SB_1PRI_POLICIES = [
  'disconnect',
  'consensus',
  'violently-as0p',
  'discard-secondary',
  'call-pri-lost-after-sb',
] as const satisfies readonly AfterSbPolicy[];
/** What `after-sb-2pri` accepts. */
export const AFTER_SB_2PRI_POLICIES = ['disconnect', 'violently-as0p', 'call-pri-lost-after-sb'] as const satisfies readonly AfterSbPolicy[];

export type AfterSb0PriPolicy = (typeof AFTER_SB_0PRI_POLICIES)[number];
export type AfterSb1PriPolicy = (typeof AFTER_SB_1PRI_POLICIES)[number];
export type AfterSb2PriPolicy = (typeof AFTER_SB_2PRI_POLICIES)[number];
export type AfterSbSlot = '0pri' | '1pri' | '2pri';

/** `rr-conflict` (8.4): what a Primary does when the UUIDs make it SyncTarget. */
export type RrConflictPolicy = 'disconnect' | 'violently' | 'call-pri-lost';

export interface AfterSbPolicies {
  afterSb0pri: AfterSbPolicy;
  afterSb1pri: AfterSbPolicy;
  afterSb2pri: AfterSbPolicy;
  /** Also apply the policies when the UUIDs only share history (uuid_compare = -100); forces a full sync. */
  alwaysAsbp: boolean;
  rrConflict: RrConflictPolicy;
}

/** DRBD's defaults: disconnect everywhere, always-asbp off. */
export const DEFAULT_AFTER_SB_POLICIES: AfterSbPolicies = Object.freeze({
  afterSb0pri: 'disconnect',
  afterSb1pri: 'disconnect',
  afterSb2pri: 'disconnect',
  alwaysAsbp: false,
  rrConflict: 'disconnect',
});

/** Sync direction from this node's point of view: 1 source, -1 target, -100 give up. */
export type AsbVerdict = 1 | -1 | -100;

export interface AsbSide {
  /** Bitmap UUID as stored, bit 0 included: it records the role at the moment of the split. */
  bitmapUuid: bigint;
  /** Out-of-sync blocks ("changes"): own bitmap weight, or the peer's P_UUIDS uuid[4]. */
  changes: number;
  role: Role;
}

export interface AsbContext {
  self: AsbSide;
  peer: AsbSide;
  /** RESOLVE_CONFLICTS: set on exactly one node of the connection; the tie-breaker. */
  resolveConflicts: boolean;
  /** Would giving up the Primary role succeed now (device not in use)? Only call-pri-lost-after-sb asks. */
  selfDemotable: boolean;
}

export interface AsbResult {
  hg: AsbVerdict;
  log: string[];
  /** The caller must demote this node to Secondary (call-pri-lost-after-sb chose this Primary as victim and demotion is possible). */
  demoteSelf: boolean;
  /** Handlers to run, in order (only `pri-lost-after-sb` comes from here). */
  handlers: 'pri-lost-after-sb'[];
}

const CONFIG_ERROR = 'Configuration error.';
const tieBreak = (ctx: AsbContext): AsbVerdict => (ctx.resolveConflicts ? -1 : 1);

/** drbd_asb_recover_0p: no node is Primary now (also the inner decision of the 1pri/2pri policies). */
export function recoverZeroPrimaries(policy: AfterSbPolicy, ctx: AsbContext): AsbResult {
  const log: string[] = [];
  const done = (hg: AsbVerdict): AsbResult => ({ hg, log, demoteSelf: false, handlers: [] });
  const self = ctx.self.bitmapUuid & 1n;
  const peer = ctx.peer.bitmapUuid & 1n;
  const chSelf = ctx.self.changes;
  const chPeer = ctx.peer.changes;

  const leastChanges = (): AsbResult => {
    if (chSelf < chPeer) return done(-1);
    if (chSelf > chPeer) return done(1);
    return done(tieBreak(ctx));
  };
  const zeroChanges = (fallThroughToLeast: boolean): AsbResult => {
    if (chPeer === 0 && chSelf === 0) return done(tieBreak(ctx));
    if (chPeer === 0) return done(1);
    if (chSelf === 0) return done(-1);
    return fallThroughToLeast ? leastChanges() : done(-100);
  };
  const olderPrimary = (): AsbResult => {
    if (self === 0n && peer === 1n) return done(1);
    if (self === 1n && peer === 0n) return done(-1);
    log.push('Discard younger/older primary did not find a decision', 'Using discard-least-changes instead');
    // DRBD falls into the discard-zero-changes code and from there into least-changes.
    return zeroChanges(true);
  };

  switch (policy) {
    case 'consensus':
    case 'discard-secondary':
    case 'call-pri-lost-after-sb':
    case 'violently-as0p':
      log.push(CONFIG_ERROR);
      return done(-100);
    case 'disconnect':
      return done(-100);
    case 'discard-younger-primary':
      // bit 0 of the bitmap UUID = "was Primary when the split happened": the node that
      // was Secondary then (and was promoted later, the younger Primary) loses.
      if (self === 0n && peer === 1n) return done(-1);
      if (self === 1n && peer === 0n) return done(1);
      return olderPrimary();
    case 'discard-older-primary':
      return olderPrimary();
    case 'discard-zero-changes':
      return zeroChanges(false);
    case 'discard-least-changes':
      return leastChanges();
    case 'discard-local':
      return done(-1);
    case 'discard-remote':
      return done(1);
  }
}

/** The Primary gives up its role if it can; otherwise the `pri-lost-after-sb` handler runs and no decision is made. */
function loserPrimaryGivesUp(inner: AsbResult, ctx: AsbContext): AsbResult {
  if (ctx.selfDemotable) {
    return { hg: inner.hg, log: [...inner.log, 'Successfully gave up primary role.'], demoteSelf: true, handlers: [] };
  }
  return { hg: -100, log: inner.log, demoteSelf: false, handlers: ['pri-lost-after-sb'] };
}

/** drbd_asb_recover_1p: exactly one node is Primary now. */
export function recoverOnePrimary(policy: AfterSbPolicy, policy0pri: AfterSbPolicy, ctx: AsbContext): AsbResult {
  const give = (hg: AsbVerdict, log: string[] = []): AsbResult => ({ hg, log, demoteSelf: false, handlers: [] });
  switch (policy) {
    case 'discard-younger-primary':
    case 'discard-older-primary':
    case 'discard-least-changes':
    case 'discard-local':
    case 'discard-remote':
    case 'discard-zero-changes':
      return give(-100, [CONFIG_ERROR]);
    case 'disconnect':
      return give(-100);
    case 'consensus': {
      // Use the 0pri answer only when it throws away the Secondary's data.
      const inner = recoverZeroPrimaries(policy0pri, ctx);
      const role = ctx.self.role;
      const agreed = (inner.hg === -1 && role === Role.Secondary) || (inner.hg === 1 && role === Role.Primary);
      return give(agreed ? inner.hg : -100, inner.log);
    }
    case 'violently-as0p':
      return recoverZeroPrimaries(policy0pri, ctx);
    case 'discard-secondary':
      return give(ctx.self.role === Role.Primary ? 1 : -1);
    case 'call-pri-lost-after-sb': {
      const inner = recoverZeroPrimaries(policy0pri, ctx);
      if (inner.hg === -1 && ctx.self.role === Role.Primary) return loserPrimaryGivesUp(inner, ctx);
      return inner;
    }
  }
}

/** drbd_asb_recover_2p: both nodes are Primary now. */
export function recoverTwoPrimaries(policy: AfterSbPolicy, policy0pri: AfterSbPolicy, ctx: AsbContext): AsbResult {
  switch (policy) {
    case 'discard-younger-primary':
    case 'discard-older-primary':
    case 'discard-least-changes':
    case 'discard-local':
    case 'discard-remote':
    case 'consensus':
    case 'discard-secondary':
    case 'discard-zero-changes':
      return { hg: -100, log: [CONFIG_ERROR], demoteSelf: false, handlers: [] };
    case 'violently-as0p':
      return recoverZeroPrimaries(policy0pri, ctx);
    case 'disconnect':
      return { hg: -100, log: [], demoteSelf: false, handlers: [] };
    case 'call-pri-lost-after-sb': {
      const inner = recoverZeroPrimaries(policy0pri, ctx);
      if (inner.hg === -1) return loserPrimaryGivesUp(inner, ctx);
      return inner;
    }
  }
}

/** Pick the policy function by the number of Primaries now (drbd_sync_handshake's pcount). */
export function recoverSplitBrain(primaries: 0 | 1 | 2, policies: Pick<AfterSbPolicies, 'afterSb0pri' | 'afterSb1pri' | 'afterSb2pri'>, ctx: AsbContext): AsbResult {
  if (primaries === 0) return recoverZeroPrimaries(policies.afterSb0pri, ctx);
  if (primaries === 1) return recoverOnePrimary(policies.afterSb1pri, policies.afterSb0pri, ctx);
  return recoverTwoPrimaries(policies.afterSb2pri, policies.afterSb0pri, ctx);
}

/**
 * The policy as the peer must have configured it (DRBD's convert_after_sb):
 * discard-local on one side is discard-remote on the other; everything else must be equal.
 */
export function peerViewOfPolicy(policy: AfterSbPolicy): AfterSbPolicy {
  if (policy === 'discard-remote') return 'discard-local';
  if (policy === 'discard-local') return 'discard-remote';
  return policy;
}

/**
 * Would DRBD accept these two nodes' after-sb settings on connect (receive_protocol)?
 * Returns the name of the first incompatible option, or null. Two nodes that both
 * asked for --discard-my-data are refused as well.
 */
export function incompatibleAfterSbSetting(
  mine: Pick<AfterSbPolicies, 'afterSb0pri' | 'afterSb1pri' | 'afterSb2pri'>,
  peers: Pick<AfterSbPolicies, 'afterSb0pri' | 'afterSb1pri' | 'afterSb2pri'>,
  discardMyData?: { self: boolean; peer: boolean },
): 'after-sb-0pri' | 'after-sb-1pri' | 'after-sb-2pri' | 'discard-my-data' | null {
  if (peerViewOfPolicy(peers.afterSb0pri) !== mine.afterSb0pri) return 'after-sb-0pri';
  if (peerViewOfPolicy(peers.afterSb1pri) !== mine.afterSb1pri) return 'after-sb-1pri';
  if (peerViewOfPolicy(peers.afterSb2pri) !== mine.afterSb2pri) return 'after-sb-2pri';
  if (discardMyData?.self && discardMyData.peer) return 'discard-my-data';
  return null;
}

const SLOT_POLICIES: Record<AfterSbSlot, readonly string[]> = {
  '0pri': AFTER_SB_0PRI_POLICIES,
  '1pri': AFTER_SB_1PRI_POLICIES,
  '2pri': AFTER_SB_2PRI_POLICIES,
};

export type ParsedAfterSbPolicy = { ok: true; policy: AfterSbPolicy } | { ok: false; message: string };

/**
 * Read an `after-sb-Npri` word as drbdadm does: `discard-node-NAME` becomes
 * discard-local on node NAME and discard-remote on the other node (0pri only).
 */
export function parseAfterSbPolicy(slot: AfterSbSlot, word: string, myNodeName: string): ParsedAfterSbPolicy {
  const allowed = SLOT_POLICIES[slot];
  if (word.startsWith('discard-node-')) {
    if (slot !== '0pri') return { ok: false, message: `after-sb-${slot}: '${word}' is only valid for after-sb-0pri` };
    const name = word.slice('discard-node-'.length);
    if (name === '') return { ok: false, message: `after-sb-${slot}: 'discard-node-' needs a node name` };
    return { ok: true, policy: discardNodePolicy(name, myNodeName) };
  }
  if (!allowed.includes(word)) {
    const expected = slot === '0pri' ? `${allowed.join(', ')}, discard-node-NAME` : allowed.join(', ');
    return { ok: false, message: `after-sb-${slot}: unknown value '${word}' (expected one of ${expected})` };
  }
  return { ok: true, policy: word as AfterSbPolicy };
}

/** drbdadm's mapping of `discard-node-NAME`, seen from node `myNodeName`. */
export function discardNodePolicy(victimNodeName: string, myNodeName: string): 'discard-local' | 'discard-remote' {
  return victimNodeName === myNodeName ? 'discard-local' : 'discard-remote';
}
