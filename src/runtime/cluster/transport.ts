// The cluster transport: engine messages between nodes (and the arbiter) as sealed UDP
// datagrams over one or two links, with per-link ping/pong liveness and passive-mode
// failover, like corosync's knet. It carries messages; it does not interpret them
// beyond their size and JSON validity. See docs/cluster-transport.md.

import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { EngineMessage } from '../../cluster/engine-api.js';
import { ARBITER_NODE_ID, type ClusterConfig, type NodeId } from '../../cluster/types.js';
import { PacketCrypto, type OpenFailure } from './packet-crypto.js';
import { DuplicateWindow, INNER_HEADER_BYTES, SEQ_MAX, decodeInner, encodeInner, type InnerPacket } from './link-wire.js';
import { LinkLiveness, chooseLinks, linkTimingsFor, type LinkTimings, type LinkTransition } from './link-liveness.js';

/** Largest message (its JSON) one datagram carries; sealed it stays below UDP's 65,507 bytes. */
export const MESSAGE_BYTES_MAX = 60 * 1024;
/** Links used per node (ring0_addr, ring1_addr). */
export const LINKS_MAX = 2;
/** Drop reports per reason and source are logged at most this often. */
const DROP_LOG_INTERVAL_MS = 10_000;
const DROP_LOG_KEYS_MAX = 1_000;
/** Socket buffers large enough for a burst of full-size messages. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ClusterTransportOptions {
  config: ClusterConfig;
  /** This node's id; ARBITER_NODE_ID (0) for the arbiter, which listens on config.arbiter. */
  self: NodeId;
  /** The key file's bytes; empty only with crypto none/none. */
  key: Buffer;
  log: TransportLogger;
  /** Overrides of the timings derived from totem.token (tests). */
  timings?: Partial<LinkTimings>;
}

export interface ReceivedMessage {
  from: NodeId;
  message: EngineMessage;
  /** The link it arrived on. */
  link: number;
}

export interface LinkStatus {
  node: NodeId;
  name: string;
  link: number;
  /** The peer's end of the link, ADDRESS:PORT. */
  address: string;
  up: boolean;
  /** Messages to this node currently go over this link. */
  active: boolean;
  /** Milliseconds since the last pong on this link, or null if none yet. */
  lastPongAgeMs: number | null;
  /** Smoothed round-trip time of pings, or null before the first pong. */
  rttMs: number | null;
  /** Milliseconds since the link last went up or down. */
  sinceMs: number;
}

export interface TransportCounters {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  pingsSent: number;
  pingsReceived: number;
  pongsReceived: number;
  /** MAC mismatch or undecryptable: another key, or a changed packet. */
  droppedBadMac: number;
  droppedWrongCluster: number;
  /** Same cluster, other crypto_cipher/crypto_hash. */
  droppedCryptoMismatch: number;
  /** Node id not in the nodelist, or not from that node's address on this link. */
  droppedUnknownSender: number;
  droppedOversized: number;
  /** Not our framing (short, bad magic/version, bad inner header). */
  droppedMalformed: number;
  /** Authenticated, but the message is not a JSON object with a string `kind`. */
  droppedBadJson: number;
  /** A message already delivered (it was sent on both links, or duplicated by the network). */
  droppedDuplicate: number;
  /** Authenticated but addressed to another node id. */
  droppedMisaddressed: number;
  sendErrors: number;
  /** Messages to a node with no usable link at all. */
  sendsWithoutLink: number;
}

export interface TransportStatus {
  self: NodeId;
  links: LinkStatus[];
  counters: TransportCounters;
}

export type TransportErrorCode =
  | 'ERR_CLUSTER_CONFIG'
  | 'ERR_CLUSTER_RESOLVE'
  | 'ERR_CLUSTER_BIND'
  | 'ERR_CLUSTER_NOT_STARTED'
  | 'ERR_CLUSTER_UNKNOWN_NODE'
  | 'ERR_CLUSTER_MESSAGE_NOT_JSON'
  | 'ERR_CLUSTER_MESSAGE_TOO_LARGE';

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Where one end of a link is, as configured and (after start) as resolved. */
interface Endpoint {
  link: number;
  host: string;
  port: number;
  address: string | null;
  family: 4 | 6 | null;
}

interface PeerLink {
  endpoint: Endpoint;
  liveness: LinkLiveness;
  usable: boolean;
}

