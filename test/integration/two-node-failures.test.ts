// Two daemons on this machine (alpha 127.0.0.1, bravo 127.0.0.2) through the failures DRBD
// users meet: a disconnect with a bitmap-based resync and online verify, kill -9 of the
// Primary in the middle of writes, a split brain resolved by hand, and a peer with the
// wrong shared secret. Every scenario starts from fresh backing files and daemons.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { haveTool, isRoot, run } from '../helpers/node-daemon.js';
import { TwoNodes, waitFor, type NodeName } from '../helpers/two-node.js';
import { AckWriter } from '../helpers/ack-writer.js';

const tools = ['nbdfuse', 'losetup', 'qemu-io'];
const missing = tools.filter((t) => !haveTool(t));
const skip = !isRoot() ? 'needs root (loop devices for the daemons)' : missing.length > 0 ? `needs ${missing.join(', ')}` : false;

const MiB = 1024 * 1024;
const KiB = 1024;
const syncTimeoutMs = 45_000;

function qemuIo(uri: string, cmds: string[]): string {
  const r = run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), uri], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `qemu-io ${cmds.join('; ')}: ${r.stderr}${r.stdout}`);
  assert.doesNotMatch(r.stdout, /Pattern verification failed|error/i, r.stdout);
  return r.stdout;
}

/** Bytes of a backing file at [offset, offset+length). */
function fileBytes(file: string, offset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    fs.readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** Peer counters are per connection (DRBD resets them on connect too): the growth since `before`. */
const counterDelta = (before: number, after: number): number => (after >= before ? after - before : after);

test('disconnect, writes on the Primary, reconnect: the bitmap resync moves only the dirty blocks; verify finds nothing', { skip, timeout: 120_000 }, async (ctx) => {
  const volumeBytes = 128 * MiB;
  const t = await TwoNodes.create({ prefix: 'resync', sizeBytes: volumeBytes });
  try {
    await t.initialSync('alpha', syncTimeoutMs);
    const before = { alphaSent: t.status('alpha').peer.sent, bravoReceived: t.status('bravo').peer.received };

    assert.equal(t.cli('bravo', ['disconnect', 'r0']).code, 0);
    await waitFor('alpha sees bravo gone', async () => (await t.statusAsync('alpha')).connectionState !== 'Connected', 10_000);
    assert.equal(t.status('bravo').connectionState, 'StandAlone');

    // Aligned, non-overlapping writes of distinct patterns: 4 KiB .. 1 MiB.
    const writes = [
      { offset: 0, length: 64 * KiB, pattern: 0x11 },
      { offset: 5 * MiB, length: 4 * KiB, pattern: 0x22 },
      { offset: 17 * MiB + 12 * KiB, length: 256 * KiB, pattern: 0x33 },
      { offset: 60 * MiB, length: 1 * MiB, pattern: 0x44 },
      { offset: 100 * MiB + 64 * KiB, length: 8 * KiB, pattern: 0x55 },
      { offset: 127 * MiB, length: 512 * KiB, pattern: 0x66 },
    ];
    const dirtyKiB = writes.reduce((s, w) => s + w.length / KiB, 0);
    const alphaUri = t.status('alpha').nbdUri;
    qemuIo(alphaUri, [...writes.map((w) => `write -P ${w.pattern} ${w.offset} ${w.length}`), 'flush']);

    const a = t.status('alpha');
    assert.equal(a.peer['out-of-sync'], dirtyKiB, 'alpha counts exactly the dirtied KiB as out of sync');
    assert.equal(t.status('bravo').peer['out-of-sync'], 0, 'bravo wrote nothing');

    // Reconnect. alpha is still trying to reach bravo (it did not disconnect itself): connect
    // there is refused as DRBD refuses it, and changes nothing.
    assert.equal(t.cli('bravo', ['connect', 'r0']).code, 0);
    const ca = t.cli('alpha', ['connect', 'r0']);
    assert.equal(ca.code, 10, `connect on alpha (not StandAlone): ${ca.stderr}`);
    assert.match(ca.stderr, /r0 bravo: Failure: \(125\) Device has a net-config \(use disconnect first\)/);
    await t.waitInSync(syncTimeoutMs);
    assert.match(t.log('bravo'), /repl\( SyncTarget \)/);
    assert.doesNotMatch(t.log('bravo') + t.log('alpha'), /Split-Brain/);

    const sentKiB = counterDelta(before.alphaSent, t.status('alpha').peer.sent);
    const receivedKiB = counterDelta(before.bravoReceived, t.status('bravo').peer.received);
    ctx.diagnostic(`dirtied ${dirtyKiB} KiB; resync: alpha sent ${sentKiB} KiB, bravo received ${receivedKiB} KiB; volume ${volumeBytes / KiB} KiB`);
    for (const moved of [sentKiB, receivedKiB]) {
      assert.ok(moved >= dirtyKiB, `resync moved ${moved} KiB, less than the ${dirtyKiB} KiB dirtied`);
      assert.ok(moved <= 2 * dirtyKiB + 64, `resync moved ${moved} KiB for ${dirtyKiB} KiB dirtied`);
      assert.ok(moved < volumeBytes / KiB / 20, 'resync must not be a full sync');
    }
    assert.equal(t.status('alpha').peer['out-of-sync'], 0);
    assert.equal(t.status('bravo').peer['out-of-sync'], 0);

    // Online verify (verify-alg sha1) from alpha: runs, ends, finds no difference.
    assert.equal(t.cli('alpha', ['verify', 'r0']).code, 0);
    await waitFor('verify to finish on alpha', () => /Online verify done/.test(t.log('alpha')), 60_000, 200);
    await waitFor('verify to finish on bravo', () => /Online verify done/.test(t.log('bravo')), 10_000, 200);
    assert.match(t.log('alpha'), /Online verify done, found 0 4k block\(s\) out of sync/);
    assert.match(t.log('bravo'), /Online verify done, 0 4k block\(s\) out of sync/);
    await t.waitInSync(10_000);
    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.status(n).peer['out-of-sync'], 0, `${n} out-of-sync after verify`);

    const sizeKiB = t.status('alpha').sizeKiB;
    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['down', 'r0']).code, 0);
    assert.equal(t.compareDataAreas(sizeKiB), -1, 'data areas of the two backing files differ');
    for (const w of writes) assert.ok(fileBytes(t.disks.bravo, w.offset, w.length).every((b) => b === w.pattern), `bravo has pattern ${w.pattern} at ${w.offset}`);
  } finally {
    await t.cleanup();
  }
});

