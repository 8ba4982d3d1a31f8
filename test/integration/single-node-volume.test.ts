// The seed article on one node, with the real daemon, the real CLI and a real ext4
// filesystem on the volume's block device (nbdfuse + loop).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NodeDaemon, haveTool, isRoot, run, seedConfig, sparseFile, tempDir } from '../helpers/node-daemon.js';

const skip = !isRoot() || !haveTool('nbdfuse') || !haveTool('losetup') || !haveTool('mkfs.ext4')
  ? 'needs root, nbdfuse, losetup and mkfs.ext4'
  : false;

describe('single-node volume: the seed walkthrough', { skip }, () => {
  let dir: string;
  let daemon: NodeDaemon;
  let mnt: string;

  before(async () => {
    dir = tempDir('seed');
    mnt = path.join(dir, 'srv');
    fs.mkdirSync(mnt);
    const disk = path.join(dir, 'sdb.img');
    sparseFile(disk, 64 * 1024 * 1024);
    fs.writeFileSync(path.join(dir, 'drbd.conf'), seedConfig('alpha', disk));
    daemon = new NodeDaemon(path.join(dir, 'state'), path.join(dir, 'drbd.conf'), 'alpha');
    await daemon.start();
  });

  after(async () => {
    run('umount', [mnt]);
    daemon.cli(['down', 'r0']);
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('create-md prints what drbdmeta prints', () => {
    const r = daemon.cli(['create-md', 'r0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^initializing activity log\ninitializing bitmap \(\d+ KB\) to all zero\nWriting meta data\.\.\.\nNew drbd meta data block successfully created\.\n$/);
  });

  test('a second create-md is refused without --force', () => {
    const r = daemon.cli(['create-md', 'r0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--force/);
  });

  test('up leaves the node Secondary with Inconsistent data', () => {
    assert.equal(daemon.cli(['up', 'r0']).code, 0);
    const s = JSON.parse(daemon.cli(['status', '--json', 'r0']).stdout);
    assert.equal(s[0].name, 'r0');
    assert.equal(s[0].role, 'Secondary');
    assert.equal(s[0].devices[0]['disk-state'], 'Inconsistent');
    assert.equal(s[0].connections[0].name, 'peer-node');
    assert.match(s[0]['nbd-uri'], /^nbd\+unix:\/\/\/r0\?socket=/);
  });

  test('primary without --force on Inconsistent data is refused with (-2), exit 11', () => {
    const r = daemon.cli(['primary', 'r0']);
    assert.equal(r.code, 11);
    assert.equal(r.stderr.trim(), 'r0: State change failed: (-2) Need access to UpToDate data');
  });

  test('primary --force makes the data UpToDate and the node Primary', () => {
    assert.equal(daemon.cli(['primary', '--force', 'r0']).code, 0);
    const text = daemon.cli(['status', 'r0']).stdout;
    assert.match(text, /^r0 role:Primary\n  disk:UpToDate\n  peer-node connection:StandAlone\n/);
    const proc = daemon.cli(['status', '--proc']).stdout.split('\n');
    assert.match(proc[0]!, /^version: 8\.4\.\d+ \(api:1\/proto:86-101\)$/);
    assert.match(proc[2]!, /^ 0: cs:StandAlone ro:Primary\/Unknown ds:UpToDate\/DUnknown C r-----$/);
    assert.match(proc[3]!, /^    ns:0 nr:0 dw:\d+ dr:\d+ al:\d+ bm:\d+ lo:\d+ pe:0 ua:0 ap:\d+ ep:1 wo:f oos:0$/);
  });

  test('the block device takes ext4, and secondary is refused while it is mounted', () => {
    const dev = daemon.cli(['device', 'r0']).stdout.trim();
    assert.match(dev, /^\/dev\//);
    assert.equal(run('mkfs.ext4', ['-q', '-F', dev]).code, 0);
    assert.equal(run('mount', [dev, mnt]).code, 0);
    fs.writeFileSync(path.join(mnt, 'hello.txt'), 'hello world\n');
    const r = daemon.cli(['secondary', 'r0']);
    assert.equal(r.code, 11);
    assert.match(r.stderr, /^r0: State change failed: \(-12\) Device is held open by someone\n/);
    assert.match(r.stderr, /mounted on/);
    const s = JSON.parse(daemon.cli(['status', '--json', 'r0']).stdout);
    assert.equal(s[0].devices[0].open, true);
    assert.ok(s[0].devices[0].written > 0);
  });

  test('after umount, secondary succeeds and the device and export refuse I/O', () => {
    const dev = daemon.cli(['device', 'r0']).stdout.trim();
    assert.equal(run('umount', [mnt]).code, 0);
    const r = daemon.cli(['secondary', 'r0']);
    assert.equal(r.code, 0, r.stderr);
    assert.notEqual(run('mount', [dev, mnt]).code, 0, 'mounting a Secondary must fail');
    const uri = JSON.parse(daemon.cli(['status', '--json', 'r0']).stdout)[0]['nbd-uri'];
    // libnbd shows the server's reason for a refused export in its debug output.
    const info = run('nbdinfo', [uri], { env: { LIBNBD_DEBUG: '1' } });
    assert.notEqual(info.code, 0);
    assert.match(info.stderr, /server error message: Wrong medium type/);
    // The device path stays the same across role changes, like /dev/drbd0.
    assert.equal(daemon.cli(['device', 'r0']).stdout.trim(), dev);
  });

  test('primary, down, up, primary: the file is still there', () => {
    assert.equal(daemon.cli(['primary', 'r0']).code, 0);
    assert.equal(daemon.cli(['down', 'r0']).code, 0);
    assert.equal(daemon.cli(['status', 'r0']).code, 10);
    assert.equal(daemon.cli(['up', 'r0']).code, 0);
    const s = JSON.parse(daemon.cli(['status', '--json', 'r0']).stdout);
    assert.equal(s[0].devices[0]['disk-state'], 'UpToDate');
    assert.equal(daemon.cli(['primary', 'r0']).code, 0);
    const dev = daemon.cli(['device', 'r0']).stdout.trim();
    assert.equal(run('mount', [dev, mnt]).code, 0);
    assert.equal(fs.readFileSync(path.join(mnt, 'hello.txt'), 'utf8'), 'hello world\n');
    assert.equal(run('umount', [mnt]).code, 0);
  });

  test('a second daemon on the same state dir is refused clearly', async () => {
    const second = new NodeDaemon(daemon.stateDir, daemon.configFile, 'alpha');
    await assert.rejects(second.start(), /another safeside daemon \(pid \d+\) already runs on state dir/);
  });

  test('the control socket and the state dir are for their owner only', () => {
    assert.equal(fs.statSync(daemon.stateDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(daemon.stateDir, 'control.sock')).mode & 0o777, 0o600);
  });

  test('unknown resources are named with the known ones', () => {
    const r = daemon.cli(['primary', 'r9']);
    assert.equal(r.code, 10);
    assert.match(r.stderr, /'r9' not defined in your config.*known resources: r0/);
  });
});