interface Peer {
  id: NodeId;
  name: string;
  links: Map<number, PeerLink>;
  /** Duplicate windows of the sender's latest incarnations (two, for packets still in flight across a restart). */
  windows: Map<number, DuplicateWindow>;
  /** Last chosen links, to log changes. */
  active: number[];
}

interface LocalLink {
  endpoint: Endpoint;
  socket: dgram.Socket | null;
}

type DropCounter =
  | 'droppedBadMac'
  | 'droppedWrongCluster'
  | 'droppedCryptoMismatch'
  | 'droppedUnknownSender'
  | 'droppedOversized'
  | 'droppedMalformed'
  | 'droppedBadJson'
  | 'droppedDuplicate'
  | 'droppedMisaddressed';

const OPEN_FAILURE_COUNTER: Record<OpenFailure, DropCounter> = {
  malformed: 'droppedMalformed',
  'wrong-cluster': 'droppedWrongCluster',
  'crypto-mismatch': 'droppedCryptoMismatch',
  'bad-mac': 'droppedBadMac',
  decrypt: 'droppedBadMac',
};

const newCounters = (): TransportCounters => ({
  packetsSent: 0,
  packetsReceived: 0,
  bytesSent: 0,
  bytesReceived: 0,
  messagesSent: 0,
  messagesReceived: 0,
  pingsSent: 0,
  pingsReceived: 0,
  pongsReceived: 0,
  droppedBadMac: 0,
  droppedWrongCluster: 0,
  droppedCryptoMismatch: 0,
  droppedUnknownSender: 0,
  droppedOversized: 0,
  droppedMalformed: 0,
  droppedBadJson: 0,
  droppedDuplicate: 0,
  droppedMisaddressed: 0,
  sendErrors: 0,
  sendsWithoutLink: 0,
});

const utf8 = new TextDecoder('utf-8', { fatal: true });

export class ClusterTransport {
  private readonly config: ClusterConfig;
  private readonly self: NodeId;
  private readonly log: TransportLogger;
  private readonly crypto: PacketCrypto;
  private readonly timings: LinkTimings;
  private readonly selfName: string;
  private readonly local = new Map<number, LocalLink>();
  private readonly peers = new Map<NodeId, Peer>();
  private readonly listeners: ((m: ReceivedMessage) => void)[] = [];
  private readonly counts = newCounters();
  /** Random per start: tells a restarted peer's sequence numbers from the old ones. */
  private readonly incarnation = crypto.randomBytes(4).readUInt32BE(0);
  private readonly packetBytesMax: number;
  private messageSeq = 0;
  private pingSeq = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  private state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  private readonly dropLog = new Map<string, { at: number; suppressed: number }>();

  constructor(opts: ClusterTransportOptions) {
    this.config = opts.config;
    this.self = opts.self;
    this.log = opts.log;
    const c = opts.config;
    const base = linkTimingsFor(c.timings.tokenMs);
    this.timings = { ...base, ...opts.timings };
    try {
      this.crypto = new PacketCrypto({ clusterName: c.clusterName, cipher: c.crypto.cipher, hash: c.crypto.hash, key: opts.key });
    } catch (err) {
      throw new TransportError('ERR_CLUSTER_CONFIG', `${c.file}: ${(err as Error).message}`);
    }
    this.packetBytesMax = this.crypto.sealedBytes(INNER_HEADER_BYTES + MESSAGE_BYTES_MAX);

    const now = performance.now();
    const ep = (link: number, host: string, port: number): Endpoint => ({ link, host, port, address: null, family: null });
    const nodeLinks = (addresses: string[]): Endpoint[] =>
      addresses.slice(0, LINKS_MAX).map((host, link) => ep(link, host, c.port + link));
    const addPeer = (id: NodeId, name: string, endpoints: Endpoint[]): void => {
      const links = new Map<number, PeerLink>();
      for (const e of endpoints) links.set(e.link, { endpoint: e, liveness: new LinkLiveness(this.timings, now), usable: true });
      this.peers.set(id, { id, name, links, windows: new Map(), active: [] });
    };

    if (opts.self === ARBITER_NODE_ID) {
      if (!c.arbiter) {
        throw new TransportError('ERR_CLUSTER_CONFIG', `${c.file}: this process is the arbiter (node 0) but no quorum device (quorum.device.net.host) is configured`);
      }
      this.selfName = 'arbiter';
      this.local.set(0, { endpoint: ep(0, c.arbiter.host, c.arbiter.port), socket: null });
      // The arbiter has one link; every node reaches it from its link 0.
      for (const n of c.nodes) addPeer(n.nodeId, n.name, nodeLinks(n.addresses).slice(0, 1));
    } else {
      const me = c.nodes.find((n) => n.nodeId === opts.self);
      if (!me) {
        throw new TransportError(
          'ERR_CLUSTER_CONFIG',
          `${c.file}: node id ${opts.self} is not in the nodelist (known: ${c.nodes.map((n) => `${n.name}=${n.nodeId}`).join(', ') || 'none'})`,
        );
      }
      if (me.addresses.length === 0) throw new TransportError('ERR_CLUSTER_CONFIG', `${c.file}: node ${me.name} has no ring0_addr`);
      this.selfName = me.name;
      for (const e of nodeLinks(me.addresses)) this.local.set(e.link, { endpoint: e, socket: null });
      for (const n of c.nodes) {
        if (n.nodeId === opts.self) continue;
        // A link exists between two nodes when both have an address for it.
        addPeer(n.nodeId, n.name, nodeLinks(n.addresses).filter((e) => this.local.has(e.link)));
      }
      if (c.arbiter) addPeer(ARBITER_NODE_ID, 'arbiter', [ep(0, c.arbiter.host, c.arbiter.port)]);
    }
  }

