// drbd_uuid_compare rule by rule, and the drbd_sync_handshake paths around it.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Role, DiskState } from '../../src/volume/states.js';
import { UUID_JUST_CREATED, UUID_NEW_BM_OFFSET } from '../../src/volume/uuids.js';
import {
  uuidCompare,
  syncHandshake,
  handshakeBothEnds,
  describeDecision,
  UUID_FLAG_CRASHED_PRIMARY,
  UUID_FLAG_DISCARD_MY_DATA,
  type UuidSnapshot,
  type SyncHandshakeInput,
  type SyncDecision,
} from '../../src/volume/resync-decision.js';
import { DEFAULT_AFTER_SB_POLICIES, type AfterSbPolicies } from '../../src/volume/after-split-brain.js';
import { handshakeInput } from '../helpers/handshake.js';

// Readable UUIDs; none is another plus UUID_NEW_BM_OFFSET by accident.
const A = 0xaaaa_0000_0000_a000n;
const B = 0xbbbb_0000_0000_b000n;
const C = 0xcccc_0000_0000_c000n;
const D = 0xdddd_0000_0000_d000n;
const E = 0xeeee_0000_0000_e000n;
const F = 0xffff_0000_0000_f000n;
const H = 0x1234_0000_0000_1000n;

function snap(current: bigint, bitmap = 0n, h0 = 0n, h1 = 0n, extra: { bits?: number; flags?: number } = {}): UuidSnapshot {
  return { current, bitmap, history: [h0, h1], dirtyBits: extra.bits ?? 0, flags: extra.flags ?? 0 };
}

const ctx = { resolveConflicts: false, selfRole: Role.Secondary, peerRole: Role.Secondary };

const input = handshakeInput;

/** Decide on both ends; assert they agree; return this end's decision. */
function both(i: SyncHandshakeInput, allowed: string[] = ['complementary', 'both-no-sync', 'both-drop']): SyncDecision {
  const r = handshakeBothEnds(i);
  assert.ok(allowed.includes(r.verdict), `ends disagree: ${describeDecision(r.self)} vs ${describeDecision(r.peer)} (${r.verdict})`);
  return r.self;
}

function assertSync(d: SyncDecision, direction: 'source' | 'target', full: boolean): void {
  assert.equal(d.kind, 'sync', `expected sync, got ${describeDecision(d)}\n${d.log.join('\n')}`);
  if (d.kind !== 'sync') return;
  assert.equal(d.direction, direction);
  assert.equal(d.full, full);
}

