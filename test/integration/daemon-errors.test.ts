// Bad input at the daemon and CLI boundary: each gets a message that says what and
// where, and the documented exit code.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeDaemon, cliMain, runCli, sparseFile, tempDir } from '../helpers/node-daemon.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/drbd/', import.meta.url));
let dir: string;
let daemon: NodeDaemon;

before(async () => {
  dir = tempDir('errors');
  sparseFile(path.join(dir, 'd.img'), 8 * 1024 * 1024);
  fs.writeFileSync(
    path.join(dir, 'c.conf'),
    `resource r0 {\n  on a { device /dev/drbd0; disk ${dir}/d.img; meta-disk internal; }\n}\n` +
      `resource r1 {\n  on a { device /dev/drbd1; disk ${dir}/missing.img; meta-disk internal; }\n}\n`,
  );
  daemon = new NodeDaemon(path.join(dir, 'state'), path.join(dir, 'c.conf'), 'a');
  await daemon.start();
});

after(async () => {
  await daemon.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the seed listing as printed (unclosed braces) stops the daemon with file:line:col, exit 10', () => {
  const conf = path.join(fixtures, 'seed-listing2-as-printed.conf');
  const r = spawnSync(process.execPath, [cliMain, 'daemon', '--config', conf, '--state-dir', path.join(dir, 's2')], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 10);
  assert.match(r.stderr, /seed-listing2-as-printed\.conf:9:9: 'startup' section opened at line 6, column 9 is not closed/);
});

test('up without meta data names the resource and tells how to create it, exit 20', () => {
  const r = daemon.cli(['up', 'r0']);
  assert.equal(r.code, 20);
  assert.match(r.stderr, /r0.*No valid meta data found on .*d\.img.*safeside create-md r0/s);
  assert.equal(daemon.cli(['status', 'r0']).code, 10, 'a failed up leaves the resource down');
});

test('a missing backing disk is named, exit 10', () => {
  const r = daemon.cli(['create-md', 'r1']);
  assert.equal(r.code, 10);
  assert.match(r.stderr, /^r1: Failure: \(104\) Can not open backing device\. .*missing\.img does not exist/);
});

test('the CLI without a daemon says so and how to start one, exit 1', () => {
  const r = runCli(path.join(dir, 'nobody-home'), ['status']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no safeside daemon is running for state dir .*nobody-home/);
});

test('usage errors exit 3 with a suggestion', () => {
  const r = daemon.cli(['primay', 'r0']);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /unknown command 'primay'/);
  assert.match(r.stderr, /primary/);
});

test('garbage on the control socket gets an error reply and the daemon keeps serving', async () => {
  const net = await import('node:net');
  const sock = path.join(daemon.stateDir, 'control.sock');
  const send = (payload: string | Buffer): Promise<string> =>
    new Promise((resolve) => {
      const c = net.createConnection(sock);
      let got = '';
      c.on('data', (d) => (got += d.toString()));
      c.on('close', () => resolve(got));
      c.on('error', () => resolve(got));
      c.write(payload);
      setTimeout(() => c.end(), 200);
    });
  assert.match(await send('this is not json\n'), /"exitCode":1/);
  assert.match(await send('{"verb": 7}\n'), /malformed control request/);
  assert.match(await send(Buffer.alloc(100 * 1024, 0x41)), /too large/);
  await send(Buffer.from([0xff, 0xfe, 0x00, 0x0a]));
  const r = daemon.cli(['status']);
  assert.equal(r.code, 0);
});