  /** Resolve the addresses, bind one socket per local link and start pinging. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new TransportError('ERR_CLUSTER_NOT_STARTED', `transport of ${this.selfName} was already started`);
    this.state = 'starting';
    try {
      const isArbiter = (id: NodeId): boolean => id === ARBITER_NODE_ID;
      await Promise.all([...this.local.values()].map((l) => this.resolve(l.endpoint, `${this.selfName} (this node)`, isArbiter(this.self))));
      for (const p of this.peers.values()) await Promise.all([...p.links.values()].map((l) => this.resolve(l.endpoint, p.name, isArbiter(p.id))));
      for (const l of this.local.values()) {
        await this.bind(l);
        if ((this.state as string) === 'closed') {
          await this.closeSockets(); // close() was called while we were binding
          return;
        }
      }
    } catch (err) {
      await this.closeSockets();
      this.state = 'closed';
      throw err;
    }
    for (const p of this.peers.values()) {
      for (const pl of p.links.values()) {
        const mine = this.local.get(pl.endpoint.link)!.endpoint;
        if (mine.family !== pl.endpoint.family) {
          pl.usable = false;
          this.log.warn(
            { node: p.id, link: pl.endpoint.link },
            `link ${pl.endpoint.link} to ${p.name} is unusable: ${mine.address} and ${pl.endpoint.address} are not the same address family`,
          );
        }
      }
    }
    this.state = 'running';
    this.pingRound();
    this.pingTimer = setInterval(() => this.pingRound(), this.timings.pingIntervalMs);
  }

  onMessage(cb: (m: ReceivedMessage) => void): void {
    this.listeners.push(cb);
  }

  /**
   * Send one message to one node over its best live link. Throws TransportError for a
   * node that is not configured, a message that is not JSON, or one over
   * MESSAGE_BYTES_MAX; loss on the network is silent (the engine retransmits).
   */
  send(to: NodeId, message: EngineMessage): void {
    if (this.state === 'closed') return;
    if (this.state !== 'running') throw new TransportError('ERR_CLUSTER_NOT_STARTED', `transport of ${this.selfName} is not started`);
    const peer = this.peers.get(to);
    if (!peer) {
      throw new TransportError(
        'ERR_CLUSTER_UNKNOWN_NODE',
        `cannot send to node id ${to}: ${to === this.self ? 'that is this node' : 'not in the nodelist'} (peers: ${[...this.peers.keys()].join(', ') || 'none'})`,
      );
    }
    let text: string | undefined;
    try {
      text = JSON.stringify(message);
    } catch (err) {
      throw new TransportError('ERR_CLUSTER_MESSAGE_NOT_JSON', `message '${String(message?.kind)}' to ${peer.name} cannot be serialized: ${(err as Error).message}`);
    }
    if (typeof text !== 'string') throw new TransportError('ERR_CLUSTER_MESSAGE_NOT_JSON', `message to ${peer.name} is not a JSON object`);
    const json = Buffer.from(text, 'utf8');
    if (json.length > MESSAGE_BYTES_MAX) {
      throw new TransportError(
        'ERR_CLUSTER_MESSAGE_TOO_LARGE',
        `message '${String(message.kind)}' to ${peer.name} is ${json.length} bytes of JSON; the cluster transport carries at most ${MESSAGE_BYTES_MAX} bytes per message`,
      );
    }
    const links = this.chooseFor(peer);
    if (links.length === 0) {
      this.counts.sendsWithoutLink++;
      this.rateLimited(`nolink:${to}`, () => this.log.warn({ node: to }, `no usable link to ${peer.name}; message '${String(message.kind)}' not sent`));
      return;
    }
    this.messageSeq = this.messageSeq >= SEQ_MAX ? 1 : this.messageSeq + 1;
    for (const link of links) {
      const plain = encodeInner({ kind: 'data', link, to, incarnation: this.incarnation, seq: this.messageSeq, json });
      this.transmit(link, peer.links.get(link)!.endpoint, this.crypto.seal(this.self, plain));
    }
    this.counts.messagesSent++;
  }

