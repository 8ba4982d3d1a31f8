// kill -9 the daemon after acknowledged, flushed writes: after a restart every
// acknowledged byte is there, and the stale device of the dead daemon is cleaned up.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NodeDaemon, haveTool, isRoot, run, seedConfig, sparseFile, tempDir } from '../helpers/node-daemon.js';

const skip = !isRoot() || !haveTool('qemu-io') || !haveTool('nbdfuse') ? 'needs root, qemu-io and nbdfuse' : false;

test('acknowledged flushed writes survive kill -9 of the daemon', { skip }, async () => {
  const dir = tempDir('crash');
  const disk = path.join(dir, 'disk.img');
  sparseFile(disk, 64 * 1024 * 1024);
  fs.writeFileSync(path.join(dir, 'drbd.conf'), seedConfig('alpha', disk));
  const stateDir = path.join(dir, 'state');
  let daemon = new NodeDaemon(stateDir, path.join(dir, 'drbd.conf'), 'alpha');
  try {
    await daemon.start();
    assert.equal(daemon.cli(['create-md', 'r0']).code, 0);
    assert.equal(daemon.cli(['up', 'r0']).code, 0);
    assert.equal(daemon.cli(['primary', '--force', 'r0']).code, 0);
    const oldDevice = daemon.cli(['device', 'r0']).stdout.trim();
    const uri = JSON.parse(daemon.cli(['status', '--json', 'r0']).stdout)[0]['nbd-uri'] as string;

    // Distinct patterns at scattered offsets, each acknowledged and then flushed.
    const writes = Array.from({ length: 24 }, (_, i) => ({ offset: (i * 2654435761) % (60 * 1024 * 1024), pattern: 1 + i }));
    for (const w of writes) w.offset -= w.offset % 4096;
    const cmds = writes.flatMap((w) => ['-c', `write -P ${w.pattern} ${w.offset} 64k`]);
    const wrote = run('qemu-io', ['-f', 'raw', ...cmds, '-c', 'flush', uri]);
    assert.equal(wrote.code, 0, wrote.stderr + wrote.stdout);

    await daemon.crash();
    daemon = new NodeDaemon(stateDir, path.join(dir, 'drbd.conf'), 'alpha');
    await daemon.start();
    assert.match(daemon.log, /removed block devices left by a previous daemon/);
    assert.equal(fs.existsSync(`/sys/block/${path.basename(oldDevice)}/loop/backing_file`), false, 'stale loop device removed');

    assert.equal(daemon.cli(['up', 'r0']).code, 0);
    const s = JSON.parse(daemon.cli(['status', '--json', 'r0']).stdout);
    assert.equal(s[0].devices[0]['disk-state'], 'UpToDate');
    assert.equal(daemon.cli(['primary', 'r0']).code, 0);
    // Later writes may overwrite earlier ones where ranges overlap: check the last writer of each range.
    const reads = writes.flatMap((w, i) => {
      const overwritten = writes.slice(i + 1).some((o) => o.offset < w.offset + 65536 && w.offset < o.offset + 65536);
      return overwritten ? [] : ['-c', `read -P ${w.pattern} ${w.offset} 64k`];
    });
    assert.ok(reads.length > 10);
    const read = run('qemu-io', ['-f', 'raw', ...reads, uri]);
    assert.equal(read.code, 0);
    assert.doesNotMatch(read.stdout, /Pattern verification failed/);
    assert.equal(daemon.cli(['down', 'r0']).code, 0);
  } finally {
    await daemon.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
