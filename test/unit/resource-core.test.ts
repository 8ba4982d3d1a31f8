import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MetaFlag, ResourceCore, UUID_JUST_CREATED, diskStateOnAttach } from '../../src/volume/resource-core.js';
import { DiskState, Role, ConnectionState } from '../../src/volume/states.js';
import { StateChangeResult as SS, formatStateChangeFailure } from '../../src/volume/state-results.js';
import { checkStateChange, isValidState } from '../../src/volume/state-rules.js';

const policy = { hasNetConfig: false, allowTwoPrimaries: false, fencing: 'dont-care' as const, verifyAlg: '' };
const fresh = { flags: 0, currentUuid: UUID_JUST_CREATED, bitmapUuid: 0n, historyUuids: [0n, 0n] as [bigint, bigint] };

function attached(flags = 0): ResourceCore {
  const core = new ResourceCore('r0', policy);
  core.step({ type: 'attach', volume: 0, persistent: { ...fresh, flags } });
  return core;
}

test('fresh metadata attaches Inconsistent and Secondary', () => {
  const core = attached();
  assert.equal(core.currentRole, Role.Secondary);
  assert.equal(core.volumeViews()[0]!.disk, DiskState.Inconsistent);
});

test('promotion of Inconsistent data is refused with (-2) and changes nothing', () => {
  const core = attached();
  const r = core.step({ type: 'primary', force: false, openCount: 0, randomU64: 123456n });
  assert.equal(r.result, SS.NoUpToDateDisk);
  assert.deepEqual(r.effects, []);
  assert.equal(core.currentRole, Role.Secondary);
  assert.equal(formatStateChangeFailure('r0', r.result), 'r0: State change failed: (-2) Need access to UpToDate data');
});

test('forced promotion persists UpToDate flags and a new current UUID before opening the export', () => {
  const core = attached();
  const r = core.step({ type: 'primary', force: true, openCount: 0, randomU64: 0xabcdef0123456788n });
  assert.equal(r.result, SS.Success);
  const persistIdx = r.effects.findIndex((e) => e.type === 'persist-metadata');
  const exportIdx = r.effects.findIndex((e) => e.type === 'export' && e.enabled);
  assert.ok(persistIdx >= 0 && exportIdx > persistIdx, 'metadata durable before I/O is allowed');
  const persisted = r.effects[persistIdx]!;
  assert.ok(persisted.type === 'persist-metadata');
  const flags = persisted.persistent.flags;
  assert.ok(flags & MetaFlag.Consistent && flags & MetaFlag.WasUpToDate && flags & MetaFlag.PrimaryInd);
  assert.equal(persisted.persistent.bitmapUuid, UUID_JUST_CREATED);
  assert.equal(persisted.persistent.currentUuid & 1n, 1n, 'bit 0 marks a Primary UUID');
  assert.equal(core.volumeViews()[0]!.disk, DiskState.UpToDate);
});

test('demotion is refused while the device is open (-12) and allowed once closed', () => {
  const core = attached(MetaFlag.Consistent | MetaFlag.WasUpToDate);
  assert.equal(core.step({ type: 'primary', force: false, openCount: 0, randomU64: 99n }).result, SS.Success);
  assert.equal(core.step({ type: 'secondary', openCount: 1 }).result, SS.DeviceInUse);
  assert.equal(core.currentRole, Role.Primary);
  const r = core.step({ type: 'secondary', openCount: 0 });
  assert.equal(r.result, SS.Success);
  assert.equal(core.currentRole, Role.Secondary);
  const persisted = r.effects.find((e) => e.type === 'persist-metadata');
  assert.ok(persisted && persisted.type === 'persist-metadata');
  assert.equal(persisted.persistent.flags & MetaFlag.PrimaryInd, 0);
  assert.equal(persisted.persistent.currentUuid & 1n, 0n);
});

test('a node that stopped as Primary is remembered as a crashed primary', () => {
  const core = new ResourceCore('r0', policy);
  const r = core.step({
    type: 'attach',
    volume: 0,
    persistent: { ...fresh, flags: MetaFlag.Consistent | MetaFlag.WasUpToDate | MetaFlag.PrimaryInd },
  });
  const persisted = r.effects.find((e) => e.type === 'persist-metadata');
  assert.ok(persisted && persisted.type === 'persist-metadata');
  assert.ok(persisted.persistent.flags & MetaFlag.CrashedPrimary);
  assert.equal(persisted.persistent.flags & MetaFlag.PrimaryInd, 0);
});

test('disk state on attach follows the superblock flags and fencing policy', () => {
  assert.equal(diskStateOnAttach(0, 'dont-care'), DiskState.Inconsistent);
  assert.equal(diskStateOnAttach(MetaFlag.Consistent, 'dont-care'), DiskState.Outdated);
  assert.equal(diskStateOnAttach(MetaFlag.Consistent | MetaFlag.WasUpToDate, 'dont-care'), DiskState.UpToDate);
  assert.equal(diskStateOnAttach(MetaFlag.Consistent | MetaFlag.WasUpToDate, 'resource-only'), DiskState.Consistent);
});

test('property: a refused change never alters role or emits effects', () => {
  const event = fc.oneof(
    fc.record({ type: fc.constant('primary' as const), force: fc.boolean(), openCount: fc.nat(3), randomU64: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
    fc.record({ type: fc.constant('secondary' as const), openCount: fc.nat(3) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.array(event, { maxLength: 20 }), (flags, events) => {
      const core = attached(flags & ~MetaFlag.PrimaryInd);
      for (const e of events) {
        const before = core.currentRole;
        const r = core.step(e);
        if (r.result < SS.Success) {
          assert.equal(core.currentRole, before);
          assert.deepEqual(r.effects, []);
        }
        // Never Primary without UpToDate data.
        if (core.currentRole === Role.Primary) assert.equal(core.volumeViews()[0]!.disk, DiskState.UpToDate);
      }
    }),
  );
});

test('two primaries are refused unless allowed', () => {
  const ns = { role: Role.Primary, peerRole: Role.Primary, conn: ConnectionState.Connected, disk: DiskState.UpToDate, peerDisk: DiskState.UpToDate };
  const ctx = { hasNetConfig: true, allowTwoPrimaries: false, fencing: 'dont-care' as const, openCount: 0, verifyAlg: '' };
  assert.equal(isValidState(ns, ctx), SS.TwoPrimaries);
  assert.equal(isValidState(ns, { ...ctx, allowTwoPrimaries: true }), SS.Success);
  const os = { ...ns, role: Role.Secondary };
  assert.equal(checkStateChange(os, ns, ctx), SS.TwoPrimaries);
});
