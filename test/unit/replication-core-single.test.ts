// The replication core on a node without reachable peers: roles, disk states and the
// refusals of the seed article, with the metadata it persists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplicationCore, type ReplicationEffect, type Command } from '../../src/volume/replication-core.js';
import { MetaFlag, diskStateOnAttach } from '../../src/volume/meta-flags.js';
import { UUID_JUST_CREATED } from '../../src/volume/uuids.js';
import { ConnectionState, DiskState, Role } from '../../src/volume/states.js';
import { StateChangeResult as SS, formatStateChangeFailure } from '../../src/volume/state-results.js';
import { checkStateChange, isValidState } from '../../src/volume/state-rules.js';

const sizeBytes = 1024 * 1024;

function newCore(flags = 0): { core: ReplicationCore; run: (command: Command, openCount?: number) => { result: SS; effects: ReplicationEffect[] } } {
  let random = 0x1234_5678_9abc_def0n;
  const core = new ReplicationCore(
    {
      resource: 'r0',
      self: { name: 'alpha', nodeId: 0 },
      peers: [],
      protocol: 'C',
      allowTwoPrimaries: false,
      fencing: 'dont-care',
      afterSb0pri: 'disconnect',
      afterSb1pri: 'disconnect',
      afterSb2pri: 'disconnect',
      alwaysAsbp: false,
      rrConflict: 'disconnect',
      verifyAlg: '',
      csumsAlg: '',
      maxEpochSize: 2048,
      alExtents: 67,
      resyncRequestBytes: 65536,
      resyncInflightBytesMax: 1 << 20,
      resyncRateKiBps: 0,
    },
    { digest: () => '', randomU64: () => (random += 0x9e37_79b9n) },
  );
  const all: ReplicationEffect[] = [];
  // Complete every I/O at once, in order, collecting all effects.
  const drive = (effects: ReplicationEffect[]): void => {
    for (const e of effects) {
      all.push(e);
      if ('opId' in e) drive(core.step({ type: 'io-done', opId: e.opId, ok: true }));
    }
  };
  drive(core.step({ type: 'attach', volume: 0, sizeBytes, uuids: { current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] }, flags, bitmaps: new Map(), hotExtents: [] }));
  let cmdId = 1;
  return {
    core,
    run: (command, openCount = 0) => {
      all.length = 0;
      const id = cmdId++;
      drive(core.step({ type: 'command', cmdId: id, command, openCount }));
      const done = all.find((e) => e.type === 'command-done' && e.cmdId === id);
      assert.ok(done && done.type === 'command-done', 'every command is answered');
      return { result: done.result, effects: [...all] };
    },
  };
}

test('fresh metadata attaches Inconsistent and Secondary', () => {
  const { core } = newCore();
  assert.equal(core.currentRole, Role.Secondary);
  assert.equal(core.volumeSnapshot(0)!.disk, DiskState.Inconsistent);
});

test('promotion of Inconsistent data is refused with (-2) and persists nothing', () => {
  const { core, run } = newCore();
  const r = run({ kind: 'primary', force: false });
  assert.equal(r.result, SS.NoUpToDateDisk);
  assert.deepEqual(r.effects.filter((e) => e.type !== 'command-done'), []);
  assert.equal(core.currentRole, Role.Secondary);
  assert.equal(formatStateChangeFailure('r0', r.result), 'r0: State change failed: (-2) Need access to UpToDate data');
});

test('forced promotion persists UpToDate flags and a new current UUID before opening the export', () => {
  const { core, run } = newCore();
  const r = run({ kind: 'primary', force: true });
  assert.equal(r.result, SS.Success);
  const persisted = r.effects.filter((e) => e.type === 'write-superblock');
  const exportIdx = r.effects.findIndex((e) => e.type === 'export' && e.enabled);
  const lastPersistIdx = r.effects.lastIndexOf(persisted[persisted.length - 1]!);
  assert.ok(persisted.length > 0 && exportIdx > lastPersistIdx, 'metadata durable before I/O is allowed');
  const last = persisted[persisted.length - 1]!;
  assert.ok(last.type === 'write-superblock');
  assert.ok(last.flags & MetaFlag.Consistent && last.flags & MetaFlag.WasUpToDate && last.flags & MetaFlag.PrimaryInd);
  assert.equal(last.uuids.bitmap, UUID_JUST_CREATED);
  assert.equal(last.uuids.current & 1n, 1n, 'bit 0 marks a Primary UUID');
  assert.equal(core.volumeSnapshot(0)!.disk, DiskState.UpToDate);
  assert.equal(core.currentRole, Role.Primary);
});

test('demotion is refused while the device is open (-12) and allowed once closed', () => {
  const { core, run } = newCore(MetaFlag.Consistent | MetaFlag.WasUpToDate);
  assert.equal(run({ kind: 'primary', force: false }).result, SS.Success);
  assert.equal(run({ kind: 'secondary' }, 1).result, SS.DeviceInUse);
  assert.equal(core.currentRole, Role.Primary);
  const r = run({ kind: 'secondary' }, 0);
  assert.equal(r.result, SS.Success);
  assert.equal(core.currentRole, Role.Secondary);
  const last = r.effects.filter((e) => e.type === 'write-superblock').pop();
  assert.ok(last && last.type === 'write-superblock');
  assert.equal(last.flags & MetaFlag.PrimaryInd, 0);
  assert.equal(last.uuids.current & 1n, 0n);
});

test('a node that stopped as Primary is remembered as a crashed primary', () => {
  const { core } = newCore(MetaFlag.Consistent | MetaFlag.WasUpToDate | MetaFlag.PrimaryInd);
  const flags = core.volumeSnapshot(0)!.flags;
  assert.ok(flags & MetaFlag.CrashedPrimary);
  assert.equal(flags & MetaFlag.PrimaryInd, 0);
});

test('disk state on attach follows the superblock flags and fencing policy', () => {
  assert.equal(diskStateOnAttach(0, 'dont-care'), DiskState.Inconsistent);
  assert.equal(diskStateOnAttach(MetaFlag.Consistent, 'dont-care'), DiskState.Outdated);
  assert.equal(diskStateOnAttach(MetaFlag.Consistent | MetaFlag.WasUpToDate, 'dont-care'), DiskState.UpToDate);
  assert.equal(diskStateOnAttach(MetaFlag.Consistent | MetaFlag.WasUpToDate, 'resource-only'), DiskState.Consistent);
});

test('property: a refused change never alters the role; a Primary always has UpToDate data', () => {
  const command = fc.oneof(
    fc.record({ kind: fc.constant('primary' as const), force: fc.boolean() }),
    fc.record({ kind: fc.constant('secondary' as const) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.array(fc.tuple(command, fc.nat(2)), { maxLength: 20 }), (flags, steps) => {
      const { core, run } = newCore(flags & ~MetaFlag.PrimaryInd);
      for (const [c, openCount] of steps) {
        const before = core.currentRole;
        const r = run(c, openCount);
        if (r.result < SS.Success) {
          assert.equal(core.currentRole, before);
          assert.equal(r.effects.filter((e) => e.type === 'write-superblock').length, 0);
        }
        if (core.currentRole === Role.Primary) assert.equal(core.volumeSnapshot(0)!.disk, DiskState.UpToDate);
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