  linkStatus(): LinkStatus[] {
    const now = performance.now();
    const out: LinkStatus[] = [];
    for (const p of [...this.peers.values()].sort((a, b) => a.id - b.id)) {
      const active = new Set(this.state === 'running' ? this.chooseFor(p) : []);
      for (const pl of [...p.links.values()].sort((a, b) => a.endpoint.link - b.endpoint.link)) {
        const e = pl.endpoint;
        const host = e.address ?? e.host;
        out.push({
          node: p.id,
          name: p.name,
          link: e.link,
          address: `${host.includes(':') ? `[${host}]` : host}:${e.port}`,
          up: pl.liveness.up,
          active: active.has(e.link) && pl.liveness.up,
          lastPongAgeMs: pl.liveness.lastPongAt === null ? null : now - pl.liveness.lastPongAt,
          rttMs: pl.liveness.rttMs,
          sinceMs: now - pl.liveness.since,
        });
      }
    }
    return out;
  }

  counters(): TransportCounters {
    return { ...this.counts };
  }

  status(): TransportStatus {
    return { self: this.self, links: this.linkStatus(), counters: this.counters() };
  }

  /** The local end of each link, ADDRESS:PORT as bound. */
  localAddresses(): { link: number; address: string; port: number }[] {
    return [...this.local.values()].map((l) => ({ link: l.endpoint.link, address: l.endpoint.address ?? l.endpoint.host, port: l.endpoint.port }));
  }

  /** Stop the ping timer and close every socket; idempotent. */
  async close(): Promise<void> {
    this.state = 'closed';
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.listeners.length = 0;
    await this.closeSockets();
  }

  // -------------------------------------------------------------------------------------

  private chooseFor(peer: Peer, now = performance.now()): number[] {
    return chooseLinks(
      [...peer.links.values()].filter((l) => l.usable).map((l) => ({ link: l.endpoint.link, up: l.liveness.up, suspect: l.liveness.suspect(now) })),
    );
  }

