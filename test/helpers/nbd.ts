// Test helpers for the NBD server: temp exports, a raw protocol client, bounded child processes.

import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm, open as fsOpen } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { NbdServer, type NbdLogger, type NbdServerLimits } from '../../src/runtime/nbd/server.js';
import { FileBlockExport } from '../../src/runtime/nbd/file-export.js';
import { StaticExportDirectory } from '../../src/runtime/nbd/directory.js';
import { ByteQueue } from '../../src/runtime/byte-queue.js';
import * as P from '../../src/runtime/nbd/protocol.js';

export interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object | string;
  msg?: string;
}

export function memoryLogger(): NbdLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
}

export interface Harness {
  dir: string;
  socket: string;
  file: string;
  exp: FileBlockExport;
  directory: StaticExportDirectory;
  server: NbdServer;
  logger: ReturnType<typeof memoryLogger>;
  /** nbd+unix URI of an export (default: the harness export). */
  uri(name?: string): string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  name?: string;
  sizeBytes?: number;
  /** Bytes of guard area before and after the export window in the backing file (filled with 0x5a). */
  guardBytes?: number;
  readOnly?: boolean;
  limits?: Partial<NbdServerLimits>;
  description?: string;
}

export const GUARD_BYTE = 0x5a;

/** A server on a fresh Unix socket exporting a fresh file (with guard areas around the window). */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const name = options.name ?? 'vol0';
  const sizeBytes = options.sizeBytes ?? 16 * 1024 * 1024;
  const guard = options.guardBytes ?? 0;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'safeside-nbd-test-'));
  const file = path.join(dir, 'backing.img');
  const h = await fsOpen(file, 'w');
  await h.truncate(sizeBytes + 2 * guard);
  if (guard > 0) {
    const g = Buffer.alloc(guard, GUARD_BYTE);
    await h.write(g, 0, guard, 0);
    await h.write(g, 0, guard, guard + sizeBytes);
  }
  await h.close();
  const exp = await FileBlockExport.open(file, {
    name,
    description: options.description ?? 'test volume',
    readOnly: options.readOnly ?? false,
    offsetBytes: guard,
    sizeBytes,
  });
  const directory = new StaticExportDirectory().add(exp, { default: true });
  const logger = memoryLogger();
  const server = new NbdServer({ directory, logger, limits: options.limits ?? {} });
  const socket = path.join(dir, 'nbd.sock');
  await server.listenUnix(socket);
  return {
    dir,
    socket,
    file,
    exp,
    directory,
    server,
    logger,
    uri: (n = name) => `nbd+unix:///${encodeURIComponent(n)}?socket=${socket}`,
    async close() {
      await server.close();
      await exp.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface ToolResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Run a child process, bounded in time (SIGKILL on timeout); never rejects. */
export function runTool(cmd: string, args: string[], timeoutMs = 30_000, env: NodeJS.ProcessEnv = {}): Promise<ToolResult> {
  return new Promise((resolve) => {
    const opts = { timeout: timeoutMs, killSignal: 'SIGKILL' as const, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, ...env } };
    execFile(cmd, args, opts, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; signal?: string }) | null;
      resolve({
        code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
        signal: e?.signal ?? null,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

export interface Reply {
  kind: 'simple' | 'structured';
  handleLo: number;
  error: number;
  data: Buffer | null;
  message?: string;
}

/** A raw NBD client speaking through the codec, for tests that need to misbehave. */
export class RawClient {
  private readonly q = new ByteQueue();
  private waiter: (() => void) | null = null;
  closed = false;
  structured = false;
  transmissionFlags = 0;
  sizeBytes = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.q.push(c);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  static connect(socketPath: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ path: socketPath });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  static connectTcp(host: string, port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(b: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  /** Read exactly n bytes; rejects if the connection closes first or after timeoutMs. */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.q.length < n) {
      if (this.closed) throw new Error(`connection closed with ${this.q.length}/${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.q.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
    return Buffer.from(this.q.take(n));
  }

  /** Resolves true once the server closed the connection (within timeoutMs). */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
    return this.closed;
  }

  async greeting(): Promise<number> {
    const g = P.decodeGreeting(await this.read(P.GREETING_BYTES));
    if (!g.ok) throw new Error('bad greeting');
    return g.handshakeFlags;
  }

  async option(option: number, data?: Buffer): Promise<{ type: number; data: Buffer }[]> {
    this.send(P.encodeOption(option, data));
    const replies: { type: number; data: Buffer }[] = [];
    for (;;) {
      const h = P.decodeOptionReplyHeader(await this.read(P.OPTION_REPLY_HEADER_BYTES));
      if (!h.magicOk || h.option !== option) throw new Error(`bad option reply ${JSON.stringify(h)}`);
      const d = await this.read(h.length);
      replies.push({ type: h.type, data: d });
      if (h.type === P.NBD_REP_ACK || P.isOptionReplyError(h.type) || option === P.NBD_OPT_ABORT) return replies;
    }
  }

  /** Fixed newstyle handshake + optional structured replies + NBD_OPT_GO. */
  async handshake(name: string, opts: { structured?: boolean } = {}): Promise<void> {
    await this.greeting();
    this.send(P.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES));
    if (opts.structured) {
      const r = await this.option(P.NBD_OPT_STRUCTURED_REPLY);
      if (r[0]!.type !== P.NBD_REP_ACK) throw new Error('structured replies refused');
      this.structured = true;
    }
    const replies = await this.option(P.NBD_OPT_GO, P.encodeInfoRequest(name, [P.NBD_INFO_BLOCK_SIZE]));
    const last = replies[replies.length - 1]!;
    if (last.type !== P.NBD_REP_ACK) {
      throw new Error(`GO refused: type 0x${last.type.toString(16)} ${last.data.toString('utf8')}`);
    }
    for (const r of replies) {
      const info = r.type === P.NBD_REP_INFO ? P.decodeInfo(r.data) : null;
      if (info && info.type === P.NBD_INFO_EXPORT && 'sizeBytes' in info) {
        this.sizeBytes = info.sizeBytes;
        this.transmissionFlags = info.transmissionFlags;
      }
    }
  }

  request(type: number, handleLo: number, offset: number, length: number, opts: { flags?: number; data?: Buffer } = {}): void {
    const h = P.encodeRequestHeader({ type, flags: opts.flags ?? 0, handleHi: 0, handleLo, offset, length });
    this.send(opts.data ? Buffer.concat([h, opts.data]) : h);
  }

  /**
   * Read one complete reply. For simple replies to reads, pass the expected read lengths by handle
   * (the simple protocol is not self-describing).
   */
  async reply(readLengths: Map<number, number> = new Map(), timeoutMs = 5000): Promise<Reply> {
    const head = await this.read(4, timeoutMs);
    const magic = head.readUInt32BE(0);
    if (magic === P.SIMPLE_REPLY_MAGIC) {
      const rest = await this.read(12, timeoutMs);
      const error = rest.readUInt32BE(0);
      const handleLo = rest.readUInt32BE(8);
      const len = readLengths.get(handleLo);
      const data = error === 0 && len !== undefined ? await this.read(len, timeoutMs) : null;
      return { kind: 'simple', handleLo, error, data };
    }
    if (magic === P.STRUCTURED_REPLY_MAGIC) {
      // Collect chunks until DONE.
      let rest = await this.read(16, timeoutMs);
      let data: Buffer | null = null;
      let error = 0;
      let message: string | undefined;
      let handleLo = 0;
      for (;;) {
        const flags = rest.readUInt16BE(0);
        const type = rest.readUInt16BE(2);
        handleLo = rest.readUInt32BE(8);
        const len = rest.readUInt32BE(12);
        const payload = await this.read(len, timeoutMs);
        if (type === P.NBD_REPLY_TYPE_OFFSET_DATA) data = data ? Buffer.concat([data, payload.subarray(8)]) : payload.subarray(8);
        else if (type === P.NBD_REPLY_TYPE_ERROR) {
          const e = P.decodeStructuredError(payload)!;
          error = e.error;
          message = e.message;
        }
        if (flags & P.NBD_REPLY_FLAG_DONE) break;
        const m = (await this.read(4, timeoutMs)).readUInt32BE(0);
        if (m !== P.STRUCTURED_REPLY_MAGIC) throw new Error('bad chunk magic');
        rest = await this.read(16, timeoutMs);
      }
      return { kind: 'structured', handleLo, error, data, message };
    }
    throw new Error(`bad reply magic 0x${magic.toString(16)}`);
  }

  close(): void {
    this.socket.destroy();
  }
}
