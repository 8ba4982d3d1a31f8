// Hostile and broken clients over a raw Unix socket: each gets an error reply or a closed
// connection, nothing outside the export window changes, and the server keeps serving.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as P from '../../src/runtime/nbd/protocol.js';
import { NbdErrno } from '../../src/runtime/nbd/block-export.js';
import { FileBlockExport } from '../../src/runtime/nbd/file-export.js';
import { GUARD_BYTE, RawClient, startHarness, type Harness } from '../helpers/nbd.js';

const SIZE = 1 << 20;
const GUARD = 64 * 1024;
let h: Harness;
let ro: FileBlockExport;

before(async () => {
  h = await startHarness({ sizeBytes: SIZE, guardBytes: GUARD, limits: { requestBytesMax: 256 * 1024, handshakeTimeoutMs: 300, optionCountMax: 8 } });
  ro = await FileBlockExport.open(h.file, { name: 'ro', readOnly: true, offsetBytes: GUARD, sizeBytes: SIZE });
  h.directory.add(ro);
});

after(async () => {
  await ro.close();
  await h.close();
});

async function assertServes(): Promise<void> {
  const c = await RawClient.connect(h.socket);
  try {
    await c.handshake('vol0', { structured: true });
    c.request(P.NBD_CMD_WRITE, 1, 4096, 5, { data: Buffer.from('hello') });
    assert.equal((await c.reply()).error, 0);
    c.request(P.NBD_CMD_READ, 2, 4096, 5);
    assert.equal((await c.reply()).data?.toString(), 'hello');
  } finally {
    c.close();
  }
}

async function assertGuardsIntact(): Promise<void> {
  const raw = await readFile(h.file);
  assert.ok(raw.subarray(0, GUARD).every((b) => b === GUARD_BYTE), 'guard before the window');
  assert.ok(raw.subarray(GUARD + SIZE).every((b) => b === GUARD_BYTE), 'guard after the window');
}

test('bad request magic closes the connection; the server still serves', async () => {
  const c = await RawClient.connect(h.socket);
  await c.handshake('vol0');
  c.send(P.encodeRequestHeader({ type: P.NBD_CMD_READ, offset: 0, length: 512 }, 0xdeadbeef));
  assert.ok(await c.waitClosed());
  await assertServes();
});

test('out-of-range, zero-length, oversize, unknown commands and bad flags get errors (simple replies)', async () => {
  const c = await RawClient.connect(h.socket);
  try {
    await c.handshake('vol0');
    const cases: [number, number, number, number, number, Buffer | undefined][] = [
      // type, offset, length, flags, expected errno, payload
      [P.NBD_CMD_READ, SIZE - 10, 20, 0, NbdErrno.EINVAL, undefined],
      [P.NBD_CMD_READ, 2 ** 63, 512, 0, NbdErrno.EINVAL, undefined],
      [P.NBD_CMD_READ, 0, 0, 0, NbdErrno.EINVAL, undefined],
      [P.NBD_CMD_READ, 0, 256 * 1024 + 1, 0, NbdErrno.EINVAL, undefined],
      [P.NBD_CMD_WRITE, SIZE - 2, 4, 0, NbdErrno.ENOSPC, Buffer.from('XXXX')],
      [P.NBD_CMD_WRITE, 0, 4, 0x80, NbdErrno.EINVAL, Buffer.from('YYYY')],
      [P.NBD_CMD_WRITE_ZEROES, SIZE, 1, 0, NbdErrno.ENOSPC, undefined],
      [P.NBD_CMD_TRIM, 2 ** 53, 1, 0, NbdErrno.ENOSPC, undefined],
      [P.NBD_CMD_BLOCK_STATUS, 0, 512, 0, NbdErrno.EINVAL, undefined],
      [P.NBD_CMD_CACHE, 0, 512, 0, NbdErrno.EINVAL, undefined],
      [77, 0, 512, 0, NbdErrno.EINVAL, undefined],
      [P.NBD_CMD_READ, 0, 512, P.NBD_CMD_FLAG_DF, NbdErrno.EINVAL, undefined], // DF needs structured replies
    ];
    let handle = 10;
    for (const [type, offset, length, flags, errno, data] of cases) {
      c.request(type, ++handle, offset, length, { flags, data });
      const r = await c.reply();
      assert.equal(r.handleLo, handle);
      assert.equal(r.error, errno, `type ${type} offset ${offset} length ${length}`);
    }
    // The rejected WRITE payloads were skipped: the stream is still in sync.
    c.request(P.NBD_CMD_READ, 99, 0, 4);
    const ok = await c.reply(new Map([[99, 4]]));
    assert.equal(ok.error, 0);
    assert.notEqual(ok.data!.toString('latin1'), 'YYYY');
  } finally {
    c.close();
  }
  await assertGuardsIntact();
});

test('structured replies carry an error chunk with a message', async () => {
  const c = await RawClient.connect(h.socket);
  try {
    await c.handshake('vol0', { structured: true });
    c.request(P.NBD_CMD_READ, 5, SIZE, 1);
    const r = await c.reply();
    assert.equal(r.kind, 'structured');
    assert.equal(r.error, NbdErrno.EINVAL);
    assert.match(r.message ?? '', /past the end/);
  } finally {
    c.close();
  }
});

