// NBD server: fixed newstyle handshake, concurrent transmission phase, simple and
// structured replies. The wire format lives in protocol.ts; storage behind BlockExport.
//
// Per connection: bytes are queued as they arrive and parsed continuously; each request is
// dispatched to the export at once (up to `inflightRequestsMax` / `inflightBytesMax`, beyond
// which the socket is paused), and replied to when its promise settles, so replies may be
// out of order (matched by handle). Replies completing in the same event-loop turn are
// coalesced into one writev by corking the socket until setImmediate.

import net from 'node:net';
import { lstat, unlink, chmod } from 'node:fs/promises';
import { BlockIoError, NbdErrno, type BlockExport, type ExportDirectory } from './block-export.js';
import { ByteQueue } from '../byte-queue.js';
import { payloadPool } from '../buffer-pool.js';
import { readIntoReusedBuffer, isReadInPlace } from '../socket-reader.js';
import * as P from './protocol.js';

export interface NbdLogger {
  info(objOrMsg: object | string, msg?: string): void;
  warn(objOrMsg: object | string, msg?: string): void;
  error(objOrMsg: object | string, msg?: string): void;
}

export interface NbdServerLimits {
  /** Largest READ/WRITE payload accepted, also advertised as the maximum block size. */
  requestBytesMax: number;
  /** Requests dispatched to the export and not yet replied, per connection. */
  inflightRequestsMax: number;
  /** Payload bytes held by in-flight requests plus unsent reply bytes, per connection. */
  inflightBytesMax: number;
  /** Time allowed from accept to the end of option haggling. */
  handshakeTimeoutMs: number;
  /** Options accepted during one handshake. */
  optionCountMax: number;
  /** Largest option payload accepted during the handshake. */
  optionBytesMax: number;
  /** Simultaneous client connections (all listeners together). */
  connectionCountMax: number;
}

export const DEFAULT_LIMITS: NbdServerLimits = {
  requestBytesMax: 32 * 1024 * 1024,
  inflightRequestsMax: 128,
  inflightBytesMax: 128 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  optionCountMax: 64,
  optionBytesMax: 16 * 1024,
  connectionCountMax: 1024,
};

export interface NbdServerOptions {
  directory: ExportDirectory;
  logger?: NbdLogger;
  limits?: Partial<NbdServerLimits>;
}

const noopLogger: NbdLogger = { info() {}, warn() {}, error() {} };

/** Warnings logged per connection before the rest are suppressed (a hostile client can't flood the log). */
const WARNINGS_PER_CONNECTION_MAX = 20;
const PREFERRED_BLOCK_BYTES = 4096;
/** Socket reads in the transmission phase go into one buffer of this size. */
const READ_BUFFER_BYTES = 256 * 1024;

export class NbdServer {
  readonly limits: NbdServerLimits;
  private readonly directory: ExportDirectory;
  private readonly logger: NbdLogger;
  private readonly listeners: { server: net.Server; unixPath?: string }[] = [];
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;
  private closed = false;