describe('uuid_compare rules', () => {
  test('rule 10: both just created -> no sync', () => {
    const r = uuidCompare(snap(UUID_JUST_CREATED), snap(UUID_JUST_CREATED), ctx);
    assert.deepEqual([r.hg, r.rule], [0, 10]);
    assert.equal(both(input(snap(UUID_JUST_CREATED), snap(UUID_JUST_CREATED))).kind, 'no-sync');
  });

  test('rule 20: I am just created, peer has data -> target, full', () => {
    const r = uuidCompare(snap(UUID_JUST_CREATED), snap(A, UUID_JUST_CREATED), ctx);
    assert.deepEqual([r.hg, r.rule], [-2, 20]);
    assertSync(both(input(snap(UUID_JUST_CREATED), snap(A, UUID_JUST_CREATED))), 'target', true);
    // A zero current UUID counts as "just created" too; bit 0 (role) is ignored.
    assert.deepEqual(uuidCompare(snap(0n), snap(A | 1n), ctx).rule, 20);
    assert.deepEqual(uuidCompare(snap(UUID_JUST_CREATED | 1n), snap(A), ctx).rule, 20);
  });

  test('rule 30: peer is just created -> source, full', () => {
    const r = uuidCompare(snap(A, UUID_JUST_CREATED), snap(UUID_JUST_CREATED), ctx);
    assert.deepEqual([r.hg, r.rule], [2, 30]);
    assertSync(both(input(snap(A, UUID_JUST_CREATED), snap(UUID_JUST_CREATED))), 'source', true);
  });

  test('rule 34: I was SyncSource and missed "resync finished" -> source, bitmap, my UUIDs corrected', () => {
    // Source before resync: C:B:H:0. Start: bitmap := B+off, B into history.
    const bPlus = B + UUID_NEW_BM_OFFSET;
    const self = snap(C, bPlus, B, H);
    const peer = snap(C, 0n, bPlus, B); // target finished and rotated
    const r = uuidCompare(self, peer, ctx);
    assert.deepEqual([r.hg, r.rule], [1, 34]);
    assert.deepEqual(r.fixedSelf, { current: C, bitmap: 0n, history: [bPlus, B] });
    assert.equal(r.log[0], 'was SyncSource, missed the resync finished event, corrected myself:');
    assertSync(both(input(self, peer)), 'source', false);
  });

  test('rule 35: peer was SyncSource and missed "resync finished" -> target, bitmap, peer UUIDs corrected', () => {
    const bPlus = B + UUID_NEW_BM_OFFSET;
    const r = uuidCompare(snap(C, 0n, bPlus, B), snap(C, bPlus, B, H), ctx);
    assert.deepEqual([r.hg, r.rule], [-1, 35]);
    assert.deepEqual(r.fixedPeer, { current: C, bitmap: 0n, history: [bPlus, B] });
    assertSync(both(input(snap(C, 0n, bPlus, B), snap(C, bPlus, B, H))), 'target', false);
  });

  test('rule 36: I was SyncSource, peer failed to write the sync UUID -> source, bitmap', () => {
    const r = uuidCompare(snap(C, D, B, H), snap(C, 0n, E, F), ctx);
    assert.deepEqual([r.hg, r.rule], [1, 36]);
    assert.equal(r.fixedSelf, undefined);
    assert.deepEqual(r.log, ['was SyncSource (peer failed to write sync_uuid)']);
  });

  test('rule 37: peer was SyncSource, I failed to write the sync UUID -> target, bitmap', () => {
    const r = uuidCompare(snap(C, 0n, E, F), snap(C, D, B, H), ctx);
    assert.deepEqual([r.hg, r.rule], [-1, 37]);
    assert.deepEqual(r.log, ['was SyncTarget (failed to write sync_uuid)']);
  });

  test('rule 40: same generation, no crash -> no sync (link hiccup)', () => {
    const r = uuidCompare(snap(A | 1n, 0n, B), snap(A, 0n, B), ctx);
    assert.deepEqual([r.hg, r.rule], [0, 40]);
    assert.equal(both(input(snap(A, 0n, B), snap(A, 0n, B))).kind, 'no-sync');
  });

  test('rule 40: same generation, I crashed as Primary -> source, bitmap', () => {
    const self = snap(A, 0n, B, 0n, { flags: UUID_FLAG_CRASHED_PRIMARY, bits: 12 });
    const r = uuidCompare(self, snap(A, 0n, B), ctx);
    assert.deepEqual([r.hg, r.rule], [1, 40]);
    assertSync(both(input(self, snap(A, 0n, B))), 'source', false);
  });

  test('rule 40: same generation, peer crashed as Primary -> target, bitmap', () => {
    const r = uuidCompare(snap(A, 0n, B), snap(A, 0n, B, 0n, { flags: UUID_FLAG_CRASHED_PRIMARY }), ctx);
    assert.deepEqual([r.hg, r.rule], [-1, 40]);
  });

  test('rule 40: both crashed as Primary -> RESOLVE_CONFLICTS decides', () => {
    const s = snap(A, 0n, B, 0n, { flags: UUID_FLAG_CRASHED_PRIMARY });
    assert.equal(uuidCompare(s, s, { ...ctx, resolveConflicts: true }).hg, -1);
    assert.equal(uuidCompare(s, s, { ...ctx, resolveConflicts: false }).hg, 1);
    assertSync(both(input(s, s, { resolveConflicts: true })), 'target', false);
  });

  test('rule 41: same generation, crash flag, a Primary present now -> the Primary is source', () => {
    const crashed = snap(A, 0n, B, 0n, { flags: UUID_FLAG_CRASHED_PRIMARY });
    const r = uuidCompare(snap(A, 0n, B), crashed, { ...ctx, selfRole: Role.Primary });
    assert.deepEqual([r.hg, r.rule], [1, 41]);
    const r2 = uuidCompare(snap(A, 0n, B), crashed, { ...ctx, peerRole: Role.Primary });
    assert.deepEqual([r2.hg, r2.rule], [-1, 41]);
  });

  test('rule 41: same generation, crash flag, both Primary -> split brain, unresolvable', () => {
    const crashed = snap(A, 0n, B, 0n, { flags: UUID_FLAG_CRASHED_PRIMARY });
    const r = uuidCompare(crashed, snap(A, 0n, B), { ...ctx, selfRole: Role.Primary, peerRole: Role.Primary });
    assert.deepEqual([r.hg, r.rule], [-100, 41]);
    const d = both(input(crashed, snap(A, 0n, B), { selfRole: Role.Primary, peerRole: Role.Primary }));
    assert.equal(d.kind, 'split-brain');
    assert.ok(d.log.includes('Equivalent unrotated UUIDs, but both are primary. Can not resolve this.'));
  });

  test('rule 50: peer is ahead by one generation -> target, bitmap', () => {
    // Peer was Primary, lost me, made a new current UUID; my current is its bitmap UUID.
    const r = uuidCompare(snap(A, 0n, B), snap(C | 1n, A | 1n, B), ctx);
    assert.deepEqual([r.hg, r.rule], [-1, 50]);
    const d = both(input(snap(A, 0n, B), snap(C | 1n, A | 1n, B, 0n, { bits: 7 })));
    assertSync(d, 'target', false);
    assert.ok(d.log.includes('uuid_compare()=-1 by rule 50'));
  });

  test('rule 51: peer is ahead, its last P_SYNC_UUID was lost -> target, bitmap, peer UUIDs corrected', () => {
    // Peer started a resync as source (bitmap B -> B+off, B into history); the sync UUID never reached me.
    const peer = snap(C, B + UUID_NEW_BM_OFFSET, B, H);
    const r = uuidCompare(snap(B), peer, ctx);
    assert.deepEqual([r.hg, r.rule], [-1, 51]);
    assert.deepEqual(r.fixedPeer, { current: C, bitmap: B, history: [H, H] });
    assert.equal(r.log[0], 'Lost last syncUUID packet, corrected:');
    assertSync(both(input(snap(B), peer)), 'target', false);
  });

  test('rule 60: peer is ahead by several generations -> target, full', () => {
    const r = uuidCompare(snap(H), snap(C, B, H), ctx);
    assert.deepEqual([r.hg, r.rule], [-2, 60]);
    const r2 = uuidCompare(snap(H), snap(C, B, D, H), ctx);
    assert.deepEqual([r2.hg, r2.rule], [-2, 60]);
    assertSync(both(input(snap(H), snap(C, B, D, H))), 'target', true);
  });

  test('rule 70: I am ahead by one generation -> source, bitmap', () => {
    const r = uuidCompare(snap(C | 1n, A | 1n, B), snap(A, 0n, B), ctx);
    assert.deepEqual([r.hg, r.rule], [1, 70]);
    assertSync(both(input(snap(C | 1n, A | 1n, B), snap(A, 0n, B))), 'source', false);
  });

  test('rule 71: I am ahead, my last P_SYNC_UUID was lost -> source, bitmap, my UUIDs corrected', () => {
    const self = snap(C, B + UUID_NEW_BM_OFFSET, B, H);
    const r = uuidCompare(self, snap(B), ctx);
    assert.deepEqual([r.hg, r.rule], [1, 71]);
    assert.deepEqual(r.fixedSelf, { current: C, bitmap: B, history: [H, H] });
    assert.equal(r.log[0], 'Last syncUUID did not get through, corrected:');
    assertSync(both(input(self, snap(B))), 'source', false);
  });

  test('rule 80: I am ahead by several generations -> source, full', () => {
    const r = uuidCompare(snap(C, B, D, H), snap(H), ctx);
    assert.deepEqual([r.hg, r.rule], [2, 80]);
    assertSync(both(input(snap(C, B, D, H), snap(H))), 'source', true);
  });

  test('rule 90: both changed since a common parent -> split brain (100), unresolved under disconnect', () => {
    const self = snap(C, A, B);
    const peer = snap(D, A | 1n, B);
    const r = uuidCompare(self, peer, ctx);
    assert.deepEqual([r.hg, r.rule], [100, 90]);
    const d = both(input(self, peer));
    assert.equal(d.kind, 'split-brain');
    assert.deepEqual(d.handlers, ['initial-split-brain', 'split-brain']);
    assert.equal(d.log.at(-1), 'Split-Brain detected but unresolved, dropping connection!');
  });

  test('rule 100: histories meet but bitmaps differ -> split brain (-100)', () => {
    const r = uuidCompare(snap(C, D, E, H), snap(A, B, H, F), ctx);
    assert.deepEqual([r.hg, r.rule], [-100, 100]);
    const d = both(input(snap(C, D, E, H), snap(A, B, H, F), { policy: { afterSb0pri: 'discard-zero-changes' } }));
    assert.equal(d.kind, 'split-brain', 'without always-asbp the policies are not consulted');
  });

  test('unrelated data -> -1000, both ends abort', () => {
    const r = uuidCompare(snap(A, B, C, D), snap(E, F, H, 0x77n << 40n), ctx);
    assert.deepEqual([r.hg, r.rule], [-1000, 100]);
    const d = both(input(snap(A, B, C, D), snap(E, F, H, 0x77n << 40n)));
    assert.equal(d.kind, 'unrelated');
    assert.deepEqual(d.log.slice(-2), ['uuid_compare()=-1000 by rule 100', 'Unrelated data, aborting!']);
  });

  test('DRBD quirk kept: zero history slots on both sides match in rule 100', () => {
    const r = uuidCompare(snap(A, B), snap(C, D), ctx);
    assert.deepEqual([r.hg, r.rule], [-100, 100]);
  });

  test('comparisons ignore bit 0 everywhere', () => {
    const r = uuidCompare(snap(A | 1n), snap(C, A | 1n, B | 1n), ctx);
    assert.deepEqual([r.hg, r.rule], [-1, 50]);
    const r2 = uuidCompare(snap(C, A | 1n), snap(D, A), ctx);
    assert.deepEqual([r2.hg, r2.rule], [100, 90]);
  });
});

