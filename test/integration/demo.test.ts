// `safeside demo` is the README's first command: it must run start to end on this
// machine and tell the story it promises.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cliMain, haveTool, isRoot } from '../helpers/node-daemon.js';

const skip = !isRoot() || !haveTool('nbdfuse') || !haveTool('mkfs.ext4') ? 'needs root, nbdfuse and mkfs.ext4' : false;

test('safeside demo walks through the seed article on two nodes and cleans up', { skip }, () => {
  const r = spawnSync(process.execPath, [cliMain, 'demo'], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, r.stdout.slice(-3000) + r.stderr);
  const out = r.stdout;
  assert.match(out, /New drbd meta data block successfully created\./);
  assert.match(out, /r0: State change failed: \(-2\) Need access to UpToDate data/);
  assert.match(out, /r0: State change failed: \(-1\) Multiple primaries not allowed by config/);
  assert.match(out, /cs:Connected ro:Secondary\/Primary ds:UpToDate\/UpToDate C r-----/);
  assert.match(out, /r0: State change failed: \(-12\) Device is held open by someone/);
  assert.match(out, /hello\.txt\nhello world\n/);
  assert.match(out, /== Done: the data followed the Primary role/);
  const moved = /resync sent (\d+) KiB of a (\d+) KiB volume/.exec(out);
  assert.ok(moved, 'the demo reports the bitmap resync');
  assert.ok(Number(moved[1]) < Number(moved[2]) / 100, `a bitmap resync moves a small part of the volume (${moved[1]} KiB)`);
  const dir = /Working in (\S+):/.exec(out)?.[1];
  assert.ok(dir);
  assert.equal(spawnSync('test', ['-e', dir]).status, 1, 'the temporary directory is gone');
});
