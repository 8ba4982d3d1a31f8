// Server semantics with an in-memory export whose operations complete when the test says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { NbdServer } from '../../src/runtime/nbd/server.js';
import { StaticExportDirectory } from '../../src/runtime/nbd/directory.js';
import { BlockIoError, NbdErrno, type BlockExport } from '../../src/runtime/nbd/block-export.js';
import * as P from '../../src/runtime/nbd/protocol.js';
import { RawClient, memoryLogger } from '../helpers/nbd.js';

interface Pending {
  op: string;
  offset: number;
  release: () => void;
}

/** Memory-backed export; when `gate` is on, every operation waits until released. */
class GatedExport implements BlockExport {
  readonly description = 'gated';
  readonly readOnly = false;
  readonly data: Buffer;
  gate = true;
  pending: Pending[] = [];
  attached = 0;
  flushes = 0;
  constructor(
    readonly name: string,
    readonly sizeBytes: number,
  ) {
    this.data = Buffer.alloc(sizeBytes);
  }
  private wait(op: string, offset: number): Promise<void> {
    if (!this.gate) return Promise.resolve();
    return new Promise((resolve) => this.pending.push({ op, offset, release: resolve }));
  }
  async read(offset: number, length: number): Promise<Buffer> {
    await this.wait('read', offset);
    return Buffer.from(this.data.subarray(offset, offset + length));
  }
  async write(offset: number, d: Buffer, _fua: boolean): Promise<void> {
    await this.wait('write', offset);
    if (offset === 4096 * 13) throw new BlockIoError(NbdErrno.EIO, 'injected media error');
    d.copy(this.data, offset);
  }
  async flush(): Promise<void> {
    await this.wait('flush', 0);
    this.flushes++;
  }
  async trim(): Promise<void> {}
  async writeZeroes(offset: number, length: number): Promise<void> {
    await this.wait('zero', offset);
    this.data.fill(0, offset, offset + length);
  }
  attach(): void {
    this.attached++;
  }
  detach(): void {
    this.attached--;
  }
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setup(limits = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'safeside-nbd-srv-'));
  const exp = new GatedExport('mem', 1 << 20);
  const directory = new StaticExportDirectory().add(exp);
  directory.refuse('secondary', 'Wrong medium type');
  const logger = memoryLogger();
  const server = new NbdServer({ directory, logger, limits });
  const socket = path.join(dir, 's');
  await server.listenUnix(socket);
  return {
    exp,
    directory,
    server,
    logger,
    socket,
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('requests run concurrently and replies come back out of order, after the export completes', async () => {
  const s = await setup();
  const c = await RawClient.connect(s.socket);
  try {
    await c.handshake('mem');
    assert.equal(s.exp.attached, 1);
    for (let i = 0; i < 4; i++) c.request(P.NBD_CMD_WRITE, 100 + i, i * 4096, 4096, { data: Buffer.alloc(4096, i + 1) });
    await until(() => s.exp.pending.length === 4);
    // Nothing may be acknowledged before the export resolves.
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(s.exp.data[0], 0);
    s.exp.pending[2]!.release();
    const r1 = await c.reply();
    assert.equal(r1.handleLo, 102);
    assert.equal(r1.error, 0);
    for (const p of [3, 0, 1]) s.exp.pending[p]!.release();
    const rest = [await c.reply(), await c.reply(), await c.reply()].map((r) => r.handleLo);
    assert.deepEqual(rest.sort(), [100, 101, 103]);
    s.exp.pending = [];
    s.exp.gate = false;
    c.request(P.NBD_CMD_READ, 7, 4096 * 3, 4096);
    const rd = await c.reply(new Map([[7, 4096]]));
    assert.deepEqual(rd.data, Buffer.alloc(4096, 4));
    // An export failure is sent back as its NBD errno.
    c.request(P.NBD_CMD_WRITE, 8, 4096 * 13, 512, { data: Buffer.alloc(512) });
    assert.equal((await c.reply()).error, NbdErrno.EIO);
  } finally {
    c.close();
    await s.close();
  }
});

test('in-flight limit pauses parsing until requests complete', async () => {
  const s = await setup({ inflightRequestsMax: 3 });
  const c = await RawClient.connect(s.socket);
  try {
    await c.handshake('mem', { structured: true });
    for (let i = 0; i < 10; i++) c.request(P.NBD_CMD_READ, i, i * 512, 512);
    await until(() => s.exp.pending.length === 3);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s.exp.pending.length, 3, 'no more than 3 dispatched');
    s.exp.gate = false;
    for (const p of s.exp.pending) p.release();
    const handles = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const r = await c.reply();
      assert.equal(r.error, 0);
      assert.equal(r.data!.length, 512);
      handles.add(r.handleLo);
    }
    assert.equal(handles.size, 10);
  } finally {
    c.close();
    await s.close();
  }
});