describe('drbd_sync_handshake paths', () => {
  test('log starts like the kernel: handshake line, self and peer dumps, uuid_compare line', () => {
    const d = syncHandshake(input(snap(A, 0n, B, 0n, { bits: 3 }), snap(C | 1n, A, B, 0n, { bits: 5, flags: 2 })));
    assert.deepEqual(d.log.slice(0, 4), [
      'drbd_sync_handshake:',
      'self AAAA00000000A000:0000000000000000:BBBB00000000B000:0000000000000000 bits:3 flags:0',
      'peer CCCC00000000C001:AAAA00000000A000:BBBB00000000B000:0000000000000000 bits:5 flags:2',
      'uuid_compare()=-1 by rule 50',
    ]);
  });

  test('disk states override the UUIDs: Inconsistent me, UpToDate peer -> target', () => {
    const d = both(input(snap(A, 0n, B), snap(A, 0n, B), { selfDisk: DiskState.Inconsistent }));
    assertSync(d, 'target', false);
    assert.ok(d.log.includes('Becoming sync target due to disk states.'));
    const s = both(input(snap(A, 0n, B), snap(A, 0n, B), { peerDisk: DiskState.Inconsistent }));
    assertSync(s, 'source', false);
    assert.ok(s.log.includes('Becoming sync source due to disk states.'));
  });

  test('disk-state override keeps "full" from rule 60 and from a -100 split brain', () => {
    assertSync(both(input(snap(H), snap(C, B, H), { peerDisk: DiskState.Inconsistent })), 'source', true);
    const d = both(input(snap(C, D, E, H), snap(A, B, H, F), { selfDisk: DiskState.Inconsistent }));
    assertSync(d, 'target', true);
    assert.ok(!d.handlers.includes('initial-split-brain'));
  });

  test('split brain auto-resolved: discard-zero-changes, 0 primaries', () => {
    const self = snap(C, A, B, 0n, { bits: 0 });
    const peer = snap(D, A, B, 0n, { bits: 42 });
    const d = both(input(self, peer, { policy: { afterSb0pri: 'discard-zero-changes' } }));
    assertSync(d, 'target', false);
    assert.ok(d.log.includes('Split-Brain detected, 0 primaries, automatically solved. Sync from peer node'));
    assert.deepEqual(d.handlers, ['initial-split-brain']);
  });

  test('always-asbp: policies also resolve a rule-100 split brain, with a full sync', () => {
    const self = snap(C, D, E, H, { bits: 9 });
    const peer = snap(A, B, H, F, { bits: 0 });
    const d = both(input(self, peer, { policy: { afterSb0pri: 'discard-zero-changes', alwaysAsbp: true } }));
    assertSync(d, 'source', true);
    assert.ok(d.log.includes('Doing a full sync, since UUIDs where ambiguous.'));
  });

  test('split brain manually solved: connect --discard-my-data on this node -> target', () => {
    const d = both(input(snap(C, A, B), snap(D, A, B), { selfDiscardMyData: true }));
    assertSync(d, 'target', false);
    assert.ok(d.log.includes('Split-Brain detected, manually solved. Sync from peer node'));
  });

  test('split brain manually solved: the peer\'s discard flag arrives in P_UUIDS flags -> source', () => {
    const d = both(input(snap(C, A, B), snap(D, A, B, 0n, { flags: UUID_FLAG_DISCARD_MY_DATA })));
    assertSync(d, 'source', false);
    assert.ok(d.log.includes('Split-Brain detected, manually solved. Sync from this node'));
  });

  test('split brain with --discard-my-data on both nodes stays unresolved', () => {
    const d = both(input(snap(C, A, B), snap(D, A, B), { selfDiscardMyData: true, peerDiscardMyData: true }));
    assert.equal(d.kind, 'split-brain');
  });

  test('I shall become SyncSource, but I am inconsistent!', () => {
    const d = syncHandshake(input(snap(C, A, B), snap(A, 0n, B), { selfDisk: DiskState.Inconsistent, peerDisk: DiskState.Inconsistent }));
    assert.equal(d.kind, 'refuse');
    assert.equal(d.kind === 'refuse' && d.message, 'I shall become SyncSource, but I am inconsistent!');
    assert.equal(handshakeBothEnds(input(snap(C, A, B), snap(A, 0n, B), { selfDisk: DiskState.Inconsistent, peerDisk: DiskState.Inconsistent })).verdict, 'one-drops');
  });

  test('rr-conflict disconnect: I shall become SyncTarget, but I am primary!', () => {
    const i = input(snap(A, 0n, B), snap(C, A, B), { selfRole: Role.Primary });
    const d = syncHandshake(i);
    assert.equal(d.kind, 'refuse');
    assert.equal(d.kind === 'refuse' && d.message, 'I shall become SyncTarget, but I am primary!');
  });

  test('rr-conflict call-pri-lost: runs pri-lost, then drops', () => {
    const d = syncHandshake(input(snap(A, 0n, B), snap(C, A, B), { selfRole: Role.Primary, policy: { rrConflict: 'call-pri-lost' } }));
    assert.equal(d.kind, 'pri-lost');
    assert.deepEqual(d.handlers, ['pri-lost']);
  });

  test('rr-conflict violently: becomes SyncTarget while Primary', () => {
    const d = syncHandshake(input(snap(A, 0n, B), snap(C, A, B), { selfRole: Role.Primary, policy: { rrConflict: 'violently' } }));
    assertSync(d, 'target', false);
    assert.ok(d.log.includes('Becoming SyncTarget, violating the stable-dataassumption'));
  });

  test('rr-conflict does not apply to an Inconsistent Primary', () => {
    const d = syncHandshake(input(snap(A, 0n, B), snap(C, A, B), { selfRole: Role.Primary, selfDisk: DiskState.Inconsistent }));
    assertSync(d, 'target', false);
  });

  test('after-sb-1pri call-pri-lost-after-sb: the losing Primary demotes if it can', () => {
    const self = snap(C | 1n, A | 1n, B, 0n, { bits: 5 });
    const peer = snap(D, A | 1n, B, 0n, { bits: 0 });
    const policy = { afterSb0pri: 'discard-least-changes', afterSb1pri: 'call-pri-lost-after-sb' } as const;
    // 0pri says: peer has fewer changes -> peer is discarded -> I (Primary) win: no demotion.
    assertSync(both(input(self, peer, { selfRole: Role.Primary, policy })), 'source', false);
    // Flip the changes: I (Primary) lose.
    const loser = { ...self, dirtyBits: 0 };
    const winner = { ...peer, dirtyBits: 5 };
    const ok = syncHandshake(input(loser, winner, { selfRole: Role.Primary, policy, selfDemotable: true }));
    assertSync(ok, 'target', false);
    assert.equal(ok.demoteSelf, true);
    assert.ok(ok.log.includes('Successfully gave up primary role.'));
    const stuck = syncHandshake(input(loser, winner, { selfRole: Role.Primary, policy, selfDemotable: false }));
    assert.equal(stuck.kind, 'pri-lost');
    assert.deepEqual(stuck.handlers, ['initial-split-brain', 'pri-lost-after-sb', 'split-brain']);
  });

  test('dry-run connect decides and drops', () => {
    const d = syncHandshake(input(snap(A, 0n, B), snap(C, A, B), { dryRun: true }));
    assert.equal(describeDecision(d), 'dry-run target bitmap');
    assert.equal(d.log.at(-1), 'dry-run connect: Would become SyncTarget, doing a bit-map based resync.');
  });

  test('no resync, but bits in the bitmap are reported', () => {
    const d = syncHandshake(input(snap(A, 0n, B, 0n, { bits: 4 }), snap(A, 0n, B)));
    assert.equal(d.kind, 'no-sync');
    assert.equal(d.log.at(-1), 'No resync, but 4 bits in bitmap!');
  });

  test('full sync logs the whole-bitmap line', () => {
    const d = syncHandshake(input(snap(H), snap(C, B, H)));
    assert.ok(d.log.includes('Writing the whole bitmap, full sync required after drbd_sync_handshake.'));
  });
});
