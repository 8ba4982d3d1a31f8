// after-sb-0pri / 1pri / 2pri as in drbd_asb_recover_0p/1p/2p, and the drbdadm mapping of discard-node-NAME.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Role } from '../../src/volume/states.js';
import {
  recoverZeroPrimaries,
  recoverOnePrimary,
  recoverTwoPrimaries,
  recoverSplitBrain,
  peerViewOfPolicy,
  incompatibleAfterSbSetting,
  parseAfterSbPolicy,
  discardNodePolicy,
  AFTER_SB_0PRI_POLICIES,
  AFTER_SB_1PRI_POLICIES,
  AFTER_SB_2PRI_POLICIES,
  type AfterSbPolicy,
  type AsbContext,
} from '../../src/volume/after-split-brain.js';

const ALL: AfterSbPolicy[] = [...new Set<AfterSbPolicy>([...AFTER_SB_0PRI_POLICIES, ...AFTER_SB_1PRI_POLICIES, ...AFTER_SB_2PRI_POLICIES, 'consensus', 'discard-secondary'])];

function ctx(o: { selfBm?: bigint; peerBm?: bigint; selfCh?: number; peerCh?: number; selfRole?: Role; peerRole?: Role; rc?: boolean; demotable?: boolean } = {}): AsbContext {
  return {
    self: { bitmapUuid: o.selfBm ?? 0x10n, changes: o.selfCh ?? 0, role: o.selfRole ?? Role.Secondary },
    peer: { bitmapUuid: o.peerBm ?? 0x10n, changes: o.peerCh ?? 0, role: o.peerRole ?? Role.Secondary },
    resolveConflicts: o.rc ?? false,
    selfDemotable: o.demotable ?? false,
  };
}

const mirror = (c: AsbContext, peerDemotable = c.selfDemotable): AsbContext => ({ self: c.peer, peer: c.self, resolveConflicts: !c.resolveConflicts, selfDemotable: peerDemotable });

describe('after-sb-0pri', () => {
  test('disconnect gives up', () => {
    assert.equal(recoverZeroPrimaries('disconnect', ctx()).hg, -100);
  });
  test('discard-younger-primary: the side whose bitmap UUID says "was Secondary at the split" loses', () => {
    assert.equal(recoverZeroPrimaries('discard-younger-primary', ctx({ selfBm: 0x10n, peerBm: 0x11n })).hg, -1);
    assert.equal(recoverZeroPrimaries('discard-younger-primary', ctx({ selfBm: 0x11n, peerBm: 0x10n })).hg, 1);
  });
  test('discard-older-primary: the opposite', () => {
    assert.equal(recoverZeroPrimaries('discard-older-primary', ctx({ selfBm: 0x10n, peerBm: 0x11n })).hg, 1);
    assert.equal(recoverZeroPrimaries('discard-older-primary', ctx({ selfBm: 0x11n, peerBm: 0x10n })).hg, -1);
  });
  test('younger/older without a decision fall back to zero changes, then least changes', () => {
    const r = recoverZeroPrimaries('discard-younger-primary', ctx({ selfCh: 3, peerCh: 0 }));
    assert.equal(r.hg, 1);
    assert.deepEqual(r.log, ['Discard younger/older primary did not find a decision', 'Using discard-least-changes instead']);
    assert.equal(recoverZeroPrimaries('discard-older-primary', ctx({ selfCh: 3, peerCh: 5 })).hg, -1, 'both changed: least changes');
    assert.equal(recoverZeroPrimaries('discard-older-primary', ctx({ selfCh: 5, peerCh: 5, rc: true })).hg, -1, 'tie: RESOLVE_CONFLICTS');
  });
  test('discard-zero-changes: the side without changes loses; both zero -> tie-break; both changed -> disconnect', () => {
    assert.equal(recoverZeroPrimaries('discard-zero-changes', ctx({ selfCh: 0, peerCh: 4 })).hg, -1);
    assert.equal(recoverZeroPrimaries('discard-zero-changes', ctx({ selfCh: 4, peerCh: 0 })).hg, 1);
    assert.equal(recoverZeroPrimaries('discard-zero-changes', ctx({ rc: true })).hg, -1);
    assert.equal(recoverZeroPrimaries('discard-zero-changes', ctx({ rc: false })).hg, 1);
    assert.equal(recoverZeroPrimaries('discard-zero-changes', ctx({ selfCh: 1, peerCh: 4 })).hg, -100);
  });
  test('discard-least-changes: fewer changes loses, tie -> RESOLVE_CONFLICTS', () => {
    assert.equal(recoverZeroPrimaries('discard-least-changes', ctx({ selfCh: 1, peerCh: 4 })).hg, -1);
    assert.equal(recoverZeroPrimaries('discard-least-changes', ctx({ selfCh: 9, peerCh: 4 })).hg, 1);
    assert.equal(recoverZeroPrimaries('discard-least-changes', ctx({ selfCh: 4, peerCh: 4, rc: true })).hg, -1);
  });
  test('discard-local / discard-remote', () => {
    assert.equal(recoverZeroPrimaries('discard-local', ctx()).hg, -1);
    assert.equal(recoverZeroPrimaries('discard-remote', ctx()).hg, 1);
  });
  test('1pri/2pri-only policies here are a configuration error', () => {
    for (const p of ['consensus', 'discard-secondary', 'call-pri-lost-after-sb', 'violently-as0p'] as const) {
      assert.deepEqual(recoverZeroPrimaries(p, ctx()), { hg: -100, log: ['Configuration error.'], demoteSelf: false, handlers: [] });
    }
  });
});