  constructor(options: NbdServerOptions) {
    this.directory = options.directory;
    this.logger = options.logger ?? noopLogger;
    this.limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
    const l = this.limits;
    for (const [k, v] of Object.entries(l)) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`NbdServer limit ${k} must be a positive integer, got ${v}`);
    }
    if (l.requestBytesMax > 0xffffffff - 8) throw new RangeError('requestBytesMax must fit a 32-bit reply chunk');
  }

  /** Listen on a Unix socket (mode 0600). A stale socket file left by a dead server is replaced. */
  async listenUnix(path: string): Promise<void> {
    this.assertOpen();
    await removeStaleSocket(path);
    const server = this.createServer();
    await listen(server, { path });
    this.listeners.push({ server, unixPath: path });
    await chmod(path, 0o600);
    this.logger.info({ socket: path }, 'nbd server listening');
  }

  /** Listen on TCP; port 0 picks an ephemeral port. Returns the bound address. */
  async listenTcp(host: string, port: number): Promise<{ host: string; port: number }> {
    this.assertOpen();
    const server = this.createServer();
    await listen(server, { host, port });
    this.listeners.push({ server });
    const addr = server.address() as net.AddressInfo;
    this.logger.info({ host: addr.address, port: addr.port }, 'nbd server listening');
    return { host: addr.address, port: addr.port };
  }

  connectionCount(): number {
    return this.connections.size;
  }

  /** Hard-disconnect every client using export `name` (e.g. the volume is being demoted). Returns how many. */
  disconnectExport(name: string): number {
    let n = 0;
    for (const c of this.connections) {
      if (c.exportName === name) {
        c.abort(`export ${JSON.stringify(name)} withdrawn`);
        n++;
      }
    }
    return n;
  }

  /** Stop listening and drop every client connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = this.listeners.map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const c of this.connections) c.abort('server shutting down');
    await Promise.all(closing);
    for (const { unixPath } of this.listeners) {
      if (unixPath !== undefined) await removeStaleSocket(unixPath).catch(() => {});
    }
    this.listeners.length = 0;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('NbdServer is closed');
  }

  private createServer(): net.Server {
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.accept(socket));
    server.maxConnections = this.limits.connectionCountMax;
    server.on('error', (err) => this.logger.error({ err: errorText(err) }, 'nbd listener error'));
    server.on('drop', (d) => this.logger.warn({ peer: d?.remoteAddress }, 'nbd connection dropped: connectionCountMax reached'));
    return server;
  }

  private accept(socket: net.Socket): void {
    const id = this.nextConnectionId++;
    const peer = socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}#${id}` : `unix#${id}`;
    if (this.closed) {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, peer, this.directory, this.limits, this.logger, () => this.connections.delete(conn));
    this.connections.add(conn);
  }
}

type Phase = 'handshake' | 'transmission' | 'closed';
type HandshakeState = 'clientFlags' | 'optionHeader' | 'optionData';

class Connection {
  exportName: string | null = null;
  private phase: Phase = 'handshake';
  private readonly queue = new ByteQueue();
  private pumping = false;
  private paused = false;
  private eof = false;
  private warnings = 0;

  // handshake
  private hs: HandshakeState = 'clientFlags';
  private optionCode = 0;
  private optionLength = 0;
  private optionCount = 0;
  private noZeroes = false;
  private structured = false;
  private handshakeTimer: NodeJS.Timeout | null;

  // transmission
  private exp: BlockExport | null = null;
  private attached = false;
  private inflight = 0;
  private inflightBytes = 0;
  private disconnectRequested = false;
  /** A WRITE whose header is parsed and whose payload is still arriving. */
  private pendingWrite = false;
  private pwFlags = 0;
  private pwHi = 0;
  private pwLo = 0;
  private pwOffset = 0;
  private pwLength = 0;
  private pwBuf: Buffer | null = null;
  private pwFilled = 0;
  /** Payload bytes of a rejected WRITE still to be thrown away. */
  private discardBytes = 0;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly peer: string,
    private readonly directory: ExportDirectory,
    private readonly limits: NbdServerLimits,
    private readonly logger: NbdLogger,
    private readonly onClosed: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') {
        this.logger.info({ peer: this.peer, export: this.exportName ?? undefined, reason: err.code }, 'nbd client went away');
      } else {
        this.warn(`socket error: ${errorText(err)}`);
      }
    });
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.pump());
    socket.on('end', () => {
      // The client closed its side: serve what is already queued and in flight, then close ours.
      this.eof = true;
      this.pump();
    });
    this.handshakeTimer = setTimeout(() => {
      this.handshakeTimer = null;
      this.abort(`handshake not finished within ${limits.handshakeTimeoutMs} ms`);
    }, limits.handshakeTimeoutMs);
    this.handshakeTimer.unref?.();
    this.write(P.encodeGreeting(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES));
  }

  /** Log at warn and destroy the connection. */
  abort(reason: string): void {
    if (this.phase === 'closed') return;
    this.warn(reason);
    this.destroy();
  }

  private destroy(): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.queue.clear();
    this.socket.destroy();
    this.cleanup();
  }

  private onClose(): void {
    if (this.phase !== 'closed') {
      this.phase = 'closed';
      this.queue.clear();
    }
    this.cleanup();
  }

  private cleanedUp = false;
  private cleanup(): void {
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    if (this.handshakeTimer !== null) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
    }
    if (this.attached && this.exp !== null) {
      this.attached = false;
      try {
        this.exp.detach?.();
      } catch (err) {
        this.logger.error({ peer: this.peer, err: errorText(err) }, 'nbd export detach failed');
      }
    }
    this.onClosed();
  }

  private warn(reason: string): void {
    this.warnings++;
    if (this.warnings <= WARNINGS_PER_CONNECTION_MAX) {
      this.logger.warn({ peer: this.peer, export: this.exportName ?? undefined, reason }, 'nbd client');
    } else if (this.warnings === WARNINGS_PER_CONNECTION_MAX + 1) {
      this.logger.warn({ peer: this.peer, export: this.exportName ?? undefined }, 'nbd client: further warnings suppressed');
    }
  }

  private write(b: Buffer): void {
    if (this.phase === 'closed' || !this.socket.writable) return;
    this.socket.write(b);
  }

  private onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    const pw = this.pwBuf;
    if (this.pendingWrite && pw !== null && this.queue.length === 0 && isReadInPlace(chunk, pw, this.pwFilled)) {
      this.pwFilled += chunk.length; // read straight into the payload buffer
    } else {
      this.queue.push(chunk);
    }
    this.pump();
  }

  /** The phase, re-read (defeats narrowing across calls that change it). */
  private currentPhase(): Phase {
    return this.phase;
  }

  /** Parse and act on as many queued bytes as possible, then set socket flow. */
  private pump(): void {
    if (this.pumping || this.phase === 'closed') return;
    this.pumping = true;
    let blocked = false;
    let needData = false;
    try {
      for (;;) {
        if (this.phase === 'handshake') {
          if (this.stepHandshake()) continue;
          needData = true;
          break;
        } else if (this.phase === 'transmission') {
          const r = this.stepTransmission();
          if (r === 'more') continue;
          blocked = r === 'blocked';
          needData = r === 'data';
          break;
        } else {
          break;
        }
      }
      if (this.eof && needData && this.currentPhase() !== 'closed') {
        if (this.phase === 'handshake') {
          this.destroy();
        } else {
          if (this.queue.length > 0 || this.pendingWrite) this.warn('connection closed in the middle of a request');
          this.disconnectRequested = true;
          this.queue.clear();
          this.maybeFinishDisconnect();
        }
      }
    } catch (err) {
      this.logger.error({ peer: this.peer, err: errorText(err) }, 'nbd internal error; dropping connection');
      this.destroy();
    } finally {
      this.pumping = false;
    }
    if (this.currentPhase() === 'closed') return;
    if (blocked && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!blocked && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  // ===================================================================================
  // Handshake
  // ===================================================================================

  /** Returns true if it made progress and should be called again. */
  private stepHandshake(): boolean {
    const q = this.queue;
    switch (this.hs) {
      case 'clientFlags': {
        if (q.length < P.CLIENT_FLAGS_BYTES) return false;
        const flags = q.take(P.CLIENT_FLAGS_BYTES).readUInt32BE(0);
        if ((flags & ~(P.NBD_FLAG_C_FIXED_NEWSTYLE | P.NBD_FLAG_C_NO_ZEROES)) !== 0) {
          this.abort(`unknown client flags 0x${flags.toString(16)}`);
          return false;
        }
        if ((flags & P.NBD_FLAG_C_FIXED_NEWSTYLE) === 0) {
          this.abort('client does not speak fixed newstyle negotiation');
          return false;
        }
        this.noZeroes = (flags & P.NBD_FLAG_C_NO_ZEROES) !== 0;
        this.hs = 'optionHeader';
        return true;
      }
      case 'optionHeader': {
        if (q.length < P.OPTION_HEADER_BYTES) return false;
        const h = P.decodeOptionHeader(q.take(P.OPTION_HEADER_BYTES));
        if (!h.magicOk) {
          this.abort('bad option magic');
          return false;
        }
        if (++this.optionCount > this.limits.optionCountMax) {
          this.abort(`more than ${this.limits.optionCountMax} options`);
          return false;
        }
        if (h.length > this.limits.optionBytesMax) {
          this.abort(`option ${optionName(h.option)} carries ${h.length} bytes (max ${this.limits.optionBytesMax})`);
          return false;
        }
        this.optionCode = h.option;
        this.optionLength = h.length;
        this.hs = 'optionData';
        return true;
      }
      case 'optionData': {
        if (q.length < this.optionLength) return false;
        const data = q.take(this.optionLength);
        this.hs = 'optionHeader';
        this.handleOption(this.optionCode, data);
        return this.phase !== 'closed';
      }
    }
  }

  private optionError(option: number, type: number, message: string): void {
    // Unsupported options are ordinary negotiation; refusals are worth a line; malformed ones a warning.
    if (type === P.NBD_REP_ERR_INVALID) this.warn(`option ${optionName(option)} invalid: ${message}`);
    else if (type !== P.NBD_REP_ERR_UNSUP) this.logger.info({ peer: this.peer, option: optionName(option), reason: message }, 'nbd option refused');
    this.write(P.encodeOptionError(option, type, message));
  }

  private handleOption(option: number, data: Buffer): void {
    switch (option) {
      case P.NBD_OPT_EXPORT_NAME: {
        const name = P.decodeName(data);
        if (name === null) {
          this.abort('NBD_OPT_EXPORT_NAME with an invalid name');
          return;
        }
        const found = this.lookup(name);
        if (found.kind !== 'ok') {
          // This option cannot return an error: the spec says terminate the session.
          this.abort(`NBD_OPT_EXPORT_NAME ${JSON.stringify(name)}: ${found.message}`);
          return;
        }
        this.write(P.encodeExportNameReply(found.exp.sizeBytes, this.transmissionFlags(found.exp), this.noZeroes));
        this.enterTransmission(name, found.exp);
        return;
      }
      case P.NBD_OPT_ABORT:
        this.write(P.encodeOptionReply(option, P.NBD_REP_ACK));
        this.phase = 'closed';
        this.queue.clear();
        this.socket.end();
        this.cleanup();
        return;
      case P.NBD_OPT_LIST: {
        if (data.length !== 0) return this.optionError(option, P.NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
        let list: { name: string; description: string }[];
        try {
          list = this.directory.list();
        } catch (err) {
          return this.optionError(option, P.NBD_REP_ERR_POLICY, `cannot list exports: ${errorText(err)}`);
        }
        for (const e of list) this.write(P.encodeOptionReply(option, P.NBD_REP_SERVER, P.encodeRepServer(e.name, e.description)));
        this.write(P.encodeOptionReply(option, P.NBD_REP_ACK));
        return;
      }
      case P.NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return this.optionError(option, P.NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        this.structured = true;
        this.write(P.encodeOptionReply(option, P.NBD_REP_ACK));
        return;
      case P.NBD_OPT_INFO:
      case P.NBD_OPT_GO: {
        const req = P.decodeInfoRequest(data);
        if (!req.ok) return this.optionError(option, P.NBD_REP_ERR_INVALID, req.reason);
        const found = this.lookup(req.name);
        if (found.kind !== 'ok') return this.optionError(option, found.replyType, found.message);
        const exp = found.exp;
        this.write(P.encodeOptionReply(option, P.NBD_REP_INFO, P.encodeInfoExport(exp.sizeBytes, this.transmissionFlags(exp))));
        const wanted = new Set(req.infoTypes);
        if (wanted.has(P.NBD_INFO_NAME)) {
          this.write(P.encodeOptionReply(option, P.NBD_REP_INFO, P.encodeInfoString(P.NBD_INFO_NAME, exp.name)));
        }
        if (wanted.has(P.NBD_INFO_DESCRIPTION) && exp.description !== '') {
          this.write(P.encodeOptionReply(option, P.NBD_REP_INFO, P.encodeInfoString(P.NBD_INFO_DESCRIPTION, exp.description)));
        }
        // Minimum 1: no alignment constraints, so it is safe to send even when not asked for.
        this.write(
          P.encodeOptionReply(
            option,
            P.NBD_REP_INFO,
            P.encodeInfoBlockSize(1, Math.min(PREFERRED_BLOCK_BYTES, this.limits.requestBytesMax), this.limits.requestBytesMax),
          ),
        );
        this.write(P.encodeOptionReply(option, P.NBD_REP_ACK));
        if (option === P.NBD_OPT_GO) this.enterTransmission(req.name, exp);
        return;
      }
      case P.NBD_OPT_STARTTLS:
        return this.optionError(option, P.NBD_REP_ERR_UNSUP, 'TLS is not supported by this server');
      default:
        return this.optionError(option, P.NBD_REP_ERR_UNSUP, `option ${optionName(option)} is not supported`);
    }
  }

  private lookup(
    name: string,
  ): { kind: 'ok'; exp: BlockExport } | { kind: 'error'; replyType: number; message: string } {
    let r;
    try {
      r = this.directory.lookup(name);
    } catch (err) {
      return { kind: 'error', replyType: P.NBD_REP_ERR_POLICY, message: `export lookup failed: ${errorText(err)}` };
    }
    switch (r.kind) {
      case 'ok':
        return { kind: 'ok', exp: r.export };
      case 'refused':
        return { kind: 'error', replyType: P.NBD_REP_ERR_POLICY, message: r.reason };
      default:
        return { kind: 'error', replyType: P.NBD_REP_ERR_UNKNOWN, message: `no export named ${JSON.stringify(name)}` };
    }
  }

  private transmissionFlags(exp: BlockExport): number {
    // CAN_MULTI_CONN: BlockExport.flush() makes everything completed before it durable,
    // whichever connection wrote it, so FLUSH/FUA effects are visible across connections.
    let f = P.NBD_FLAG_HAS_FLAGS | P.NBD_FLAG_SEND_FLUSH | P.NBD_FLAG_CAN_MULTI_CONN;
    if (exp.readOnly) f |= P.NBD_FLAG_READ_ONLY;
    else f |= P.NBD_FLAG_SEND_FUA | P.NBD_FLAG_SEND_TRIM | P.NBD_FLAG_SEND_WRITE_ZEROES;
    if (this.structured) f |= P.NBD_FLAG_SEND_DF;
    return f;
  }

  private enterTransmission(name: string, exp: BlockExport): void {
    if (this.handshakeTimer !== null) {
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
    }
    this.phase = 'transmission';
    // Requests are read through one reused buffer (no allocation per socket read); write
    // payloads land in pooled buffers, read straight into them once their header is parsed.
    readIntoReusedBuffer(
      this.socket,
      READ_BUFFER_BYTES,
      (chunk) => {
        this.onData(chunk);
        this.queue.compact();
      },
      // Write payloads are read by the kernel straight into their pooled buffers.
      () => (this.pendingWrite && this.queue.length === 0 && this.pwBuf !== null && this.phase === 'transmission' ? this.pwBuf.subarray(this.pwFilled) : null),
    );
    this.exportName = name;
    this.exp = exp;
    try {
      exp.attach?.();
      this.attached = true;
    } catch (err) {
      this.abort(`export attach failed: ${errorText(err)}`);
      return;
    }
    this.logger.info({ peer: this.peer, export: name, structured: this.structured }, 'nbd client attached');
  }

  // ===================================================================================
  // Transmission
  // ===================================================================================

  private canStartRequest(): boolean {
    if (this.inflight === 0) return this.socket.writableLength < this.limits.inflightBytesMax;
    return (
      this.inflight < this.limits.inflightRequestsMax &&
      this.inflightBytes + this.socket.writableLength < this.limits.inflightBytesMax
    );
  }

  /** 'more': progress made; 'data': waiting for bytes; 'blocked': back-pressure; 'stop': no more parsing. */
  private stepTransmission(): 'more' | 'data' | 'blocked' | 'stop' {
    const q = this.queue;
    if (this.disconnectRequested) {
      q.clear(); // nothing may follow NBD_CMD_DISC
      return 'stop';
    }
    if (this.discardBytes > 0) {
      this.discardBytes -= q.skip(this.discardBytes);
      return this.discardBytes > 0 ? 'data' : 'more';
    }
    if (this.pendingWrite) {
      const buf = this.pwBuf!;
      this.pwFilled += q.takeInto(buf, this.pwFilled, this.pwLength - this.pwFilled);
      if (this.pwFilled < this.pwLength) return 'data';
      this.pendingWrite = false;
      this.pwBuf = null;
      this.dispatch(P.NBD_CMD_WRITE, this.pwFlags, this.pwHi, this.pwLo, this.pwOffset, this.pwLength, buf);
      return 'more';
    }
    if (q.length < P.REQUEST_HEADER_BYTES) return 'data';
    if (!this.canStartRequest()) return 'blocked';

    const h = q.take(P.REQUEST_HEADER_BYTES);
    const magic = h.readUInt32BE(0);
    if (magic !== P.REQUEST_MAGIC) {
      this.abort(`bad request magic 0x${magic.toString(16)}`);
      return 'stop';
    }
    const flags = h.readUInt16BE(4);
    const type = h.readUInt16BE(6);
    const hi = h.readUInt32BE(8);
    const lo = h.readUInt32BE(12);
    const offset = h.readUInt32BE(16) * 4294967296 + h.readUInt32BE(20);
    const length = h.readUInt32BE(24);
    const exp = this.exp!;

    if (type === P.NBD_CMD_WRITE && length > this.limits.requestBytesMax) {
      // The payload cannot be skipped cheaply or safely; hard disconnect.
      this.abort(`WRITE of ${length} bytes exceeds requestBytesMax ${this.limits.requestBytesMax}`);
      return 'stop';
    }
    if (type === P.NBD_CMD_DISC) {
      this.disconnectRequested = true;
      q.clear();
      this.maybeFinishDisconnect();
      return 'stop';
    }

    const problem = this.validate(exp, flags, type, offset, length);
    if (problem !== null) {
      this.warn(`${commandName(type)} offset=${offset} length=${length} flags=0x${flags.toString(16)}: ${problem.message}`);
      this.replyError(type, hi, lo, problem.errno, problem.message);
      if (type === P.NBD_CMD_WRITE) this.discardBytes = length;
      return 'more';
    }
    if (type === P.NBD_CMD_WRITE) {
      // The payload is copied into a pooled buffer as it arrives: the socket's chunks die
      // young instead of living (and being promoted by the GC) until the write completes.
      this.pendingWrite = true;
      this.pwFlags = flags;
      this.pwHi = hi;
      this.pwLo = lo;
      this.pwOffset = offset;
      this.pwLength = length;
      this.pwBuf = payloadPool.acquire(length);
      this.pwFilled = 0;
      return 'more';
    }
    this.dispatch(type, flags, hi, lo, offset, length, null);
    return 'more';
  }

  private validate(
    exp: BlockExport,
    flags: number,
    type: number,
    offset: number,
    length: number,
  ): { errno: NbdErrno; message: string } | null {
    let allowed = P.NBD_CMD_FLAG_FUA;
    switch (type) {
      case P.NBD_CMD_READ:
        if (this.structured) allowed |= P.NBD_CMD_FLAG_DF;
        break;
      case P.NBD_CMD_WRITE_ZEROES:
        allowed |= P.NBD_CMD_FLAG_NO_HOLE;
        break;
      case P.NBD_CMD_WRITE:
      case P.NBD_CMD_FLUSH:
      case P.NBD_CMD_TRIM:
        break;
      default:
        return { errno: NbdErrno.EINVAL, message: `unsupported command ${commandName(type)}` };
    }
    if ((flags & ~allowed) !== 0) {
      return { errno: NbdErrno.EINVAL, message: `invalid flags 0x${flags.toString(16)} for ${commandName(type)}` };
    }
    if (type === P.NBD_CMD_FLUSH) return null;
    const writes = type !== P.NBD_CMD_READ;
    if (writes && exp.readOnly) return { errno: NbdErrno.EPERM, message: 'export is read-only' };
    if (length === 0) return { errno: NbdErrno.EINVAL, message: 'zero-length request' };
    if ((type === P.NBD_CMD_READ || type === P.NBD_CMD_WRITE) && length > this.limits.requestBytesMax) {
      return { errno: NbdErrno.EINVAL, message: `request of ${length} bytes exceeds the maximum ${this.limits.requestBytesMax}` };
    }
    if (offset > exp.sizeBytes || length > exp.sizeBytes - offset) {
      return {
        errno: writes ? NbdErrno.ENOSPC : NbdErrno.EINVAL,
        message: `range ${offset}+${length} is past the end of the export (${exp.sizeBytes} bytes)`,
      };
    }
    return null;
  }

  private dispatch(type: number, flags: number, hi: number, lo: number, offset: number, length: number, data: Buffer | null): void {
    const bytes = type === P.NBD_CMD_READ || type === P.NBD_CMD_WRITE ? length : 0;
    this.inflight++;
    this.inflightBytes += bytes;
    void this.execute(type, flags, hi, lo, offset, length, data, bytes);
  }

  private async execute(
    type: number,
    flags: number,
    hi: number,
    lo: number,
    offset: number,
    length: number,
    data: Buffer | null,
    bytes: number,
  ): Promise<void> {
    const exp = this.exp!;
    const fua = (flags & P.NBD_CMD_FLAG_FUA) !== 0;
    let result: Buffer | null = null;
    let failure: unknown = null;
    try {
      switch (type) {
        case P.NBD_CMD_READ:
          result = await exp.read(offset, length);
          if (result.length !== length) throw new BlockIoError(NbdErrno.EIO, `export returned ${result.length} of ${length} bytes`);
          break;
        case P.NBD_CMD_WRITE:
          await exp.write(offset, data!, fua);
          break;
        case P.NBD_CMD_FLUSH:
          await exp.flush();
          break;
        case P.NBD_CMD_TRIM:
          await exp.trim(offset, length, fua);
          break;
        case P.NBD_CMD_WRITE_ZEROES:
          await exp.writeZeroes(offset, length, fua);
          break;
      }
    } catch (err) {
      failure = err;
    }
    // The export is done with the payload (it retains it itself if it keeps it longer).
    if (data !== null) payloadPool.release(data);
    try {
      this.inflight--;
      this.inflightBytes -= bytes;
      if (failure !== null) {
        const errno = failure instanceof BlockIoError ? failure.nbdErrno : NbdErrno.EIO;
        const message = failure instanceof Error ? failure.message : String(failure);
        if (!(failure instanceof BlockIoError)) {
          this.logger.error({ peer: this.peer, export: this.exportName, command: commandName(type), offset, length, err: errorText(failure) }, 'nbd export failed');
        } else {
          this.warn(`${commandName(type)} offset=${offset} length=${length}: ${message}`);
        }
        this.replyError(type, hi, lo, errno, message);
      } else if (result !== null) {
        this.replyRead(hi, lo, offset, result);
      } else {
        this.replyOk(hi, lo);
      }
      // Nothing else in flight: nothing to coalesce with, send now rather than at setImmediate.
      if (this.inflight === 0 && this.corked) this.uncork();
      if (this.disconnectRequested) this.maybeFinishDisconnect();
      else if (this.paused) this.pump();
    } catch (err) {
      this.logger.error({ peer: this.peer, err: errorText(err) }, 'nbd internal error while replying; dropping connection');
      this.destroy();
    }
  }

  private maybeFinishDisconnect(): void {
    if (this.inflight > 0 || this.phase === 'closed') return;
    if (this.phase === 'handshake') {
      this.destroy();
      return;
    }
    this.phase = 'closed';
    this.queue.clear();
    if (this.corked) this.uncork();
    this.socket.end();
    this.cleanup();
  }

  private cork(): boolean {
    if (this.phase === 'closed' || !this.socket.writable) return false;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    return true;
  }

  private replyOk(hi: number, lo: number): void {
    if (!this.cork()) return;
    this.socket.write(P.encodeSimpleReply(0, hi, lo));
  }

  /** The read data is ours (one reference if it is pooled), until the socket has sent it. */
  private replyRead(hi: number, lo: number, offset: number, data: Buffer): void {
    if (!this.cork()) {
      payloadPool.release(data);
      return;
    }
    if (this.structured) {
      this.socket.write(P.encodeOffsetDataHeader(hi, lo, offset, data.length, true));
    } else {
      this.socket.write(P.encodeSimpleReply(0, hi, lo));
    }
    this.socket.write(data, () => payloadPool.release(data));
  }

  private replyError(type: number, hi: number, lo: number, errno: number, message: string): void {
    if (!this.cork()) return;
    if (this.structured) this.socket.write(P.encodeStructuredError(hi, lo, errno, message));
    else this.socket.write(P.encodeSimpleReply(errno, hi, lo));
    void type;
  }
}

function optionName(o: number): string {
  return P.OPTION_NAMES[o] !== undefined ? `NBD_OPT_${P.OPTION_NAMES[o]}` : `option ${o}`;
}

function commandName(t: number): string {
  return P.COMMAND_NAMES[t] !== undefined ? `NBD_CMD_${P.COMMAND_NAMES[t]}` : `command ${t}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function listen(server: net.Server, opts: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Remove a socket file nobody listens on; refuse to touch anything that is not a socket. */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path}: another server is listening on this socket`);
  await unlink(path).catch(() => {});
}
