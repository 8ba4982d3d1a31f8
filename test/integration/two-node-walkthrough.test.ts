// The seed article end to end with two daemons on this machine (alpha on 127.0.0.1, bravo
// on 127.0.0.2): create-md, up, primary --force, the refused second primary, the initial
// sync watched through /proc/drbd, ext4 on the Primary, the role switch, and the file read
// back on the other node.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { haveTool, isRoot, run } from '../helpers/node-daemon.js';
import { TwoNodes, isMounted } from '../helpers/two-node.js';

const tools = ['nbdfuse', 'losetup', 'mkfs.ext4', 'mount', 'umount'];
const missing = tools.filter((t) => !haveTool(t));
const skip = !isRoot() ? 'needs root (loop devices, mount)' : missing.length > 0 ? `needs ${missing.join(', ')}` : false;

// Big enough that the initial sync takes a few seconds (and /proc/drbd shows progress),
// small enough to keep the test quick. Sparse: only the synced blocks take space.
const volumeBytes = 256 * 1024 * 1024;
const syncTimeoutMs = 60_000;

const PROGRESS = /^\t\[=*>\.*\] sync'ed:\s+\d{1,3}\.\d% \(\d+\/\d+\)[KM]$/;
const FINISH = /^\tfinish: \d+:\d\d:\d\d speed: [\d,]+ \([\d,]+\) want: [\d,]+ K\/sec$/;