describe('after-sb-1pri', () => {
  const pri = { selfRole: Role.Primary };
  test('disconnect', () => assert.equal(recoverOnePrimary('disconnect', 'discard-remote', ctx(pri)).hg, -100));
  test('consensus: the 0pri answer counts only if it discards the Secondary', () => {
    assert.equal(recoverOnePrimary('consensus', 'discard-remote', ctx(pri)).hg, 1);
    assert.equal(recoverOnePrimary('consensus', 'discard-local', ctx(pri)).hg, -100);
    assert.equal(recoverOnePrimary('consensus', 'discard-local', ctx()).hg, -1);
    assert.equal(recoverOnePrimary('consensus', 'discard-remote', ctx()).hg, -100);
  });
  test('violently-as0p: the 0pri answer, whoever loses', () => {
    assert.equal(recoverOnePrimary('violently-as0p', 'discard-local', ctx(pri)).hg, -1);
  });
  test('discard-secondary: the Primary wins', () => {
    assert.equal(recoverOnePrimary('discard-secondary', 'disconnect', ctx(pri)).hg, 1);
    assert.equal(recoverOnePrimary('discard-secondary', 'disconnect', ctx()).hg, -1);
  });
  test('call-pri-lost-after-sb: a losing Primary demotes, or runs pri-lost-after-sb', () => {
    const ok = recoverOnePrimary('call-pri-lost-after-sb', 'discard-local', ctx({ ...pri, demotable: true }));
    assert.deepEqual(ok, { hg: -1, log: ['Successfully gave up primary role.'], demoteSelf: true, handlers: [] });
    const stuck = recoverOnePrimary('call-pri-lost-after-sb', 'discard-local', ctx(pri));
    assert.deepEqual(stuck, { hg: -100, log: [], demoteSelf: false, handlers: ['pri-lost-after-sb'] });
    assert.equal(recoverOnePrimary('call-pri-lost-after-sb', 'discard-local', ctx()).hg, -1, 'a losing Secondary just syncs');
  });
  test('0pri-only policies are a configuration error', () => {
    for (const p of AFTER_SB_0PRI_POLICIES.filter((x) => x !== 'disconnect')) {
      assert.deepEqual(recoverOnePrimary(p, 'discard-local', ctx(pri)).log, ['Configuration error.']);
    }
  });
});

describe('after-sb-2pri', () => {
  const both = { selfRole: Role.Primary, peerRole: Role.Primary };
  test('disconnect / violently-as0p / call-pri-lost-after-sb', () => {
    assert.equal(recoverTwoPrimaries('disconnect', 'discard-local', ctx(both)).hg, -100);
    assert.equal(recoverTwoPrimaries('violently-as0p', 'discard-local', ctx(both)).hg, -1);
    assert.equal(recoverTwoPrimaries('call-pri-lost-after-sb', 'discard-remote', ctx(both)).hg, 1);
    assert.equal(recoverTwoPrimaries('call-pri-lost-after-sb', 'discard-local', ctx({ ...both, demotable: true })).demoteSelf, true);
    assert.deepEqual(recoverTwoPrimaries('call-pri-lost-after-sb', 'discard-local', ctx(both)).handlers, ['pri-lost-after-sb']);
  });
  test('everything else is a configuration error', () => {
    for (const p of ALL.filter((x) => !(AFTER_SB_2PRI_POLICIES as readonly string[]).includes(x))) {
      assert.deepEqual(recoverTwoPrimaries(p, 'discard-local', ctx(both)).log, ['Configuration error.'], p);
    }
  });
});

