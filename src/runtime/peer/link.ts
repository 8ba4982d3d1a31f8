// The replication link of one resource on this node: one TCP (optionally TLS) connection per
// configured peer, like DRBD's connection. Generic over message content: the replication core
// sends and receives { header, payload } pairs; this adapter only interprets its own
// handshake, authentication and keepalive frames. Wire format: frame.ts and docs/peer-protocol.md.
//
// Connection setup (per connection, both sides listen and dial):
//   initiator -> hello; acceptor checks resource, node id, source address, dialect, auth mode,
//   then -> hello. With cram-hmac-alg both send a 64-byte challenge and answer the other's with
//   HMAC(secret, challenge || be32(own node id)). The higher node id sends `ready` once it has
//   verified the lower one; the lower node id, having verified the higher and seen `ready`,
//   sends `commit` on exactly one connection and closes every other attempt for that peer.
//   So the lower node id alone decides which of two crossing connections survives, and
//   `connected` is only reported once both sides have authenticated each other.

import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  FRAME_KIND_NAMES,
  FRAME_LIMITS_DEFAULT,
  FrameDecoder,
  FrameKind,
  PeerProtocolError,
  encodeFrame,
  frameBytes,
  type Frame,
  type FrameHeader,
  type FrameLimits,
} from './frame.js';
import { payloadPool } from '../buffer-pool.js';
import { readIntoReusedBuffer } from '../socket-reader.js';

// ---------------------------------------------------------------------------------------------
// Public types

export interface PeerAddress {
  host: string;
  port: number;
}

export interface PeerNode {
  nodeId: number;
  name: string;
  address: PeerAddress;
}

export interface PeerAuthConfig {
  /** DRBD cram-hmac-alg name: sha1, sha256, sha512, md5, ... */
  alg: string;
  /** DRBD shared-secret (at most 64 bytes). */
  secret: string;
}

export interface PeerTlsConfig {
  key: string | Buffer;
  cert: string | Buffer;
  /** CA(s) that signed the peers' certificates (for self-signed setups: the peers' certs). */
  ca: string | Buffer | Array<string | Buffer>;
}