describe('two nodes: the seed walkthrough', { skip, timeout: 150_000 }, () => {
  let t: TwoNodes;

  before(async () => {
    t = await TwoNodes.create({ prefix: 'walk', sizeBytes: volumeBytes });
  });

  after(async () => {
    await t?.cleanup();
  });

  test('create-md on both nodes prints what drbdmeta prints', () => {
    for (const n of ['alpha', 'bravo'] as const) {
      const r = t.cli(n, ['create-md', 'r0']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^initializing activity log\ninitializing bitmap \(\d+ KB\) to all zero\nWriting meta data\.\.\.\nNew drbd meta data block successfully created\.\n$/);
    }
  });

  test('up on both: Secondary/Secondary, Inconsistent, and the nodes connect', async () => {
    for (const n of ['alpha', 'bravo'] as const) assert.equal(t.cli(n, ['up', 'r0']).code, 0);
    for (const n of ['alpha', 'bravo'] as const) {
      const s = t.status(n);
      assert.equal(s.role, 'Secondary');
      assert.equal(s.diskState, 'Inconsistent');
    }
    const proc = await t.waitConnected(15_000);
    assert.match(proc, /^ 0: cs:Connected ro:Secondary\/Secondary ds:Inconsistent\/Inconsistent C r-----$/m);
  });

  test('primary --force on alpha; on bravo it is refused with (-1), exit 11', () => {
    const a = t.cli('alpha', ['primary', '--force', 'r0']);
    assert.equal(a.code, 0, a.stderr);
    const b = t.cli('bravo', ['primary', '--force', 'r0']);
    assert.equal(b.code, 11);
    assert.equal(b.stderr, 'r0: State change failed: (-1) Multiple primaries not allowed by config\n');
    assert.equal(t.status('bravo').role, 'Secondary');
  });

  test("bravo's /proc/drbd shows the sync progress, then UpToDate/UpToDate", async (ctx) => {
    const deadline = Date.now() + syncTimeoutMs;
    const progressLines: string[] = [];
    let sawSyncTarget = false;
    let firstPoll = true;
    let last = '';
    for (;;) {
      const r = await t.cliAsync('bravo', ['status', '--proc']);
      assert.equal(r.code, 0, r.stderr);
      last = r.stdout;
      const syncing = /cs:SyncTarget ro:Secondary\/Primary ds:Inconsistent\/UpToDate C r-----/.test(last);
      sawSyncTarget ||= syncing;
      if (syncing) {
        const lines = last.split('\n');
        const i = lines.findIndex((l) => l.includes("sync'ed:"));
        if (i >= 0) {
          assert.match(lines[i]!, PROGRESS, last);
          assert.match(lines[i + 1] ?? '', FINISH, last);
          progressLines.push(lines[i]!);
        }
      } else if (firstPoll) {
        // The sync finished before the first poll: nothing to capture, say so. Between the
        // last resync block and UpToDate the target flushes its disk (Connected, oos:0).
        assert.match(last, /ds:UpToDate\/UpToDate|cs:Connected ro:Secondary\/Primary ds:Inconsistent\/UpToDate C r-----\n.* oos:0$/m, `first poll shows neither a sync nor its end:\n${last}`);
      }
      firstPoll = false;
      if (/cs:Connected ro:Secondary\/Primary ds:UpToDate\/UpToDate C r-----/.test(last)) break;
      assert.ok(Date.now() < deadline, `bravo did not reach UpToDate within ${syncTimeoutMs} ms:\n${last}`);
      await sleep(250);
    }
    if (sawSyncTarget) assert.ok(progressLines.length > 0, 'SyncTarget was seen but never a progress line');
    const size = t.status('bravo').sizeKiB;
    assert.match(last, new RegExp(`^    ns:0 nr:${size} dw:${size} dr:0 al:\\d+ bm:\\d+ lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0$`, 'm'));
    ctx.diagnostic(`progress lines captured: ${progressLines.length}; e.g. ${JSON.stringify(progressLines[0] ?? '(none)')}`);
    const a = t.status('alpha');
    assert.equal(a.role, 'Primary');
    assert.equal(a.peer['peer-disk-state'], 'UpToDate');
    assert.equal(a.peer['out-of-sync'], 0);
  });

  test('mkfs.ext4 and mount on alpha (Primary), write hello.txt, umount', () => {
    const dev = t.must('alpha', ['device', 'r0']).trim();
    assert.match(dev, /^\/dev\/loop\d+$/);
    const mk = run('mkfs.ext4', ['-q', '-F', dev]);
    assert.equal(mk.code, 0, mk.stderr);
    const m = run('mount', [dev, t.mnt]);
    assert.equal(m.code, 0, m.stderr);
    fs.writeFileSync(path.join(t.mnt, 'hello.txt'), 'hello world\n');
    assert.equal(fs.readFileSync(path.join(t.mnt, 'hello.txt'), 'utf8'), 'hello world\n');
    assert.equal(run('umount', [t.mnt]).code, 0);
  });

  test("secondary on alpha; mounting alpha's device then fails", () => {
    const r = t.cli('alpha', ['secondary', 'r0']);
    assert.equal(r.code, 0, r.stderr);
    const dev = t.must('alpha', ['device', 'r0']).trim();
    const m = run('mount', [dev, t.mnt]);
    assert.notEqual(m.code, 0, 'mounting the Secondary device must fail');
    assert.equal(isMounted(t.mnt), false);
  });

  test('primary on bravo (no --force), mount, read "hello world"', () => {
    const r = t.cli('bravo', ['primary', 'r0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(t.must('bravo', ['status', '--proc']), /^ 0: cs:Connected ro:Primary\/Secondary ds:UpToDate\/UpToDate C r-----$/m);
    const dev = t.must('bravo', ['device', 'r0']).trim();
    const m = run('mount', [dev, t.mnt]);
    assert.equal(m.code, 0, m.stderr);
    assert.equal(fs.readFileSync(path.join(t.mnt, 'hello.txt'), 'utf8'), 'hello world\n');
    assert.equal(run('umount', [t.mnt]).code, 0);
  });

  test('down on both', () => {
    for (const n of ['bravo', 'alpha'] as const) {
      const r = t.cli(n, ['down', 'r0']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(t.cli(n, ['status', 'r0']).code, 10);
    }
  });
});