  private async resolve(e: Endpoint, owner: string, arbiter: boolean): Promise<void> {
    const kind = net.isIP(e.host);
    // IPv6 literals go through the resolver too, which writes them the way the kernel
    // reports packet sources (e.g. fd00:0::1 -> fd00::1).
    if (kind === 4) {
      e.address = e.host;
      e.family = kind as 4 | 6;
      return;
    }
    try {
      const r = await dns.promises.lookup(e.host);
      e.address = r.address;
      e.family = r.family === 6 ? 6 : 4;
    } catch (err) {
      throw new TransportError(
        'ERR_CLUSTER_RESOLVE',
        `${this.config.file}: cannot resolve ${arbiter ? 'quorum.device.net.host' : `ring${e.link}_addr`} '${e.host}' of ${owner}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }

  private async bind(l: LocalLink): Promise<void> {
    const e = l.endpoint;
    const socket = dgram.createSocket({ type: e.family === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    l.socket = socket;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const hint =
          err.code === 'EADDRINUSE'
            ? ' (another safeside or corosync is using this port)'
            : err.code === 'EADDRNOTAVAIL'
              ? ' (the address is not on any interface of this host; check the nodelist)'
              : '';
        reject(new TransportError('ERR_CLUSTER_BIND', `cannot bind link ${e.link} of ${this.selfName} to ${e.address}:${e.port}: ${err.code ?? err.message}${hint}`));
      };
      socket.once('error', onError);
      socket.bind({ address: e.address!, port: e.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    for (const set of [(n: number) => socket.setRecvBufferSize(n), (n: number) => socket.setSendBufferSize(n)]) {
      try {
        set(SOCKET_BUFFER_BYTES);
      } catch {
        // Capped by net.core.rmem_max/wmem_max; the default still works.
      }
    }
    socket.on('message', (buf, rinfo) => this.receive(e.link, buf, rinfo));
    socket.on('error', (err) => {
      this.counts.sendErrors++;
      this.rateLimited(`sockerr:${e.link}`, () => this.log.warn({ err, link: e.link }, `cluster link ${e.link} socket error: ${err.message}`));
    });
  }

  private async closeSockets(): Promise<void> {
    await Promise.all(
      [...this.local.values()].map(
        (l) =>
          new Promise<void>((resolve) => {
            const s = l.socket;
            l.socket = null;
            if (!s) return resolve();
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // not bound yet or already closed
            }
          }),
      ),
    );
  }

  private transmit(link: number, to: Endpoint, packet: Buffer): void {
    const socket = this.local.get(link)?.socket;
    if (!socket || to.address === null) return;
    this.counts.packetsSent++;
    this.counts.bytesSent += packet.length;
    socket.send(packet, to.port, to.address, (err) => {
      if (!err) return;
      this.counts.sendErrors++;
      this.rateLimited(`senderr:${link}:${to.address}`, () =>
        this.log.warn({ link, to: `${to.address}:${to.port}`, code: (err as NodeJS.ErrnoException).code }, `cluster link ${link}: send to ${to.address}:${to.port} failed: ${err.message}`),
      );
    });
  }

  private pingRound(): void {
    if (this.state !== 'running') return;
    const now = performance.now();
    this.pingSeq = this.pingSeq >= SEQ_MAX ? 1 : this.pingSeq + 1;
    for (const peer of this.peers.values()) {
      for (const pl of peer.links.values()) {
        if (!pl.usable) continue;
        const t = pl.liveness.check(now);
        if (t) this.linkChanged(peer, pl.endpoint.link, t);
        const ping = encodeInner({ kind: 'ping', link: pl.endpoint.link, to: peer.id, incarnation: this.incarnation, seq: this.pingSeq, sentAt: now });
        this.transmit(pl.endpoint.link, pl.endpoint, this.crypto.seal(this.self, ping));
        this.counts.pingsSent++;
      }
    }
  }

  private linkChanged(peer: Peer, link: number, t: LinkTransition): void {
    if (t.to === 'down') {
      this.log.warn({ node: peer.id, link, silentMs: Math.round(t.silentMs) }, `link ${link} to ${peer.name} is down (no pong for ${Math.round(t.silentMs)} ms)`);
    } else {
      this.log.info({ node: peer.id, link, afterMs: Math.round(t.after) }, `link ${link} to ${peer.name} is up`);
    }
    const chosen = this.chooseFor(peer);
    const live = chosen.filter((l) => peer.links.get(l)?.liveness.up);
    const before = peer.active.join(',');
    peer.active = live;
    if (live.join(',') === before) return;
    if (live.length === 0) {
      this.log.warn({ node: peer.id }, `${peer.name} has no live link; sending on all links until one answers`);
    } else {
      this.log.info({ node: peer.id, link: live[0] }, `messages to ${peer.name} now go over link ${live[0]}`);
    }
  }

  private receive(link: number, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    // Nothing from the network may take the process down.
    try {
      this.receiveUnchecked(link, buf, rinfo);
    } catch (err) {
      this.drop('droppedMalformed', rinfo, `internal error handling the packet: ${(err as Error).message}`);
    }
  }

  private receiveUnchecked(link: number, buf: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.state !== 'running') return;
    const now = performance.now();
    this.counts.packetsReceived++;
    this.counts.bytesReceived += buf.length;
    if (buf.length > this.packetBytesMax) return this.drop('droppedOversized', rinfo, `${buf.length} bytes is over the ${this.packetBytesMax}-byte packet limit`);
    const h = this.crypto.inspect(buf);
    if (!h.ok) return this.drop(OPEN_FAILURE_COUNTER[h.reason], rinfo, h.detail);
    const peer = this.peers.get(h.sender);
    if (!peer) return this.drop('droppedUnknownSender', rinfo, `node id ${h.sender} is not in the nodelist`);
    const pl = peer.links.get(link);
    if (!pl || pl.endpoint.address !== rinfo.address || pl.endpoint.port !== rinfo.port) {
      const expected = pl ? `${pl.endpoint.address}:${pl.endpoint.port}` : 'nowhere (no such link)';
      return this.drop('droppedUnknownSender', rinfo, `claims to be ${peer.name} on link ${link}, whose address is ${expected}`);
    }
    const opened = this.crypto.open(buf);
    if (!opened.ok) return this.drop(OPEN_FAILURE_COUNTER[opened.reason], rinfo, `claims to be ${peer.name}: ${opened.detail}`);
    const d = decodeInner(opened.plaintext);
    if (!d.ok) return this.drop('droppedMalformed', rinfo, d.detail);
    const p = d.packet;
    if (p.to !== this.self) return this.drop('droppedMisaddressed', rinfo, `addressed to node id ${p.to}, this is ${this.self}`);
    if (p.link !== link) return this.drop('droppedMalformed', rinfo, `sent for link ${p.link} but arrived on link ${link}`);
    switch (p.kind) {
      case 'ping':
        this.counts.pingsReceived++;
        return this.pong(peer, pl, p);
      case 'pong': {
        if (p.pingerIncarnation !== this.incarnation) return; // answers a ping of a previous run
        this.counts.pongsReceived++;
        const t = pl.liveness.pong(now, p.seq, p.sentAt);
        if (t) this.linkChanged(peer, link, t);
        return;
      }
      case 'data':
        return this.deliver(peer, link, p.incarnation, p.seq, p.json, rinfo);
    }
  }

  private pong(peer: Peer, pl: PeerLink, ping: InnerPacket & { kind: 'ping' }): void {
    const pong = encodeInner({
      kind: 'pong',
      link: ping.link,
      to: peer.id,
      incarnation: this.incarnation,
      seq: ping.seq,
      sentAt: ping.sentAt,
      pingerIncarnation: ping.incarnation,
    });
    this.transmit(ping.link, pl.endpoint, this.crypto.seal(this.self, pong));
  }

  private deliver(peer: Peer, link: number, incarnation: number, seq: number, json: Buffer, rinfo: dgram.RemoteInfo): void {
    let window = peer.windows.get(incarnation);
    if (!window) {
      window = new DuplicateWindow();
      peer.windows.set(incarnation, window);
      if (peer.windows.size > 2) peer.windows.delete(peer.windows.keys().next().value!);
    }
    if (!window.accept(seq)) {
      this.counts.droppedDuplicate++;
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(utf8.decode(json));
    } catch (err) {
      return this.drop('droppedBadJson', rinfo, `message from ${peer.name} is not valid UTF-8 JSON: ${(err as Error).message}`);
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof (message as { kind?: unknown }).kind !== 'string') {
      return this.drop('droppedBadJson', rinfo, `message from ${peer.name} is not a JSON object with a string "kind"`);
    }
    this.counts.messagesReceived++;
    const m: ReceivedMessage = { from: peer.id, message: message as EngineMessage, link };
    for (const cb of this.listeners) {
      try {
        cb(m);
      } catch (err) {
        this.log.error({ err, from: peer.id }, 'cluster message handler failed; message dropped');
      }
    }
  }

  private drop(counter: DropCounter, rinfo: dgram.RemoteInfo, detail: string): void {
    this.counts[counter]++;
    const from = `${rinfo.address}:${rinfo.port}`;
    this.rateLimited(`${counter}:${from}`, (suppressed) =>
      this.log.warn(
        { from, reason: counter, suppressed },
        `dropped cluster packet from ${from}: ${detail}${suppressed > 0 ? ` (${suppressed} more like it since the last report)` : ''}`,
      ),
    );
  }

  /** Run `report` at most once per DROP_LOG_INTERVAL_MS per key, telling it how many were skipped. */
  private rateLimited(key: string, report: (suppressed: number) => void): void {
    const now = performance.now();
    const entry = this.dropLog.get(key);
    if (entry && now - entry.at < DROP_LOG_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.dropLog.size >= DROP_LOG_KEYS_MAX) this.dropLog.clear();
    report(entry?.suppressed ?? 0);
    this.dropLog.set(key, { at: now, suppressed: 0 });
  }
}
