// Real NBD clients against our server: nbdinfo, nbdcopy, qemu-io, fio (nbd engine), over a Unix
// socket and TCP on 127.0.0.1. Tests whose tool is missing are skipped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GUARD_BYTE, hasTool, runTool, startHarness, type Harness } from '../helpers/nbd.js';

const SIZE = 32 * 1024 * 1024;
const GUARD = 1024 * 1024;
let h: Harness;

before(async () => {
  h = await startHarness({ name: 'vol0', sizeBytes: SIZE, guardBytes: GUARD, description: 'replicated volume vol0' });
  h.directory.refuse('standby', 'Wrong medium type');
});
after(async () => {
  await h.close();
});

async function guardsIntact(): Promise<void> {
  const raw = await readFile(h.file);
  assert.ok(raw.subarray(0, GUARD).every((b) => b === GUARD_BYTE));
  assert.ok(raw.subarray(GUARD + SIZE).every((b) => b === GUARD_BYTE));
}

test('nbdinfo --json reports size and export name', { skip: !hasTool('nbdinfo') }, async () => {
  const r = await runTool('nbdinfo', ['--json', h.uri()], 20_000);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { protocol: string; exports: { 'export-name': string; 'export-size': number; can_flush: boolean; can_multi_conn: boolean }[] };
  assert.equal(j.protocol, 'newstyle-fixed');
  assert.equal(j.exports[0]!['export-name'], 'vol0');
  assert.equal(j.exports[0]!['export-size'], SIZE);
  assert.equal(j.exports[0]!.can_flush, true);
});

test('nbdinfo --list shows the exports', { skip: !hasTool('nbdinfo') }, async () => {
  const r = await runTool('nbdinfo', ['--list', `nbd+unix:///?socket=${h.socket}`], 20_000);
  assert.match(r.stdout, /export="vol0"/);
  assert.match(r.stdout, /replicated volume vol0/);
});

test('a refused export shows the reason', { skip: !hasTool('nbdinfo') }, async () => {
  // libnbd prints the server's message only in its debug output (the error line says
  // "Operation not supported"); the message travels in NBD_REP_ERR_POLICY.
  const r = await runTool('nbdinfo', [h.uri('standby')], 20_000, { LIBNBD_DEBUG: '1' });
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /server error message: Wrong medium type/);
  const u = await runTool('nbdinfo', [h.uri('missing')], 20_000);
  assert.notEqual(u.code, 0);
});

test('nbdcopy random data in and back out', { skip: !hasTool('nbdcopy') }, async () => {
  const src = path.join(h.dir, 'src.bin');
  const out = path.join(h.dir, 'out.bin');
  const data = randomBytes(SIZE);
  await writeFile(src, data);
  let r = await runTool('nbdcopy', [src, h.uri()], 60_000);
  assert.equal(r.code, 0, r.stderr);
  r = await runTool('nbdcopy', [h.uri(), out], 60_000);
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await readFile(out)).equals(data));
  const raw = await readFile(h.file);
  assert.ok(raw.subarray(GUARD, GUARD + SIZE).equals(data), 'bytes land at the window offset of the backing file');
  await guardsIntact();
});

test('qemu-io pattern write and verify', { skip: !hasTool('qemu-io') }, async () => {
  const r = await runTool(
    'qemu-io',
    ['-f', 'raw', '-c', 'write -P 0xab 0 1M', '-c', 'read -P 0xab 0 1M', '-c', 'write -z 2M 64k', '-c', 'read -P 0 2M 64k', '-c', 'flush', h.uri()],
    30_000,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error/i);
  assert.match(r.stdout, /read 1048576\/1048576 bytes at offset 0/);
  await guardsIntact();
});

test('fio randwrite with crc32c verification, iodepth 16', { skip: !hasTool('fio') }, async () => {
  const r = await runTool(
    'fio',
    [
      '--name=verify',
      '--ioengine=nbd',
      `--uri=${h.uri()}`,
      '--rw=randwrite',
      '--bs=4k',
      '--iodepth=16',
      '--size=8M',
      '--verify=crc32c',
      '--do_verify=1',
      '--output-format=json',
    ],
    60_000,
  );
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: { error: number; write: { io_bytes: number } }[] };
  assert.equal(j.jobs[0]!.error, 0);
  assert.equal(j.jobs[0]!.write.io_bytes, 8 * 1024 * 1024);
  await guardsIntact();
});

test('TCP on 127.0.0.1 with qemu-io', { skip: !hasTool('qemu-io') }, async () => {
  const addr = await h.server.listenTcp('127.0.0.1', 0);
  assert.ok(addr.port > 0);
  const uri = `nbd://127.0.0.1:${addr.port}/vol0`;
  const r = await runTool('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5c 4M 256k', '-c', 'read -P 0x5c 4M 256k', uri], 30_000);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed/);
  if (hasTool('nbdinfo')) {
    const i = await runTool('nbdinfo', ['--json', uri], 20_000);
    assert.equal((JSON.parse(i.stdout) as { exports: { 'export-size': number }[] }).exports[0]!['export-size'], SIZE);
  }
});

test('no internal errors were logged', () => {
  assert.deepEqual(h.logger.lines.filter((l) => l.level === 'error'), []);
});