test('online verify finds a block changed behind the volume\'s back', { skip, timeout: 90_000 }, async (ctx) => {
  const t = await TwoNodes.create({ prefix: 'verify', sizeBytes: 64 * MiB });
  try {
    await t.initialSync('alpha', syncTimeoutMs);
    // Corrupt one 4 KiB block of bravo's backing file directly (no replication involved).
    const fd = fs.openSync(t.disks.bravo, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0xee), 0, 4096, 33 * MiB);
    fs.closeSync(fd);
    assert.equal(t.cli('alpha', ['verify', 'r0']).code, 0);
    await waitFor('verify to finish', () => /Online verify done/.test(t.log('alpha')), 60_000, 200);
    assert.match(t.log('alpha'), /Online verify done, found 1 4k block\(s\) out of sync/);
    // The differing block is marked out of sync. DRBD waits for a disconnect/connect to
    // resync it; safeside's Primary starts that resync itself on the established connection
    // (logged). Either way a disconnect/connect afterwards must leave the disks identical.
    const autoResync = /block\(s\) marked out of sync on an established connection; resync as source/;
    await waitFor('the marked block to be resynced or reported', async () => autoResync.test(t.log('alpha')) || (await t.statusAsync('alpha')).peer['out-of-sync'] === 4, 10_000);
    ctx.diagnostic(autoResync.test(t.log('alpha')) ? 'alpha resynced the block on its own after verify' : 'alpha holds the block as out of sync until reconnect');
    await t.waitInSync(syncTimeoutMs);
    assert.equal(t.cli('alpha', ['disconnect', 'r0']).code, 0);
    assert.equal(t.cli('alpha', ['connect', 'r0']).code, 0);
    await t.waitInSync(syncTimeoutMs);
    await waitFor('out-of-sync 0 after the resync', async () => (await t.statusAsync('alpha')).peer['out-of-sync'] === 0, 10_000);
    const sizeKiB = t.status('alpha').sizeKiB;
    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['down', 'r0']).code, 0);
    assert.equal(t.compareDataAreas(sizeKiB), -1);
    assert.ok(fileBytes(t.disks.bravo, 33 * MiB, 4096).every((b) => b === 0), "bravo's corrupted block is repaired from alpha");
  } finally {
    await t.cleanup();
  }
});