test('NBD_CMD_DISC waits for in-flight requests, then closes', async () => {
  const s = await setup();
  const c = await RawClient.connect(s.socket);
  try {
    await c.handshake('mem');
    c.request(P.NBD_CMD_WRITE, 1, 0, 4, { data: Buffer.from('abcd') });
    c.request(P.NBD_CMD_DISC, 2, 0, 0);
    await until(() => s.exp.pending.length === 1);
    assert.equal(c.closed, false);
    s.exp.pending[0]!.release();
    const r = await c.reply();
    assert.equal(r.handleLo, 1);
    assert.ok(await c.waitClosed());
    assert.equal(s.exp.data.toString('latin1', 0, 4), 'abcd');
    await until(() => s.server.connectionCount() === 0);
    assert.equal(s.exp.attached, 0);
  } finally {
    c.close();
    await s.close();
  }
});

test('FLUSH delegates to export.flush after earlier writes were acknowledged', async () => {
  const s = await setup();
  s.exp.gate = false;
  const c = await RawClient.connect(s.socket);
  try {
    await c.handshake('mem');
    c.request(P.NBD_CMD_WRITE, 1, 0, 4, { data: Buffer.from('abcd') });
    assert.equal((await c.reply()).error, 0);
    c.request(P.NBD_CMD_FLUSH, 2, 0, 0);
    assert.equal((await c.reply()).error, 0);
    assert.equal(s.exp.flushes, 1);
  } finally {
    c.close();
    await s.close();
  }
});

test('refused and unknown exports get POLICY / UNKNOWN with a message; the session continues', async () => {
  const s = await setup();
  const c = await RawClient.connect(s.socket);
  try {
    await c.greeting();
    c.send(P.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE));
    const refused = await c.option(P.NBD_OPT_GO, P.encodeInfoRequest('secondary'));
    assert.equal(refused[0]!.type, P.NBD_REP_ERR_POLICY);
    assert.equal(refused[0]!.data.toString(), 'Wrong medium type');
    const unknown = await c.option(P.NBD_OPT_INFO, P.encodeInfoRequest('nope'));
    assert.equal(unknown[0]!.type, P.NBD_REP_ERR_UNKNOWN);
    assert.match(unknown[0]!.data.toString(), /nope/);
    const unsup = await c.option(999);
    assert.equal(unsup[0]!.type, P.NBD_REP_ERR_UNSUP);
    const bad = await c.option(P.NBD_OPT_LIST, Buffer.from('x'));
    assert.equal(bad[0]!.type, P.NBD_REP_ERR_INVALID);
    const list = await c.option(P.NBD_OPT_LIST);
    assert.deepEqual(
      list.filter((r) => r.type === P.NBD_REP_SERVER).map((r) => P.decodeRepServer(r.data)!.name),
      ['mem', 'secondary'],
    );
    const info = await c.option(P.NBD_OPT_INFO, P.encodeInfoRequest('mem', [P.NBD_INFO_NAME, P.NBD_INFO_DESCRIPTION]));
    const decoded = info.filter((r) => r.type === P.NBD_REP_INFO).map((r) => P.decodeInfo(r.data)!);
    assert.ok(decoded.some((d) => d.type === P.NBD_INFO_EXPORT && 'sizeBytes' in d && d.sizeBytes === 1 << 20));
    assert.ok(decoded.some((d) => d.type === P.NBD_INFO_NAME && 'text' in d && d.text === 'mem'));
    assert.ok(decoded.some((d) => d.type === P.NBD_INFO_DESCRIPTION && 'text' in d && d.text === 'gated'));
    assert.equal(info[info.length - 1]!.type, P.NBD_REP_ACK);
    const abort = await c.option(P.NBD_OPT_ABORT);
    assert.equal(abort[0]!.type, P.NBD_REP_ACK);
    assert.ok(await c.waitClosed());
  } finally {
    c.close();
    await s.close();
  }
});

test('disconnectExport drops the clients of that export only', async () => {
  const s = await setup();
  s.exp.gate = false;
  const a = await RawClient.connect(s.socket);
  const b = await RawClient.connect(s.socket);
  try {
    await a.handshake('mem');
    await b.greeting();
    await until(() => s.server.connectionCount() === 2);
    assert.equal(s.server.disconnectExport('mem'), 1);
    assert.ok(await a.waitClosed());
    assert.equal(b.closed, false);
    s.directory.refuse('mem', 'Wrong medium type');
    b.send(P.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE));
    const r = await b.option(P.NBD_OPT_GO, P.encodeInfoRequest('mem'));
    assert.equal(r[0]!.type, P.NBD_REP_ERR_POLICY);
    await until(() => s.exp.attached === 0);
  } finally {
    a.close();
    b.close();
    await s.close();
  }
});

test('close() drops clients and stops listening', async () => {
  const s = await setup();
  const c = await RawClient.connect(s.socket);
  await c.handshake('mem');
  await s.server.close();
  assert.ok(await c.waitClosed());
  await assert.rejects(RawClient.connect(s.socket));
  assert.equal(s.server.connectionCount(), 0);
  await s.close();
});
