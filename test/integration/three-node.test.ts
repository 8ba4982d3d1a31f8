// DRBD 9 style: one resource on three nodes (node-id, connection-mesh); one Primary
// replicates to both Secondaries, and the role can move to either of them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { NodeDaemon, haveTool, isRoot, run, sparseFile, tempDir } from '../helpers/node-daemon.js';

const skip = !isRoot() || !haveTool('qemu-io') || !haveTool('nbdfuse') ? 'needs root, qemu-io and nbdfuse' : false;
const names = ['alpha', 'bravo', 'charlie'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function config(dir: string, port: number): string {
  const hosts = names
    .map((n, i) => `  on ${n} { node-id ${i}; address 127.0.0.${i + 1}:${port}; volume 0 { device minor 0; disk ${dir}/${n}.img; meta-disk internal; } }`)
    .join('\n');
  return `resource r0 {\n  net { protocol C; cram-hmac-alg sha256; shared-secret "three"; verify-alg sha1; }\n${hosts}\n  connection-mesh { hosts ${names.join(' ')}; }\n}\n`;
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function inSyncWithAll(d: NodeDaemon): boolean {
  const r = d.cli(['status', '--json', 'r0']);
  if (r.code !== 0) return false;
  const s = JSON.parse(r.stdout)[0];
  return (
    s.devices[0]['disk-state'] === 'UpToDate' &&
    s.connections.length === 2 &&
    s.connections.every(
      (c: { 'connection-state': string; peer_devices: { 'replication-state': string; 'peer-disk-state': string; 'out-of-sync': number }[] }) =>
        c['connection-state'] === 'Connected' &&
        c.peer_devices[0]!['replication-state'] === 'Established' &&
        c.peer_devices[0]!['peer-disk-state'] === 'UpToDate' &&
        c.peer_devices[0]!['out-of-sync'] === 0,
    )
  );
}

test('three nodes: full sync to two Secondaries, replicated writes, role moves, identical replicas', { skip, timeout: 240_000 }, async () => {
  const dir = tempDir('three');
  const port = 7900 + Math.floor(Math.random() * 500);
  fs.writeFileSync(path.join(dir, 'r0.res'), config(dir, port));
  const daemons = names.map((n) => new NodeDaemon(path.join(dir, `state-${n}`), path.join(dir, 'r0.res'), n));
  try {
    for (const n of names) sparseFile(path.join(dir, `${n}.img`), 64 * 1024 * 1024);
    for (const d of daemons) await d.start();
    for (const d of daemons) assert.equal(d.cli(['create-md', 'r0']).code, 0);
    for (const d of daemons) assert.equal(d.cli(['up', 'r0']).code, 0);
    const [alpha, bravo, charlie] = daemons as [NodeDaemon, NodeDaemon, NodeDaemon];
    await waitFor('the mesh to connect', () => JSON.parse(alpha.cli(['status', '--json', 'r0']).stdout)[0].connections.every((c: { 'connection-state': string }) => c['connection-state'] === 'Connected'));
    assert.equal(alpha.cli(['primary', '--force', 'r0']).code, 0);
    await waitFor('both Secondaries to be in sync', () => inSyncWithAll(alpha));

    // Writes on the Primary reach both Secondaries.
    const uriA = JSON.parse(alpha.cli(['status', '--json', 'r0']).stdout)[0]['nbd-uri'];
    const w = run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x11 0 1M', '-c', 'write -P 0x22 8M 512k', '-c', 'flush', uriA]);
    assert.equal(w.code, 0, w.stderr);
    await waitFor('replication to settle', () => inSyncWithAll(alpha));

    // Move the role to charlie; bravo keeps replicating from the new Primary.
    assert.equal(alpha.cli(['secondary', 'r0']).code, 0);
    assert.equal(charlie.cli(['primary', 'r0']).code, 0);
    assert.equal(bravo.cli(['primary', 'r0']).code, 11, 'a second Primary is refused');
    const uriC = JSON.parse(charlie.cli(['status', '--json', 'r0']).stdout)[0]['nbd-uri'];
    const r = run('qemu-io', ['-f', 'raw', '-c', 'read -P 0x11 0 1M', '-c', 'read -P 0x22 8M 512k', '-c', 'write -P 0x33 16M 256k', '-c', 'flush', uriC]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Pattern verification failed/);
    await waitFor('replication from charlie to settle', () => inSyncWithAll(charlie));
    assert.equal(charlie.cli(['verify', 'r0', '--peer', 'alpha']).code, 0);
    await waitFor('verify to finish', () => inSyncWithAll(charlie));

    const sizeKiB = JSON.parse(charlie.cli(['status', '--json', 'r0']).stdout)[0].devices[0].size as number;
    for (const d of daemons) assert.equal(d.cli(['down', 'r0']).code, 0);
    const data = names.map((n) => fs.readFileSync(path.join(dir, `${n}.img`)).subarray(0, sizeKiB * 1024));
    assert.ok(data[0]!.equals(data[1]!), 'alpha and bravo hold the same data');
    assert.ok(data[0]!.equals(data[2]!), 'alpha and charlie hold the same data');
    assert.equal(data[0]![16 * 1024 * 1024], 0x33);
  } finally {
    for (const d of daemons) await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