test('kill -9 of the Primary mid-write: bravo has every acknowledged write; alpha comes back as SyncTarget', { skip, timeout: 120_000 }, async (ctx) => {
  const t = await TwoNodes.create({ prefix: 'kill', sizeBytes: 128 * MiB });
  try {
    await t.initialSync('alpha', syncTimeoutMs);
    const alphaUri = t.status('alpha').nbdUri;

    // 64 MiB region, writes of 4..64 KiB, 8 in flight, until the daemon dies.
    const writer = new AckWriter({ uri: alphaUri, slots: 1024, slotBlocks: 16, queueDepth: 8, seed: 4242, ackedWritesMax: 200_000 });
    const running = writer.run();
    await waitFor('300 acknowledged writes', () => writer.ackedWrites >= 300 || writer.endReason !== '', 30_000, 20);
    assert.equal(writer.endReason, '', `writer stopped early: ${writer.endReason}`);
    await t.nodes.alpha.crash();
    await running;
    ctx.diagnostic(
      `alpha killed after ${writer.ackedWrites} acknowledged writes (${writer.ackedBytes / KiB} KiB); ${writer.unacknowledgedBlocks} blocks unacknowledged; writer ended: ${writer.endReason}`,
    );
    assert.ok(writer.unacknowledgedBlocks > 0 || writer.failedWrites > 0 || /closed/.test(writer.endReason), 'the kill happened mid-write');

    await waitFor('bravo notices alpha is gone', async () => (await t.statusAsync('bravo')).connectionState !== 'Connected', 15_000);
    const p = t.cli('bravo', ['primary', 'r0']);
    assert.equal(p.code, 0, `primary on bravo after the Primary died: ${p.stderr}`);
    const bravoUri = t.status('bravo').nbdUri;
    const check = await writer.check(bravoUri);
    ctx.diagnostic(`bravo: ${check.blocksChecked} blocks checked, ${check.blocksAsAcked} as acknowledged, ${check.blocksFromInFlight} from writes in flight`);
    assert.deepEqual(check.failures, [], 'acknowledged writes lost or corrupted on the survivor');

    // New data on bravo while alpha is away: alpha must take it on return.
    qemuIo(bravoUri, ['write -P 0x5b 100M 1M', 'flush']);

    // alpha restarts on its state dir: stale devices removed, up, resync from bravo.
    await t.start('alpha');
    assert.match(t.log('alpha'), /removed block devices left by a previous daemon/);
    assert.equal(t.cli('alpha', ['up', 'r0']).code, 0);
    await t.waitInSync(syncTimeoutMs);
    const a = t.status('alpha');
    assert.equal(a.role, 'Secondary');
    assert.equal(a.peerRole, 'Primary');
    assert.match(t.log('alpha'), /crashed primary/);
    assert.match(t.log('alpha'), /repl\( SyncTarget \)/);
    assert.doesNotMatch(t.log('alpha') + t.log('bravo'), /Split-Brain/);

    // The survivor's view once more, then the two disks byte for byte.
    const again = await writer.check(bravoUri);
    assert.deepEqual(again.failures, []);
    const sizeKiB = a.sizeKiB;
    for (const n of ['bravo', 'alpha'] as const) assert.equal(t.cli(n, ['down', 'r0']).code, 0);
    assert.equal(t.compareDataAreas(sizeKiB), -1, 'alpha did not end with bravo\'s data');
    assert.ok(fileBytes(t.disks.alpha, 100 * MiB, MiB).every((b) => b === 0x5b), 'alpha has what bravo wrote while it was dead');
  } finally {
    await t.cleanup();
  }
});