test('writes to a read-only export get EPERM', async () => {
  const c = await RawClient.connect(h.socket);
  try {
    await c.handshake('ro');
    assert.ok(c.transmissionFlags & P.NBD_FLAG_READ_ONLY);
    c.request(P.NBD_CMD_WRITE, 1, 0, 3, { data: Buffer.from('abc') });
    assert.equal((await c.reply()).error, NbdErrno.EPERM);
    c.request(P.NBD_CMD_WRITE_ZEROES, 2, 0, 3);
    assert.equal((await c.reply()).error, NbdErrno.EPERM);
    c.request(P.NBD_CMD_READ, 3, 0, 3);
    assert.equal((await c.reply(new Map([[3, 3]]))).error, 0);
  } finally {
    c.close();
  }
});

test('a WRITE larger than requestBytesMax closes the connection', async () => {
  const c = await RawClient.connect(h.socket);
  await c.handshake('vol0');
  c.request(P.NBD_CMD_WRITE, 1, 0, 0xffffff00);
  c.send(Buffer.alloc(65536, 0xee));
  assert.ok(await c.waitClosed());
  await assertGuardsIntact();
  await assertServes();
});

test('handshake violations close the connection', async () => {
  // No FIXED_NEWSTYLE.
  let c = await RawClient.connect(h.socket);
  await c.greeting();
  c.send(P.encodeClientFlags(0));
  assert.ok(await c.waitClosed());
  // Unknown client flags.
  c = await RawClient.connect(h.socket);
  await c.greeting();
  c.send(P.encodeClientFlags(0x80000001));
  assert.ok(await c.waitClosed());
  // Bad option magic.
  c = await RawClient.connect(h.socket);
  await c.greeting();
  c.send(Buffer.concat([P.encodeClientFlags(1), Buffer.from('IHAVEOPX'), Buffer.alloc(8)]));
  assert.ok(await c.waitClosed());
  // Option with a huge payload.
  c = await RawClient.connect(h.socket);
  await c.greeting();
  const big = P.encodeOption(P.NBD_OPT_GO);
  big.writeUInt32BE(0x7fffffff, 12);
  c.send(Buffer.concat([P.encodeClientFlags(1), big]));
  assert.ok(await c.waitClosed());
  // Too many options.
  c = await RawClient.connect(h.socket);
  await c.greeting();
  c.send(P.encodeClientFlags(1));
  for (let i = 0; i < 8; i++) assert.equal((await c.option(1000 + i))[0]!.type, P.NBD_REP_ERR_UNSUP);
  c.send(P.encodeOption(2000));
  assert.ok(await c.waitClosed());
  // NBD_OPT_EXPORT_NAME of an unknown export cannot return an error: the session ends.
  c = await RawClient.connect(h.socket);
  await c.greeting();
  c.send(Buffer.concat([P.encodeClientFlags(1), P.encodeOption(P.NBD_OPT_EXPORT_NAME, Buffer.from('nope'))]));
  assert.ok(await c.waitClosed());
  await assertServes();
});

test('legacy NBD_OPT_EXPORT_NAME enters transmission', async () => {
  const c = await RawClient.connect(h.socket);
  try {
    await c.greeting();
    c.send(Buffer.concat([P.encodeClientFlags(1), P.encodeOption(P.NBD_OPT_EXPORT_NAME, Buffer.from('vol0'))]));
    const r = await c.read(134);
    assert.equal(P.readU64(r, 0), SIZE);
    c.request(P.NBD_CMD_READ, 1, 4096, 5);
    assert.equal((await c.reply(new Map([[1, 5]]))).error, 0);
  } finally {
    c.close();
  }
});

test('slowloris: an unfinished handshake is dropped after handshakeTimeoutMs', async () => {
  const c = await RawClient.connect(h.socket);
  await c.greeting();
  c.send(Buffer.from([0, 0])); // half of the client flags, then nothing
  const t0 = Date.now();
  assert.ok(await c.waitClosed(3000));
  assert.ok(Date.now() - t0 < 2000);
  assert.ok(h.logger.lines.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes('handshake not finished')));
});

test('clients vanishing mid-request do not disturb the server', async () => {
  for (let i = 0; i < 5; i++) {
    const c = await RawClient.connect(h.socket);
    await c.handshake('vol0');
    c.request(P.NBD_CMD_WRITE, 1, 0, 65536);
    c.send(Buffer.alloc(1000, 0x11)); // partial payload
    c.request(P.NBD_CMD_READ, 2, 0, 65536);
    c.close();
  }
  const c = await RawClient.connect(h.socket);
  await c.handshake('vol0');
  c.request(P.NBD_CMD_READ, 2, 0, 65536);
  c.close(); // close with a read in flight
  await assertServes();
  await assertGuardsIntact();
  const raw = await readFile(h.file);
  assert.notEqual(raw[GUARD], 0x11, 'a partial write payload is never written');
});

test('every warning names the peer and a reason', () => {
  const warns = h.logger.lines.filter((l) => l.level === 'warn');
  assert.ok(warns.length > 0);
  for (const w of warns) {
    assert.equal(typeof w.obj, 'object');
    assert.ok('peer' in (w.obj as object));
  }
  assert.equal(h.logger.lines.filter((l) => l.level === 'error').length, 0);
});