/** pino-shaped; debug is optional. */
export interface PeerLogger {
  debug?(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PeerLinkOptions {
  resource: string;
  self: PeerNode;
  peers: PeerNode[];
  auth?: PeerAuthConfig | null;
  tls?: PeerTlsConfig | null;
  /** DRBD connect-int: longest wait between connection attempts (back-off starts at connectBackoffMinMs). */
  connectIntervalMs?: number;
  connectBackoffMinMs?: number;
  /** DRBD ping-int: idle time before a ping is sent. */
  pingIntervalMs?: number;
  /** DRBD ping-timeout: time allowed for the ping-ack. */
  pingTimeoutMs?: number;
  /** DRBD timeout: queued data with no progress for this long = broken connection. */
  timeoutMs?: number;
  /** From TCP connect/accept until the connection is committed. */
  handshakeTimeoutMs?: number;
  /** Incoming connections still in their handshake, all peers together. */
  incomingPendingMax?: number;
  /** Limits for message frames once connected (handshake frames are limited much tighter). */
  frameLimits?: Partial<FrameLimits>;
  /** Dialect range offered in the handshake (tests use it to check refusal). */
  protocolMin?: number;
  protocolMax?: number;
  features?: string[];
  logger?: PeerLogger;
  random?: (n: number) => Buffer;
}

/** A message header: JSON-able values plus bigint. */
export type PeerMessageHeader = Record<string, unknown> & { type: string };

export interface PeerConnectedInfo {
  agreedVersion: number;
  authenticated: boolean;
  tls: boolean;
  /** Features both sides announced. */
  features: string[];
  /** Which side opened the TCP connection that survived. */
  initiator: 'self' | 'peer';
  local: PeerAddress;
  remote: PeerAddress;
}

export interface PeerLinkEvents {
  connected: [peerNodeId: number, info: PeerConnectedInfo];
  /** Large payloads may come as the received chunks (see FrameDecoder.setChunkedPayloadBytesMin). */
  message: [peerNodeId: number, header: PeerMessageHeader, payload: Buffer | readonly Buffer[] | null];
  disconnected: [peerNodeId: number, reason: string];
  refused: [peerNodeId: number, reason: string];
  drain: [peerNodeId: number];
}

export interface PeerStats {
  connected: boolean;
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  connectAttempts: number;
  connectionsEstablished: number;
  /** Connections established after an earlier one was lost. */
  reconnects: number;
  authFailures: number;
  protocolErrors: number;
  /** Connection attempts refused for any reason (auth, dialect, standalone, ...). */
  refusals: number;
  pingTimeouts: number;
  bufferedBytes: number;
}

export interface PeerLinkStats {
  peers: Record<number, PeerStats>;
  /** Incoming connections that never identified as a configured peer. */
  unattributed: { connectionsRefused: number; protocolErrors: number; bytesIn: number };
}

export type PeerConfigErrorCode = 'ERR_PEER_CONFIG' | 'ERR_PEER_AUTH_ALG' | 'ERR_PEER_SECRET';

/** The link's configuration is unusable (thrown by the constructor). */
export class PeerConfigError extends Error {
  override readonly name = 'PeerConfigError';
  constructor(
    readonly code: PeerConfigErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const PEER_PROTOCOL_MIN = 1;
export const PEER_PROTOCOL_MAX = 1;
export const CHALLENGE_BYTES = 64;
/** DRBD accepts peer challenges of 64..128 bytes. */
export const PEER_CHALLENGE_BYTES_MAX = 128;
/** DRBD's SHARED_SECRET_MAX. */
export const SHARED_SECRET_BYTES_MAX = 64;
export const NODE_ID_MAX = 31;

/** DRBD cram-hmac-alg names (kernel crypto API) -> node:crypto HMAC digests. */
const HMAC_ALGS: Record<string, string> = {
  md5: 'md5',
  sha1: 'sha1',
  sha224: 'sha224',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  'sha3-256': 'sha3-256',
  'sha3-512': 'sha3-512',
};
const NOT_HMAC = new Set(['crc32c', 'crc32', 'adler32', 'crct10dif']);

const DEFAULTS = {
  connectIntervalMs: 10_000,
  connectBackoffMinMs: 200,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 500,
  timeoutMs: 6_000,
  handshakeTimeoutMs: 5_000,
  incomingPendingMax: 64,
};

/** Frames before the connection is committed are small: hello, challenge, response, close. */
const HANDSHAKE_LIMITS: FrameLimits = { headerJsonBytesMax: 4096, payloadBytesMax: PEER_CHALLENGE_BYTES_MAX };
/** Socket reads of an established connection go into one buffer of this size. */
const READ_BUFFER_BYTES = 256 * 1024;
/** After sending a close frame, how long we wait for the peer to close before destroying. */
const LINGER_MS = 500;
const STOP_WAIT_MS = 2_000;
const FEATURES_COUNT_MAX = 64;
const TEXT_FROM_PEER_CHARS_MAX = 200;

/** Close-frame codes that mean "the peer refuses to talk to us as configured". */
const REFUSAL_CODES = new Set(['auth-failed', 'auth-mismatch', 'incompatible', 'refused']);

// ---------------------------------------------------------------------------------------------

type ConnState = 'tls' | 'hello' | 'auth' | 'established' | 'closed';

interface Slot {
  cfg: PeerNode;
  label: string;
  wanted: boolean;
  established: Conn | null;
  pending: Set<Conn>;
  reconnectTimer: NodeJS.Timeout | null;
  nextDelayMs: number;
  everConnected: boolean;
  stats: Omit<PeerStats, 'connected' | 'bufferedBytes'>;
}

interface Conn {
  id: number;
  raw: net.Socket;
  socket: net.Socket; // raw or its TLS wrapper
  initiator: boolean;
  slot: Slot | null;
  state: ConnState;
  remote: PeerAddress;
  decoder: FrameDecoder;
  tls: boolean;
  // handshake
  agreedVersion: number;
  features: string[];
  myChallenge: Buffer | null;
  responded: boolean;
  peerVerified: boolean;
  peerReady: boolean;
  readySent: boolean;
  // liveness
  lastRxAt: number;
  awaitingPingAck: boolean;
  flushedWrites: number;
  stallSnapshot: number;
  needDrain: boolean;
  corked: boolean;
  warned: boolean;
  socketError: string | null;
  timers: {
    handshake: NodeJS.Timeout | null;
    keepalive: NodeJS.Timeout | null;
    pingTimeout: NodeJS.Timeout | null;
    stall: NodeJS.Timeout | null;
    linger: NodeJS.Timeout | null;
  };
  closed: Promise<void>;
  resolveClosed: () => void;
}

const noopLogger: PeerLogger = { info() {}, warn() {}, error() {} };

export class PeerLink extends EventEmitter<PeerLinkEvents> {
  readonly resource: string;
  readonly self: PeerNode;
  private readonly slots = new Map<number, Slot>();
  private readonly auth: { alg: string; digest: string; key: Buffer } | null;
  private readonly secureContext: tls.SecureContext | null;
  private readonly tlsServer: tls.Server | null;
  private readonly tlsAccepting = new Map<string, Conn>();
  private readonly opts: typeof DEFAULTS & { protocolMin: number; protocolMax: number; features: string[] };
  private readonly frameLimits: FrameLimits;
  private readonly logger: PeerLogger;
  private readonly random: (n: number) => Buffer;
  private readonly conns = new Set<Conn>();
  private readonly unattributed = { connectionsRefused: 0, protocolErrors: 0, bytesIn: 0 };
  private server: net.Server | null = null;
  private started = false;
  private stopped = false;
  private nextConnId = 1;

  constructor(options: PeerLinkOptions) {
    super();
    const o = options;
    if (typeof o.resource !== 'string' || o.resource.length === 0) throw new PeerConfigError('ERR_PEER_CONFIG', 'resource name is empty');
    this.resource = o.resource;
    checkNode(o.self, 'self');
    this.self = cloneNode(o.self);
    if (!Array.isArray(o.peers)) throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: peers must be an array`);
    for (const p of o.peers) {
      checkNode(p, 'peer');
      if (p.nodeId === o.self.nodeId) {
        throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: peer ${p.name} has this node's own node-id ${p.nodeId}`);
      }
      if (this.slots.has(p.nodeId)) throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: node-id ${p.nodeId} configured twice`);
      const cfg = cloneNode(p);
      this.slots.set(p.nodeId, {
        cfg,
        label: `${o.resource}: peer ${cfg.name} (${formatAddress(cfg.address)})`,
        wanted: true,
        established: null,
        pending: new Set(),
        reconnectTimer: null,
        nextDelayMs: 0,
        everConnected: false,
        stats: {
          framesIn: 0,
          framesOut: 0,
          bytesIn: 0,
          bytesOut: 0,
          connectAttempts: 0,
          connectionsEstablished: 0,
          reconnects: 0,
          authFailures: 0,
          protocolErrors: 0,
          refusals: 0,
          pingTimeouts: 0,
        },
      });
    }
    const timers = { ...DEFAULTS };
    for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const v = o[k];
      if (v === undefined) continue;
      if (!Number.isSafeInteger(v) || v <= 0) throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: ${k} must be a positive integer, got ${v}`);
      timers[k] = v;
    }
    if (o.connectBackoffMinMs === undefined) timers.connectBackoffMinMs = Math.min(timers.connectBackoffMinMs, timers.connectIntervalMs);
    if (timers.connectBackoffMinMs > timers.connectIntervalMs) {
      throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: connectBackoffMinMs exceeds connectIntervalMs`);
    }
    const protocolMin = o.protocolMin ?? PEER_PROTOCOL_MIN;
    const protocolMax = o.protocolMax ?? PEER_PROTOCOL_MAX;
    if (!Number.isSafeInteger(protocolMin) || !Number.isSafeInteger(protocolMax) || protocolMin < 1 || protocolMin > protocolMax) {
      throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: bad protocol range ${protocolMin}-${protocolMax}`);
    }
    const features = [...(o.features ?? [])];
    if (features.length > FEATURES_COUNT_MAX || features.some((f) => typeof f !== 'string' || f.length === 0 || f.length > 64)) {
      throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: features must be at most ${FEATURES_COUNT_MAX} strings of 1-64 chars`);
    }
    this.opts = { ...timers, protocolMin, protocolMax, features };
    this.frameLimits = { ...FRAME_LIMITS_DEFAULT, ...(o.frameLimits ?? {}) };
    new FrameDecoder(this.frameLimits); // validates the limits
    for (const s of this.slots.values()) s.nextDelayMs = this.opts.connectBackoffMinMs;

    this.auth = o.auth ? resolveAuth(o.resource, o.auth) : null;
    if (o.tls) {
      try {
        this.secureContext = tls.createSecureContext({ key: o.tls.key, cert: o.tls.cert, ca: o.tls.ca });
      } catch (err) {
        throw new PeerConfigError('ERR_PEER_CONFIG', `${o.resource}: unusable TLS key/certificate: ${errorText(err)}`);
      }
      this.tlsServer = tls.createServer({
        key: o.tls.key,
        cert: o.tls.cert,
        ca: o.tls.ca,
        requestCert: true,
        rejectUnauthorized: false, // checked in onTlsServerSecure, to log why
        handshakeTimeout: this.opts.handshakeTimeoutMs,
      });
      this.tlsServer.on('secureConnection', (s: tls.TLSSocket) => this.onTlsServerSecure(s));
      this.tlsServer.on('tlsClientError', (err: Error, s: tls.TLSSocket) => this.onTlsServerError(err, s));
    } else {
      this.secureContext = null;
      this.tlsServer = null;
    }
    this.logger = o.logger ?? noopLogger;
    this.random = o.random ?? crypto.randomBytes;
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  /** Listen on self.address and start connecting to every wanted peer. Rejects on listen errors (EADDRINUSE). */
  async start(): Promise<void> {
    if (this.started) throw new Error(`${this.resource}: PeerLink already started`);
    if (this.stopped) throw new Error(`${this.resource}: PeerLink is stopped`);
    this.started = true;
    const server = net.createServer({ noDelay: true }, (raw) => this.onAccept(raw));
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.self.address.host, port: this.self.address.port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.started = false;
      server.close();
      throw err;
    }
    server.on('error', (err) => this.logger.error({ resource: this.resource, err: errorText(err) }, `${this.resource}: listener error: ${errorText(err)}`));
    if (this.stopped) {
      server.close();
      return;
    }
    this.server = server;
    this.logger.info({ resource: this.resource, address: formatAddress(this.self.address) }, `${this.resource}: listening on ${formatAddress(this.self.address)}`);
    for (const slot of this.slots.values()) if (slot.wanted) this.dial(slot);
  }

  /**
   * Queue a message for a peer. Returns false (and drops it) when the peer is not connected.
   * Backpressure: bufferedBytes(peer) grows; 'drain' is emitted once the socket drained after
   * its buffer passed the high-water mark. Throws on an unknown peer or an unencodable frame.
   */
  send(peerNodeId: number, header: PeerMessageHeader, payload?: Buffer | readonly Buffer[] | null): boolean {
    const slot = this.slotOf(peerNodeId);
    if (typeof header?.type !== 'string') throw new TypeError('message header needs a string "type"');
    const bufs = encodeFrame(FrameKind.message, header, payload ?? null, this.frameLimits);
    const conn = slot.established;
    if (conn === null || conn.state !== 'established') return false;
    this.write(conn, bufs);
    return true;
  }

  /** Bytes queued for a peer and not yet handed to the kernel. */
  bufferedBytes(peerNodeId: number): number {
    const conn = this.slotOf(peerNodeId).established;
    return conn === null ? 0 : conn.socket.writableLength;
  }

  isConnected(peerNodeId: number): boolean {
    return this.slotOf(peerNodeId).established !== null;
  }

  /** Operator disconnect: close the connection (if any) and stop connecting until connect(). */
  disconnect(peerNodeId: number, reason: string): void {
    const slot = this.slotOf(peerNodeId);
    slot.wanted = false;
    this.clearReconnect(slot);
    for (const c of [...slot.pending]) this.close(c, { reason, code: 'standalone', peerReason: 'peer disconnected by operator' });
    if (slot.established) {
      this.logger.info({ resource: this.resource, peer: slot.cfg.name }, `${slot.label}: disconnecting: ${reason}`);
      this.close(slot.established, { reason, code: 'operator', peerReason: reason });
    }
  }

  /** Undo disconnect(): connect now, and keep reconnecting after failures. */
  connect(peerNodeId: number): void {
    const slot = this.slotOf(peerNodeId);
    slot.wanted = true;
    slot.nextDelayMs = this.opts.connectBackoffMinMs;
    if (!this.started || this.stopped || slot.established || slot.pending.size > 0) return;
    this.clearReconnect(slot);
    this.dial(slot);
  }

  /** Close everything; resolves once every socket is closed (bounded by ~2 s). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const slot of this.slots.values()) this.clearReconnect(slot);
    const server = this.server;
    this.server = null;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const c of [...this.conns]) this.close(c, { reason: 'link stopped', code: 'shutdown', peerReason: 'peer is shutting down' });
    const all = Promise.all([serverClosed, ...[...this.conns].map((c) => c.closed)]);
    let cap: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((resolve) => (cap = setTimeout(resolve, STOP_WAIT_MS)))]);
    clearTimeout(cap);
    for (const c of this.conns) c.raw.destroy();
    this.tlsServer?.close();
  }

  stats(): PeerLinkStats {
    const peers: Record<number, PeerStats> = {};
    for (const [id, s] of this.slots) {
      peers[id] = {
        connected: s.established !== null,
        ...s.stats,
        bufferedBytes: s.established ? s.established.socket.writableLength : 0,
      };
    }
    return { peers, unattributed: { ...this.unattributed } };
  }

  // -------------------------------------------------------------------------------------------
  // Connection lifecycle

  private slotOf(peerNodeId: number): Slot {
    const slot = this.slots.get(peerNodeId);
    if (slot === undefined) throw new RangeError(`${this.resource}: no peer with node-id ${peerNodeId}`);
    return slot;
  }

  private newConn(raw: net.Socket, initiator: boolean, slot: Slot | null, remote: PeerAddress): Conn {
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const conn: Conn = {
      id: this.nextConnId++,
      raw,
      socket: raw,
      initiator,
      slot,
      state: this.secureContext ? 'tls' : 'hello',
      remote,
      decoder: new FrameDecoder(HANDSHAKE_LIMITS),
      tls: this.secureContext !== null,
      agreedVersion: 0,
      features: [],
      myChallenge: null,
      responded: false,
      peerVerified: false,
      peerReady: false,
      readySent: false,
      lastRxAt: performance.now(),
      awaitingPingAck: false,
      flushedWrites: 0,
      stallSnapshot: 0,
      needDrain: false,
      corked: false,
      warned: false,
      socketError: null,
      timers: { handshake: null, keepalive: null, pingTimeout: null, stall: null, linger: null },
      closed,
      resolveClosed,
    };
    this.conns.add(conn);
    raw.setNoDelay(true);
    raw.on('error', (err) => {
      conn.socketError ??= errorCode(err);
    });
    raw.on('close', () => this.onSocketClosed(conn));
    conn.timers.handshake = unref(setTimeout(() => this.onHandshakeTimeout(conn), this.opts.handshakeTimeoutMs));
    return conn;
  }

  private dial(slot: Slot): void {
    if (this.stopped || !slot.wanted) return;
    slot.stats.connectAttempts++;
    const bind = this.self.address.host;
    const raw = net.connect({
      host: slot.cfg.address.host,
      port: slot.cfg.address.port,
      localAddress: isWildcard(bind) ? undefined : bind,
      noDelay: true,
    });
    const conn = this.newConn(raw, true, slot, { ...slot.cfg.address });
    slot.pending.add(conn);
    this.debug(conn, 'connecting');
    raw.once('connect', () => {
      if (conn.state === 'closed') return;
      if (this.secureContext) {
        const t = tls.connect({
          socket: raw,
          secureContext: this.secureContext,
          checkServerIdentity: () => undefined, // identity = the configured CA + node id + HMAC
          rejectUnauthorized: false, // checked below, to log why
        });
        conn.socket = t;
        t.on('error', (err) => {
          conn.socketError ??= errorCode(err);
        });
        t.once('secureConnect', () => {
          if (conn.state === 'closed') return;
          if (!t.authorized) {
            this.refuse(conn, 'refused', `TLS: peer certificate rejected (${t.authorizationError ?? 'unknown reason'})`, { event: true });
            return;
          }
          this.attach(conn);
          this.sendHello(conn);
        });
      } else {
        this.attach(conn);
        this.sendHello(conn);
      }
    });
  }

  private onAccept(raw: net.Socket): void {
    const remote = { host: normalizeHost(raw.remoteAddress ?? '?'), port: raw.remotePort ?? 0 };
    if (this.stopped) {
      raw.destroy();
      return;
    }
    let incoming = 0;
    for (const c of this.conns) if (!c.initiator && c.state !== 'established' && c.state !== 'closed') incoming++;
    if (incoming >= this.opts.incomingPendingMax) {
      this.unattributed.connectionsRefused++;
      this.logger.warn({ resource: this.resource, remote: formatAddress(remote) }, `${this.resource}: connection from ${formatAddress(remote)} dropped: ${incoming} handshakes already in progress`);
      raw.on('error', () => {});
      raw.destroy();
      return;
    }
    const conn = this.newConn(raw, false, null, remote);
    const known = [...this.slots.values()].some((s) => s.cfg.address.host === remote.host);
    if (!known) {
      this.refuse(conn, 'refused', `connection from ${formatAddress(remote)} refused: not the address of any peer of this resource`, {});
      return;
    }
    if (this.tlsServer) {
      const key = formatAddress(remote);
      this.tlsAccepting.set(key, conn);
      this.tlsServer.emit('connection', raw);
    } else {
      this.attach(conn);
    }
  }

  private onTlsServerSecure(t: tls.TLSSocket): void {
    const key = formatAddress({ host: normalizeHost(t.remoteAddress ?? '?'), port: t.remotePort ?? 0 });
    const conn = this.tlsAccepting.get(key);
    this.tlsAccepting.delete(key);
    if (conn === undefined || conn.state === 'closed') {
      t.destroy();
      return;
    }
    conn.socket = t;
    t.on('error', (err) => {
      conn.socketError ??= errorCode(err);
    });
    if (!t.authorized) {
      this.refuse(conn, 'refused', `connection from ${formatAddress(conn.remote)} refused: TLS peer certificate rejected (${t.authorizationError ?? 'none presented'})`, {});
      return;
    }
    this.attach(conn);
  }

  private onTlsServerError(err: Error, t: tls.TLSSocket): void {
    const key = formatAddress({ host: normalizeHost(t.remoteAddress ?? '?'), port: t.remotePort ?? 0 });
    const conn = this.tlsAccepting.get(key);
    this.tlsAccepting.delete(key);
    t.destroy();
    if (conn !== undefined) this.fail(conn, `TLS handshake failed: ${errorText(err)}`, 'warn');
  }

  /** Start reading frames (after TLS, if any). */
  private attach(conn: Conn): void {
    if (conn.state === 'closed') return;
    if (conn.state === 'tls') conn.state = 'hello';
    const s = conn.socket;
    s.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    s.on('drain', () => {
      if (conn.needDrain && conn.state === 'established' && conn.slot) {
        conn.needDrain = false;
        this.emit('drain', conn.slot.cfg.nodeId);
      }
    });
    if (s !== conn.raw) s.on('close', () => this.onSocketClosed(conn));
  }

  private onSocketClosed(conn: Conn): void {
    if (conn.state !== 'closed') {
      let reason: string;
      if (conn.socketError) reason = `connection lost (${conn.socketError})`;
      else if (conn.decoder.midFrame) reason = 'peer closed the connection in the middle of a frame';
      else reason = 'peer closed the connection';
      this.fail(conn, reason, conn.state === 'established' ? 'warn' : 'debug');
    }
    this.clearTimers(conn);
    this.conns.delete(conn);
    conn.resolveClosed();
  }

  private onHandshakeTimeout(conn: Conn): void {
    conn.timers.handshake = null;
    if (conn.state === 'closed' || conn.state === 'established') return;
    const what = conn.initiator && conn.raw.connecting ? 'TCP connect' : conn.state === 'tls' ? 'TLS handshake' : 'handshake';
    if (conn.slot === null) this.unattributed.protocolErrors++;
    this.fail(conn, `${what} timed out after ${this.opts.handshakeTimeoutMs} ms`, conn.slot === null || !conn.initiator ? 'warn' : 'debug', 'timeout');
  }

  /**
   * Close a connection. `code` set: send a close frame (with peerReason) and end gracefully.
   * Reports `disconnected(reason)` if it was the peer's established connection.
   */
  private close(conn: Conn, o: { reason: string; code?: string; peerReason?: string }): void {
    if (conn.state === 'closed') return;
    const wasEstablished = conn.state === 'established';
    conn.state = 'closed';
    this.clearTimers(conn);
    const s = conn.socket;
    if (o.code !== undefined && !s.destroyed && s.writable && !(conn.tls && s === conn.raw)) {
      try {
        const bufs = encodeFrame(FrameKind.close, { code: o.code, reason: sanitize(o.peerReason ?? o.reason) });
        if (conn.corked) {
          conn.corked = false;
          s.uncork();
        }
        for (const b of bufs) s.write(b);
        s.end();
      } catch {
        s.destroy();
      }
      conn.timers.linger = unref(setTimeout(() => conn.raw.destroy(), LINGER_MS));
    } else {
      s.destroy();
      conn.raw.destroy();
    }
    const slot = conn.slot;
    if (slot === null) return;
    slot.pending.delete(conn);
    if (slot.established === conn) {
      slot.established = null;
      if (wasEstablished) this.emit('disconnected', slot.cfg.nodeId, o.reason);
    }
    this.scheduleReconnect(slot);
  }

  /** A connection failed (by itself, or the peer misbehaved): log and close. */
  private fail(conn: Conn, reason: string, level: 'warn' | 'info' | 'debug', code?: string): void {
    if (conn.state === 'closed') return;
    if (conn.state === 'established') {
      this.warnOnce(conn, `connection lost: ${reason}`);
    } else if (level === 'warn') {
      this.warnOnce(conn, `connection attempt failed: ${reason}`);
    } else if (level === 'info') {
      this.log('info', conn, `connection attempt failed: ${reason}`);
    } else {
      this.debug(conn, `connection attempt failed: ${reason}`);
    }
    this.close(conn, code === undefined ? { reason } : { reason, code, peerReason: reason });
  }

  /**
   * Refuse a connection attempt: warn once, count, tell the peer why in a close frame.
   * `event`: emit refused(peer) (identified peer we cannot talk to as configured).
   */
  private refuse(
    conn: Conn,
    code: string,
    reason: string,
    o: { event?: boolean; auth?: boolean; peerReason?: string; level?: 'warn' | 'info' },
  ): void {
    if (conn.state === 'closed') return;
    const slot = conn.slot;
    if (slot === null) {
      this.unattributed.connectionsRefused++;
      this.warnOnce(conn, reason);
      // Unknown peers learn nothing beyond "refused".
      this.close(conn, { reason, code: 'refused', peerReason: 'connection refused' });
      return;
    }
    slot.stats.refusals++;
    if (o.auth) slot.stats.authFailures++;
    if (o.level === 'info') this.log('info', conn, reason);
    else this.warnOnce(conn, reason);
    if (o.event) {
      // Misconfiguration does not heal by itself: retry at the slow pace.
      slot.nextDelayMs = this.opts.connectIntervalMs;
    }
    this.close(conn, { reason, code, peerReason: o.peerReason ?? reason });
    if (o.event) this.emit('refused', slot.cfg.nodeId, reason);
  }

  private protocolError(conn: Conn, err: PeerProtocolError): void {
    if (conn.state === 'closed') return;
    if (conn.slot) conn.slot.stats.protocolErrors++;
    else this.unattributed.protocolErrors++;
    const reason = `protocol error: ${err.message} (${err.code})`;
    if (conn.state === 'established') {
      this.warnOnce(conn, `connection lost: ${reason}`);
      this.close(conn, { reason, code: 'protocol-error', peerReason: err.message });
    } else {
      this.warnOnce(conn, `connection attempt failed: ${reason}`);
      this.close(conn, { reason, code: 'protocol-error', peerReason: conn.slot ? err.message : 'connection refused' });
    }
  }

  private scheduleReconnect(slot: Slot): void {
    if (!this.started || this.stopped || !slot.wanted || slot.established || slot.pending.size > 0 || slot.reconnectTimer) return;
    const base = slot.nextDelayMs;
    slot.nextDelayMs = Math.min(base * 2, this.opts.connectIntervalMs);
    // ±20 % jitter so two nodes do not keep dialing in lockstep
    const r = this.random(2).readUInt16BE(0) / 0xffff;
    const delay = Math.max(1, Math.round(base * (0.8 + 0.4 * r)));
    slot.reconnectTimer = unref(
      setTimeout(() => {
        slot.reconnectTimer = null;
        if (!this.stopped && slot.wanted && !slot.established && slot.pending.size === 0) this.dial(slot);
      }, delay),
    );
  }

  private clearReconnect(slot: Slot): void {
    if (slot.reconnectTimer) clearTimeout(slot.reconnectTimer);
    slot.reconnectTimer = null;
  }

  private clearTimers(conn: Conn): void {
    const t = conn.timers;
    for (const k of ['handshake', 'keepalive', 'pingTimeout', 'stall'] as const) {
      if (t[k]) clearTimeout(t[k]!);
      t[k] = null;
    }
    if (conn.raw.destroyed && t.linger) {
      clearTimeout(t.linger);
      t.linger = null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.state === 'closed') return;
    if (conn.slot) conn.slot.stats.bytesIn += chunk.length;
    else this.unattributed.bytesIn += chunk.length;
    try {
      conn.decoder.push(chunk);
    } catch (err) {
      this.protocolError(conn, asProtocolError(err));
      return;
    }
    while (!isClosed(conn)) {
      let frame: Frame | null;
      try {
        frame = conn.decoder.next();
      } catch (err) {
        this.protocolError(conn, asProtocolError(err));
        return;
      }
      if (frame === null) return;
      try {
        this.onFrame(conn, frame);
      } catch (err) {
        if (!(err instanceof PeerProtocolError)) throw err; // a bug here or in a listener
        this.protocolError(conn, err);
        return;
      }
    }
  }

  private onFrame(conn: Conn, f: Frame): void {
    if (conn.slot) conn.slot.stats.framesIn++;
    conn.lastRxAt = performance.now();
    if (conn.awaitingPingAck) {
      conn.awaitingPingAck = false;
      if (conn.timers.pingTimeout) clearTimeout(conn.timers.pingTimeout);
      conn.timers.pingTimeout = null;
    }
    if (f.kind === FrameKind.close) {
      this.onPeerClose(conn, f.header);
      return;
    }
    switch (conn.state) {
      case 'hello':
        if (f.kind === FrameKind.handshake && f.header.step === 'hello') return this.onHello(conn, f.header);
        break;
      case 'auth':
        if (f.kind === FrameKind.authChallenge) return this.onChallenge(conn, f.payload as Buffer | null);
        if (f.kind === FrameKind.authResponse) return this.onResponse(conn, f.payload as Buffer | null);
        if (f.kind === FrameKind.handshake) return this.onHandshakeStep(conn, f.header);
        break;
      case 'established':
        if (f.kind === FrameKind.message) {
          this.emit('message', conn.slot!.cfg.nodeId, f.header as PeerMessageHeader, f.payload);
          return;
        }
        if (f.kind === FrameKind.ping) {
          this.write(conn, encodeFrame(FrameKind.pingAck, {}));
          return;
        }
        if (f.kind === FrameKind.pingAck) return;
        break;
    }
    if (f.kind === FrameKind.message && conn.state !== 'established') {
      throw new PeerProtocolError('ERR_PEER_UNEXPECTED_FRAME', 'message frame before the connection was authenticated and committed');
    }
    throw new PeerProtocolError('ERR_PEER_UNEXPECTED_FRAME', `unexpected ${FRAME_KIND_NAMES[f.kind]} frame during ${conn.state === 'auth' ? 'authentication' : conn.state}`);
  }

  private onPeerClose(conn: Conn, h: FrameHeader): void {
    const code = typeof h.code === 'string' ? sanitize(h.code).slice(0, 40) : '?';
    const text = typeof h.reason === 'string' ? sanitize(h.reason) : '(no reason given)';
    const slot = conn.slot;
    if (conn.state === 'established') {
      this.log('info', conn, `peer closed the connection: ${text}`);
      this.close(conn, { reason: `peer closed the connection: ${text}` });
      return;
    }
    if (slot !== null && conn.initiator && REFUSAL_CODES.has(code)) {
      this.refuse(conn, code, `peer refused the connection: ${text}`, { event: true, auth: code === 'auth-failed' || code === 'auth-mismatch' });
      return;
    }
    // superseded by a crossing connection, standalone, shutting down: routine
    this.fail(conn, `peer closed the connection attempt: ${text} [${code}]`, slot === null ? 'warn' : 'debug');
  }

  private onHello(conn: Conn, h: FrameHeader): void {
    const hello = parseHello(h);
    if (typeof hello === 'string') throw new PeerProtocolError('ERR_PEER_HANDSHAKE', hello);
    if (!conn.initiator) {
      const from = formatAddress(conn.remote);
      if (hello.resource !== this.resource) {
        return this.refuse(conn, 'refused', `connection from ${from} refused: it is for resource ${JSON.stringify(hello.resource)}`, {});
      }
      const slot = this.slots.get(hello.nodeId);
      if (slot === undefined) {
        const why = hello.nodeId === this.self.nodeId ? 'it claims this node\'s own node-id' : 'no such peer is configured';
        return this.refuse(conn, 'refused', `connection from ${from} refused: node-id ${hello.nodeId}: ${why}`, {});
      }
      if (slot.cfg.address.host !== conn.remote.host) {
        return this.refuse(conn, 'refused', `connection from ${from} refused: it claims to be node-id ${hello.nodeId} (${slot.cfg.name}), whose address is ${slot.cfg.address.host}`, {});
      }
      if (hello.to !== this.self.nodeId) {
        return this.refuse(conn, 'refused', `connection from ${from} refused: it is looking for node-id ${hello.to}, this is node-id ${this.self.nodeId}`, {});
      }
      if (this.stopped) return this.refuse(conn, 'shutdown', 'shutting down', {});
      conn.slot = slot;
      slot.pending.add(conn);
      if (!slot.wanted) {
        return this.refuse(conn, 'standalone', 'refused incoming connection: disconnected by operator (StandAlone)', { level: 'info', peerReason: 'peer is StandAlone (disconnected by operator)' });
      }
      // Identified: answer with our hello so the peer can see any mismatch itself, then check.
      this.sendHello(conn);
    } else {
      const slot = conn.slot!;
      if (hello.resource !== this.resource || hello.nodeId !== slot.cfg.nodeId || hello.to !== this.self.nodeId) {
        return this.refuse(conn, 'refused', `answered as resource ${JSON.stringify(hello.resource)} node-id ${hello.nodeId}, expected ${JSON.stringify(this.resource)} node-id ${slot.cfg.nodeId}`, { event: true });
      }
    }
    const lo = Math.max(this.opts.protocolMin, hello.protocolMin);
    const hi = Math.min(this.opts.protocolMax, hello.protocolMax);
    if (lo > hi) {
      return this.refuse(conn, 'incompatible', `incompatible dialects: I support ${this.opts.protocolMin}-${this.opts.protocolMax}, peer supports ${hello.protocolMin}-${hello.protocolMax}`, { event: true });
    }
    if (this.auth && hello.auth === null) {
      return this.refuse(conn, 'auth-mismatch', 'peer does not authenticate but cram-hmac-alg is configured', { event: true, auth: true });
    }
    if (!this.auth && hello.auth !== null) {
      return this.refuse(conn, 'auth-mismatch', `peer authenticates (cram-hmac-alg ${hello.auth}) but no cram-hmac-alg is configured here`, { event: true, auth: true });
    }
    if (this.auth && hello.auth !== this.auth.alg) {
      return this.refuse(conn, 'auth-mismatch', `peer uses cram-hmac-alg ${hello.auth}, this node uses ${this.auth.alg}`, { event: true, auth: true });
    }
    conn.agreedVersion = hi;
    conn.features = this.opts.features.filter((f) => hello.features.includes(f));
    conn.state = 'auth';
    if (this.auth) {
      const ch = this.random(CHALLENGE_BYTES);
      if (!Buffer.isBuffer(ch) || ch.length !== CHALLENGE_BYTES) throw new Error(`random(${CHALLENGE_BYTES}) returned a bad buffer`);
      conn.myChallenge = Buffer.from(ch);
      this.write(conn, encodeFrame(FrameKind.authChallenge, {}, conn.myChallenge));
    } else {
      conn.peerVerified = true;
      conn.responded = true;
      this.afterVerified(conn);
    }
  }

  private onChallenge(conn: Conn, ch: Buffer | null): void {
    if (!this.auth || conn.responded) throw new PeerProtocolError('ERR_PEER_UNEXPECTED_FRAME', 'unexpected auth-challenge');
    if (ch === null || ch.length < CHALLENGE_BYTES || ch.length > PEER_CHALLENGE_BYTES_MAX) {
      throw new PeerProtocolError('ERR_PEER_HANDSHAKE', `auth-challenge of ${ch?.length ?? 0} bytes (expected ${CHALLENGE_BYTES}-${PEER_CHALLENGE_BYTES_MAX})`);
    }
    if (conn.myChallenge !== null && ch.equals(conn.myChallenge)) {
      return this.refuse(conn, 'auth-failed', 'Peer presented the same challenge!', { event: true, auth: true, peerReason: 'authentication failed' });
    }
    const resp = hmac(this.auth, ch, this.self.nodeId);
    conn.responded = true;
    this.write(conn, encodeFrame(FrameKind.authResponse, {}, resp));
  }

  private onResponse(conn: Conn, r: Buffer | null): void {
    if (!this.auth || conn.peerVerified || conn.myChallenge === null) throw new PeerProtocolError('ERR_PEER_UNEXPECTED_FRAME', 'unexpected auth-response');
    const expected = hmac(this.auth, conn.myChallenge, conn.slot!.cfg.nodeId);
    if (r === null || r.length !== expected.length || !crypto.timingSafeEqual(r, expected)) {
      return this.refuse(conn, 'auth-failed', 'Authentication of peer failed (wrong shared-secret?)', { event: true, auth: true, peerReason: 'authentication failed (wrong shared-secret?)' });
    }
    this.log('info', conn, `Peer authenticated using ${expected.length} bytes HMAC`);
    conn.peerVerified = true;
    this.afterVerified(conn);
  }

  /** The lower node id decides; the higher one says `ready` and waits for `commit`. */
  private afterVerified(conn: Conn): void {
    if (this.isDecider(conn)) {
      this.maybeCommit(conn);
    } else if (!conn.readySent) {
      conn.readySent = true;
      this.write(conn, encodeFrame(FrameKind.handshake, { step: 'ready' }));
    }
  }

  private onHandshakeStep(conn: Conn, h: FrameHeader): void {
    if (h.step === 'ready' && this.isDecider(conn) && !conn.peerReady) {
      conn.peerReady = true;
      this.maybeCommit(conn);
      return;
    }
    if (h.step === 'commit' && !this.isDecider(conn) && conn.peerVerified && conn.responded) {
      this.establish(conn);
      return;
    }
    throw new PeerProtocolError('ERR_PEER_UNEXPECTED_FRAME', `unexpected handshake step ${JSON.stringify(String(h.step)).slice(0, 40)}`);
  }

  private isDecider(conn: Conn): boolean {
    return this.self.nodeId < conn.slot!.cfg.nodeId;
  }

  private maybeCommit(conn: Conn): void {
    if (!conn.peerVerified || !conn.peerReady || !conn.responded) return;
    this.write(conn, encodeFrame(FrameKind.handshake, { step: 'commit' }));
    this.establish(conn);
  }

  private establish(conn: Conn): void {
    const slot = conn.slot!;
    for (const other of [...slot.pending]) {
      if (other !== conn) this.close(other, { reason: 'superseded by a crossing connection', code: 'superseded', peerReason: 'superseded by a crossing connection' });
    }
    if (slot.established) {
      this.log('info', conn, 'peer opened a new connection; replacing the old one');
      this.close(slot.established, { reason: 'replaced by a new connection from the peer', code: 'superseded', peerReason: 'replaced by a new connection' });
    }
    if (conn.state === 'closed') return;
    if (conn.timers.handshake) clearTimeout(conn.timers.handshake);
    conn.timers.handshake = null;
    conn.state = 'established';
    conn.decoder.setLimits(this.frameLimits);
    // Replicated writes and resync data arrive in pooled buffers (see buffer-pool.ts), read
    // through one reused buffer: no allocation per socket read (see socket-reader.ts).
    conn.decoder.setPayloadPool(payloadPool);
    if (!conn.tls) {
      readIntoReusedBuffer(
        conn.raw,
        READ_BUFFER_BYTES,
        (chunk) => {
          this.onData(conn, chunk);
          conn.decoder.ownRemainder();
        },
        // Block payloads are read by the kernel straight into their pooled buffers.
        () => (conn.state === 'closed' ? null : conn.decoder.payloadTarget()),
      );
    }
    slot.pending.delete(conn);
    slot.established = conn;
    this.clearReconnect(slot);
    slot.nextDelayMs = this.opts.connectBackoffMinMs;
    slot.stats.connectionsEstablished++;
    if (slot.everConnected) slot.stats.reconnects++;
    slot.everConnected = true;
    conn.lastRxAt = performance.now();
    conn.timers.keepalive = unref(setTimeout(() => this.onKeepalive(conn), this.opts.pingIntervalMs));
    const info: PeerConnectedInfo = {
      agreedVersion: conn.agreedVersion,
      authenticated: this.auth !== null,
      tls: conn.tls,
      features: conn.features,
      initiator: conn.initiator ? 'self' : 'peer',
      local: { host: normalizeHost(conn.raw.localAddress ?? '?'), port: conn.raw.localPort ?? 0 },
      remote: { host: conn.remote.host, port: conn.remote.port || (conn.raw.remotePort ?? 0) },
    };
    this.log('info', conn, `connected (protocol ${info.agreedVersion}${info.authenticated ? `, authenticated with ${this.auth!.alg}` : ''}${info.tls ? ', tls' : ''})`);
    this.emit('connected', slot.cfg.nodeId, info);
  }

  // -------------------------------------------------------------------------------------------
  // Sending and liveness

  private sendHello(conn: Conn): void {
    this.write(
      conn,
      encodeFrame(
        FrameKind.handshake,
        {
          step: 'hello',
          resource: this.resource,
          nodeId: this.self.nodeId,
          to: conn.slot!.cfg.nodeId,
          protocolMin: this.opts.protocolMin,
          protocolMax: this.opts.protocolMax,
          features: this.opts.features,
          auth: this.auth ? this.auth.alg : null,
        },
        null,
        HANDSHAKE_LIMITS,
      ),
    );
  }

  private write(conn: Conn, bufs: Buffer[]): void {
    const s = conn.socket;
    if (conn.state === 'closed' || s.destroyed || !s.writable) return;
    if (!conn.corked) {
      conn.corked = true;
      s.cork();
      // Uncork after the current poll phase: acks for writes completed in the same loop
      // turn leave in one writev instead of one syscall each.
      setImmediate(() => {
        if (conn.corked) {
          conn.corked = false;
          if (!s.destroyed) s.uncork();
        }
      });
    }
    // A pooled payload is held until the socket has handed its bytes to the kernel (or
    // gave up on them): the writer may release its own reference before that.
    let pooled: Buffer[] | null = null;
    for (const b of bufs) {
      if (payloadPool.isPooled(b)) {
        payloadPool.retain(b);
        (pooled ??= []).push(b);
      }
    }
    const flushed =
      pooled === null
        ? () => conn.flushedWrites++
        : () => {
            conn.flushedWrites++;
            for (const b of pooled!) payloadPool.release(b);
          };
    let ok = true;
    for (let i = 0; i < bufs.length; i++) {
      ok = i === bufs.length - 1 ? s.write(bufs[i], flushed) : s.write(bufs[i]);
    }
    if (conn.slot) {
      conn.slot.stats.framesOut++;
      conn.slot.stats.bytesOut += frameBytes(bufs);
    }
    if (!ok) conn.needDrain = true;
    if (conn.state === 'established' && conn.timers.stall === null) {
      conn.stallSnapshot = conn.flushedWrites;
      conn.timers.stall = unref(setTimeout(() => this.onStallCheck(conn), this.opts.timeoutMs));
    }
  }

  private onStallCheck(conn: Conn): void {
    conn.timers.stall = null;
    if (conn.state !== 'established') return;
    if (conn.socket.writableLength === 0) return;
    if (conn.flushedWrites === conn.stallSnapshot) {
      this.fail(conn, `timeout: peer accepted no data for ${this.opts.timeoutMs} ms (${conn.socket.writableLength} bytes queued)`, 'warn', 'timeout');
      return;
    }
    conn.stallSnapshot = conn.flushedWrites;
    conn.timers.stall = unref(setTimeout(() => this.onStallCheck(conn), this.opts.timeoutMs));
  }

  private onKeepalive(conn: Conn): void {
    conn.timers.keepalive = null;
    if (conn.state !== 'established') return;
    const idle = performance.now() - conn.lastRxAt;
    if (idle < this.opts.pingIntervalMs || conn.awaitingPingAck) {
      conn.timers.keepalive = unref(setTimeout(() => this.onKeepalive(conn), Math.max(1, this.opts.pingIntervalMs - idle)));
      return;
    }
    conn.awaitingPingAck = true;
    this.write(conn, encodeFrame(FrameKind.ping, {}));
    conn.timers.pingTimeout = unref(
      setTimeout(() => {
        conn.timers.pingTimeout = null;
        if (conn.state !== 'established' || !conn.awaitingPingAck) return;
        conn.slot!.stats.pingTimeouts++;
        this.fail(conn, 'ping timeout', 'warn', 'timeout');
      }, this.opts.pingTimeoutMs),
    );
    conn.timers.keepalive = unref(setTimeout(() => this.onKeepalive(conn), this.opts.pingIntervalMs));
  }

  // -------------------------------------------------------------------------------------------
  // Logging

  private where(conn: Conn): string {
    if (conn.slot) return `${conn.slot.label}`;
    return `${this.resource}: connection from ${formatAddress(conn.remote)}`;
  }

  private fields(conn: Conn): object {
    return { resource: this.resource, peer: conn.slot?.cfg.name, remote: formatAddress(conn.remote), conn: conn.id };
  }

  private warnOnce(conn: Conn, msg: string): void {
    const text = msg.startsWith(`${this.resource}: `) ? msg : `${this.where(conn)}: ${msg}`;
    if (conn.warned) {
      this.logger.debug?.(this.fields(conn), text);
      return;
    }
    conn.warned = true;
    this.logger.warn(this.fields(conn), text);
  }

  private log(level: 'info' | 'warn', conn: Conn, msg: string): void {
    this.logger[level](this.fields(conn), `${this.where(conn)}: ${msg}`);
  }

  private debug(conn: Conn, msg: string): void {
    this.logger.debug?.(this.fields(conn), `${this.where(conn)}: ${msg}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface Hello {
  resource: string;
  nodeId: number;
  to: number;
  protocolMin: number;
  protocolMax: number;
  features: string[];
  auth: string | null;
}

/** Validate a hello header from the network; returns an error text when it is malformed. */
function parseHello(h: FrameHeader): Hello | string {
  const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0 && (v as number) <= NODE_ID_MAX;
  const isVer = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
  if (typeof h.resource !== 'string' || h.resource.length === 0 || h.resource.length > 256) return 'hello: bad resource';
  if (!isId(h.nodeId)) return 'hello: bad nodeId';
  if (!isId(h.to)) return 'hello: bad target node id';
  if (!isVer(h.protocolMin) || !isVer(h.protocolMax) || h.protocolMin > h.protocolMax) return 'hello: bad protocol range';
  if (!Array.isArray(h.features) || h.features.length > FEATURES_COUNT_MAX || !h.features.every((f) => typeof f === 'string' && f.length <= 64)) {
    return 'hello: bad features';
  }
  if (h.auth !== null && (typeof h.auth !== 'string' || h.auth.length > 32)) return 'hello: bad auth';
  return {
    resource: sanitize(h.resource),
    nodeId: h.nodeId,
    to: h.to,
    protocolMin: h.protocolMin,
    protocolMax: h.protocolMax,
    features: h.features as string[],
    auth: h.auth === null ? null : sanitize(h.auth),
  };
}

function resolveAuth(resource: string, a: PeerAuthConfig): { alg: string; digest: string; key: Buffer } {
  const alg = String(a.alg ?? '').toLowerCase();
  if (NOT_HMAC.has(alg)) {
    throw new PeerConfigError('ERR_PEER_AUTH_ALG', `${resource}: cram-hmac-alg ${alg} is a checksum, not a keyed hash; use sha256 or sha1`);
  }
  const digest = HMAC_ALGS[alg];
  if (digest === undefined || !crypto.getHashes().includes(digest)) {
    throw new PeerConfigError('ERR_PEER_AUTH_ALG', `${resource}: unsupported cram-hmac-alg ${JSON.stringify(a.alg)} (supported: ${Object.keys(HMAC_ALGS).join(', ')})`);
  }
  if (typeof a.secret !== 'string' || a.secret.length === 0) {
    throw new PeerConfigError('ERR_PEER_SECRET', `${resource}: cram-hmac-alg ${alg} is set but shared-secret is empty`);
  }
  const key = Buffer.from(a.secret, 'utf8');
  if (key.length > SHARED_SECRET_BYTES_MAX) {
    throw new PeerConfigError('ERR_PEER_SECRET', `${resource}: shared-secret is ${key.length} bytes, at most ${SHARED_SECRET_BYTES_MAX} allowed`);
  }
  return { alg, digest, key };
}

function hmac(auth: { digest: string; key: Buffer }, challenge: Buffer, nodeId: number): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(nodeId, 0);
  return crypto.createHmac(auth.digest, auth.key).update(challenge).update(id).digest();
}

function checkNode(n: PeerNode, what: string): void {
  if (typeof n !== 'object' || n === null) throw new PeerConfigError('ERR_PEER_CONFIG', `${what}: missing node`);
  if (!Number.isSafeInteger(n.nodeId) || n.nodeId < 0 || n.nodeId > NODE_ID_MAX) {
    throw new PeerConfigError('ERR_PEER_CONFIG', `${what} ${n.name}: node-id must be 0-${NODE_ID_MAX}, got ${n.nodeId}`);
  }
  if (typeof n.name !== 'string' || n.name.length === 0) throw new PeerConfigError('ERR_PEER_CONFIG', `${what} node-id ${n.nodeId}: name is empty`);
  const a = n.address;
  if (typeof a !== 'object' || a === null || net.isIP(a.host) === 0) {
    throw new PeerConfigError('ERR_PEER_CONFIG', `${what} ${n.name}: address must be an IP literal, got ${JSON.stringify(a?.host)}`);
  }
  if (!Number.isSafeInteger(a.port) || a.port < 1 || a.port > 65535) {
    throw new PeerConfigError('ERR_PEER_CONFIG', `${what} ${n.name}: port must be 1-65535, got ${a.port}`);
  }
}

function cloneNode(n: PeerNode): PeerNode {
  return { nodeId: n.nodeId, name: n.name, address: { host: normalizeHost(n.address.host), port: n.address.port } };
}

function normalizeHost(h: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(h);
  return m ? m[1]! : h.toLowerCase();
}

function isWildcard(h: string): boolean {
  return h === '0.0.0.0' || h === '::';
}

function formatAddress(a: PeerAddress): string {
  return net.isIPv6(a.host) ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Text from the peer goes into logs: printable ASCII only, bounded. */
function sanitize(s: string): string {
  const t = s.replace(/[^\x20-\x7e]/g, '?');
  return t.length > TEXT_FROM_PEER_CHARS_MAX ? t.slice(0, TEXT_FROM_PEER_CHARS_MAX) + '...' : t;
}

function asProtocolError(err: unknown): PeerProtocolError {
  return err instanceof PeerProtocolError ? err : new PeerProtocolError('ERR_PEER_HEADER_SHAPE', `undecodable data: ${errorText(err)}`);
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : errorText(err);
}

/** A function, so TypeScript does not narrow conn.state across calls that may close it. */
function isClosed(conn: Conn): boolean {
  return conn.state === 'closed';
}

function unref(t: NodeJS.Timeout): NodeJS.Timeout {
  t.unref();
  return t;
}