test('property: with compatible settings both ends pick opposite sides, or both give up', () => {
  const role = fc.constantFrom(Role.Primary, Role.Secondary);
  fc.assert(
    fc.property(
      fc.constantFrom(...ALL),
      fc.constantFrom(...ALL),
      fc.constantFrom(...ALL),
      fc.bigInt({ min: 0n, max: 3n }),
      fc.bigInt({ min: 0n, max: 3n }),
      fc.nat(3),
      fc.nat(3),
      role,
      role,
      fc.boolean(),
      (p0, p1, p2, sBm, pBm, sCh, pCh, sRole, pRole, rc) => {
        const c = ctx({ selfBm: sBm, peerBm: pBm, selfCh: sCh, peerCh: pCh, selfRole: sRole, peerRole: pRole, rc, demotable: true });
        const n = ((sRole === Role.Primary ? 1 : 0) + (pRole === Role.Primary ? 1 : 0)) as 0 | 1 | 2;
        const mine = recoverSplitBrain(n, { afterSb0pri: p0, afterSb1pri: p1, afterSb2pri: p2 }, c);
        const theirs = recoverSplitBrain(n, { afterSb0pri: peerViewOfPolicy(p0), afterSb1pri: peerViewOfPolicy(p1), afterSb2pri: peerViewOfPolicy(p2) }, mirror(c));
        if (mine.hg === -100 || theirs.hg === -100) assert.equal(mine.hg, theirs.hg, `${p0}/${p1}/${p2}: one side gave up alone`);
        else assert.equal(mine.hg, -theirs.hg as number, `${p0}/${p1}/${p2}: same direction on both ends`);
      },
    ),
    { numRuns: 3000 },
  );
});

test('DRBD asymmetry: call-pri-lost-after-sb when the losing Primary cannot demote', () => {
  // The Secondary (winner) decides "SyncSource"; the stuck Primary runs pri-lost-after-sb and drops the connection.
  const c = ctx({ selfRole: Role.Primary, selfCh: 0, peerCh: 3, demotable: false });
  const primary = recoverOnePrimary('call-pri-lost-after-sb', 'discard-least-changes', c);
  const secondary = recoverOnePrimary('call-pri-lost-after-sb', 'discard-least-changes', mirror(c));
  assert.equal(primary.hg, -100);
  assert.equal(secondary.hg, 1);
});

test('peer view and compatibility of settings (receive_protocol)', () => {
  assert.equal(peerViewOfPolicy('discard-local'), 'discard-remote');
  assert.equal(peerViewOfPolicy('discard-remote'), 'discard-local');
  assert.equal(peerViewOfPolicy('consensus'), 'consensus');
  const s = { afterSb0pri: 'discard-local', afterSb1pri: 'consensus', afterSb2pri: 'disconnect' } as const;
  assert.equal(incompatibleAfterSbSetting(s, { ...s, afterSb0pri: 'discard-remote' }), null);
  assert.equal(incompatibleAfterSbSetting(s, s), 'after-sb-0pri');
  assert.equal(incompatibleAfterSbSetting(s, { ...s, afterSb0pri: 'discard-remote', afterSb1pri: 'discard-secondary' }), 'after-sb-1pri');
  assert.equal(incompatibleAfterSbSetting(s, { ...s, afterSb0pri: 'discard-remote' }, { self: true, peer: true }), 'discard-my-data');
});

test('discard-node-NAME maps to discard-local on NAME and discard-remote elsewhere', () => {
  assert.equal(discardNodePolicy('alice', 'alice'), 'discard-local');
  assert.equal(discardNodePolicy('alice', 'bob'), 'discard-remote');
  assert.deepEqual(parseAfterSbPolicy('0pri', 'discard-node-alice', 'alice'), { ok: true, policy: 'discard-local' });
  assert.deepEqual(parseAfterSbPolicy('0pri', 'discard-node-alice', 'bob'), { ok: true, policy: 'discard-remote' });
  assert.deepEqual(parseAfterSbPolicy('1pri', 'discard-secondary', 'bob'), { ok: true, policy: 'discard-secondary' });
  assert.equal(parseAfterSbPolicy('1pri', 'discard-node-alice', 'bob').ok, false);
  assert.equal(parseAfterSbPolicy('2pri', 'consensus', 'bob').ok, false);
  const bad = parseAfterSbPolicy('0pri', 'discard-everything', 'bob');
  assert.ok(!bad.ok && bad.message.includes("unknown value 'discard-everything'"));
});