test('split brain: both refuse to connect; --discard-my-data on the victim resolves it', { skip, timeout: 120_000 }, async () => {
  const t = await TwoNodes.create({ prefix: 'sb', sizeBytes: 64 * MiB });
  try {
    await t.initialSync('alpha', syncTimeoutMs);
    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['disconnect', 'r0']).code, 0);
    // Fencing is off (as in the seed config): a disconnected Secondary may be promoted.
    const p = t.cli('bravo', ['primary', 'r0']);
    assert.equal(p.code, 0, p.stderr);
    qemuIo(t.status('alpha').nbdUri, ['write -P 0xaa 8M 1M', 'flush']);
    qemuIo(t.status('bravo').nbdUri, ['write -P 0xbb 8M 1M', 'write -P 0xbc 40M 64k', 'flush']);
    const victim: NodeName = 'bravo';
    assert.equal(t.cli(victim, ['secondary', 'r0']).code, 0);

    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['connect', 'r0']).code, 0);
    const sbLine = /Split-Brain detected but unresolved, dropping connection!/;
    await waitFor('both nodes to detect the split brain', () => sbLine.test(t.log('alpha')) && sbLine.test(t.log('bravo')), 20_000);
    for (const n of ['alpha', 'bravo'] as const) {
      await waitFor(`${n} StandAlone`, async () => (await t.statusAsync(n)).connectionState === 'StandAlone', 10_000);
    }
    await sleep(1500); // connect-int is 1 s: nobody reconnects on their own
    for (const n of ['alpha', 'bravo'] as const) {
      const s = t.status(n);
      assert.equal(s.connectionState, 'StandAlone', `${n} stays StandAlone`);
      assert.equal(s.diskState, 'UpToDate');
    }
    assert.match(t.must('alpha', ['status', '--proc']), /cs:StandAlone ro:Primary\/Unknown ds:UpToDate\/DUnknown/);

    // Resolve by hand: the victim throws its changes away.
    assert.equal(t.cli(victim, ['connect', '--discard-my-data', 'r0']).code, 0);
    assert.equal(t.cli('alpha', ['connect', 'r0']).code, 0);
    await t.waitInSync(syncTimeoutMs);
    assert.match(t.log('bravo'), /Split-Brain detected, manually solved/);
    assert.match(t.log('bravo'), /repl\( SyncTarget \)/);
    assert.equal(t.status('alpha').role, 'Primary');
    assert.equal(t.status('bravo').role, 'Secondary');

    const sizeKiB = t.status('alpha').sizeKiB;
    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['down', 'r0']).code, 0);
    assert.equal(t.compareDataAreas(sizeKiB), -1, "the victim does not have the survivor's data");
    assert.ok(fileBytes(t.disks.bravo, 8 * MiB, MiB).every((b) => b === 0xaa), "bravo has alpha's 0xaa");
    assert.ok(fileBytes(t.disks.bravo, 40 * MiB, 64 * KiB).every((b) => b === 0), "bravo's own 0xbc is gone");
  } finally {
    await t.cleanup();
  }
});

test('a peer with the wrong shared-secret never connects and gets no data', { skip, timeout: 90_000 }, async () => {
  const t = await TwoNodes.create({ prefix: 'auth', sizeBytes: 64 * MiB, configFor: { bravo: { secret: 'not-the-secret' } } });
  try {
    for (const n of ['alpha', 'bravo'] as const) t.must(n, ['create-md', 'r0']);
    for (const n of ['alpha', 'bravo'] as const) t.must(n, ['up', 'r0']);
    t.must('alpha', ['primary', '--force', 'r0']);
    qemuIo(t.status('alpha').nbdUri, ['write -P 0x77 0 1M', 'flush']);

    const authFailed = /Authentication of peer failed \(wrong shared-secret\?\)/;
    await waitFor('both sides to log the failed authentication', () => authFailed.test(t.log('alpha')) && authFailed.test(t.log('bravo')), 20_000);
    await sleep(2500); // several connect attempts (connect-int 1)
    for (const n of ['alpha', 'bravo'] as const) {
      const s = t.status(n);
      assert.notEqual(s.connectionState, 'Connected', `${n} must not connect`);
      assert.match(s.connectionState, /^(Connecting|StandAlone|WFConnection|Unconnected|BrokenPipe|NetworkFailure)$/);
      assert.equal(s.peer.received, 0, `${n} received data`);
      assert.equal(s.peer.sent, 0, `${n} sent data`);
    }
    assert.equal(t.status('bravo').diskState, 'Inconsistent');
    assert.doesNotMatch(t.log('alpha') + t.log('bravo'), /conn\( WFReportParams -> Connected \)/);

    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['down', 'r0']).code, 0);
    assert.ok(fileBytes(t.disks.bravo, 0, MiB).every((b) => b === 0), "bravo's disk got none of alpha's data");
  } finally {
    await t.cleanup();
  }
});
