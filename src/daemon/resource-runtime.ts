// One resource on this node, wired: the pure ReplicationCore decides, this module does
// the I/O its effects ask for (data and metadata on the backing device, messages to
// the peers over the PeerLink, NBD exports, the local block device, handlers) and
// feeds completions, peer messages and ticks back in as events.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import type { ResourceConfig, VolumeConfig, HostConfig } from '../config/drbd/model.js';
import { optionBool, optionInt, optionString } from '../config/drbd/index.js';
import { ReplicationCore, type ReplicationEffect, type Command, type ReplicationConfig } from '../volume/replication-core.js';
import { ConnectionState as C, Role } from '../volume/states.js';
import { StateChangeResult as SS, formatStateChangeFailure, isSuccess } from '../volume/state-results.js';
import type { ResourceStatus, PeerDeviceStatus } from '../volume/status-format.js';
import type { FencingPolicy } from '../volume/state-rules.js';
import type { AfterSbPolicy } from '../volume/after-split-brain.js';
import { parsePeerMessage } from '../volume/message-schema.js';
import type { PeerMessage } from '../volume/messages.js';
import { SyncProgress } from '../volume/sync-progress.js';
import { createMetadata } from '../runtime/metadata-store.js';
import { PeerLink } from '../runtime/peer/link.js';
import { loadPeerTls } from '../runtime/tls-loader.js';
import { payloadPool } from '../runtime/buffer-pool.js';
import type { NbdServer } from '../runtime/nbd/server.js';
import {
  createLocalDevice,
  removeLocalDevice,
  deviceOpeners,
  openerCount,
  flushDeviceBuffers,
  type LocalDevice,
} from '../runtime/local-device.js';
import { VolumeExportDirectory, deviceExportName, publicExportName } from './export-directory.js';
import { ReplicatedExport, type VolumeRequests } from './replicated-export.js';
import { VolumeIo } from './volume-io.js';

export interface CommandOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const ok = (stdout = ''): CommandOutcome => ({ exitCode: 0, stdout, stderr: '' });
const fail = (exitCode: number, message: string): CommandOutcome => ({ exitCode, stdout: '', stderr: message + '\n' });

export interface RuntimeLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface RuntimeEnv {
  stateDir: string;
  nbdSocket: string;
  nbdTcp: { host: string; port: number } | null;
  nbd: NbdServer;
  directory: VolumeExportDirectory;
  log: RuntimeLog;
  /** Set up the local block device (nbdfuse + loop); the CLI always does. */
  localDevices: boolean;
  /** tlshd.conf, where the certificates of resources with `net { tls yes; }` are named. */
  tlshdConf: string;
  /** The pino logger for the peer link (structured). */
  linkLogger: { info(o: object, m?: string): void; warn(o: object, m?: string): void; error(o: object, m?: string): void };
}

interface AttachedVolume {
  io: VolumeIo;
  publicExport: ReplicatedExport;
  deviceExport: ReplicatedExport;
  device: LocalDevice | null;
}

const WRONG_MEDIUM = 'Wrong medium type';
const tickMs = 100;

interface PeerInfo {
  name: string;
  nodeId: number;
  host: HostConfig;
  /** Bitmap slot of this peer in our metadata. */
  slot: number;
}

export class ResourceRuntime {
  private core: ReplicationCore | null = null;
  private readonly attached = new Map<number, AttachedVolume>();
  private link: PeerLink | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private readonly commandWaiters = new Map<number, (result: SS, detail: string[]) => void>();
  private readonly appWaiters = new Map<number, (ok: boolean, data?: Buffer, error?: string) => void>();
  private readonly ioWaits = new Set<Promise<unknown>>();
  /** Pooled block data received from a peer, released when its disk write completes (never, if it is dropped). */
  private readonly receivedPayloads = new WeakSet<Buffer>();
  private readonly progress = new Map<string, SyncProgress>();
  private readonly peers: PeerInfo[];
  private readonly selfNodeId: number;

  constructor(
    readonly config: ResourceConfig,
    private readonly volumes: VolumeConfig[],
    private readonly self: HostConfig,
    private readonly env: RuntimeEnv,
  ) {
    const hosts = config.hosts;
    this.selfNodeId = self.nodeId ?? hosts.indexOf(self);
    this.peers = hosts
      .filter((h) => h !== self)
      .map((h, slot) => ({ name: h.names[0]!, nodeId: h.nodeId ?? hosts.indexOf(h), host: h, slot }));
  }

  get name(): string {
    return this.config.name;
  }

  get isUp(): boolean {
    return this.core !== null;
  }

  get currentRole(): Role {
    return this.core?.currentRole ?? Role.Secondary;
  }

  // ---------------------------------------------------------------- configuration

  private coreConfig(): ReplicationConfig {
    const net = this.config.net;
    const disk = this.config.disk;
    const fencingWord = optionString(disk, 'fencing', null) ?? optionString(net, 'fencing', 'dont-care');
    const fencing: FencingPolicy = fencingWord === 'resource-only' || fencingWord === 'resource-and-stonith' ? fencingWord : 'dont-care';
    const rr = optionString(net, 'rr-conflict', 'disconnect');
    return {
      resource: this.name,
      self: { name: this.self.names[0]!, nodeId: this.selfNodeId },
      peers: this.peers.map((p) => ({ name: p.name, nodeId: p.nodeId })),
      protocol: this.config.protocol,
      allowTwoPrimaries: optionBool(net, 'allow-two-primaries', false),
      fencing,
      afterSb0pri: optionString(net, 'after-sb-0pri', 'disconnect') as AfterSbPolicy,
      afterSb1pri: optionString(net, 'after-sb-1pri', 'disconnect') as AfterSbPolicy,
      afterSb2pri: optionString(net, 'after-sb-2pri', 'disconnect') as AfterSbPolicy,
      alwaysAsbp: optionBool(net, 'always-asbp', false),
      rrConflict: rr === 'violently' || rr === 'call-pri-lost' ? rr : 'disconnect',
      verifyAlg: optionString(net, 'verify-alg', ''),
      csumsAlg: optionString(net, 'csums-alg', ''),
      maxEpochSize: optionInt(net, 'max-epoch-size', 2048),
      alExtents: Math.min(6433, optionInt(disk, 'al-extents', 1237)),
      resyncRequestBytes: 1024 * 1024,
      resyncInflightBytesMax: 16 * 1024 * 1024,
      // resync-rate is KiB/s in drbd.conf; 0 (unset) means as fast as the link allows.
      resyncRateKiBps: disk.has('resync-rate') ? optionInt(disk, 'resync-rate', 0) : 0,
      ...this.resyncControllerConfig(),
    };
  }

  /**
   * DRBD's dynamic resync controller runs when any of its options is set (units as in
   * drbd.conf: tenths of a second, sectors, KiB/s); otherwise resync-rate, if set, caps a
   * plain budget, and an unconfigured resync runs as fast as the link allows.
   */
  private resyncControllerConfig(): Pick<ReplicationConfig, 'resyncController'> {
    const disk = this.config.disk;
    const keys = ['c-plan-ahead', 'c-fill-target', 'c-delay-target', 'c-max-rate', 'c-min-rate'];
    if (!keys.some((k) => disk.has(k))) return {};
    const net = this.config.net;
    return {
      resyncController: {
        ...(disk.has('resync-rate') ? { resyncRateKiBps: optionInt(disk, 'resync-rate', 250) } : {}),
        ...(disk.has('c-plan-ahead') ? { cPlanAheadTenths: optionInt(disk, 'c-plan-ahead', 20) } : {}),
        ...(disk.has('c-fill-target') ? { cFillTargetSectors: optionInt(disk, 'c-fill-target', 100) } : {}),
        ...(disk.has('c-delay-target') ? { cDelayTargetTenths: optionInt(disk, 'c-delay-target', 10) } : {}),
        ...(disk.has('c-max-rate') ? { cMaxRateKiBps: optionInt(disk, 'c-max-rate', 102400) } : {}),
        ...(disk.has('c-min-rate') ? { cMinRateKiBps: optionInt(disk, 'c-min-rate', 250) } : {}),
        ...(net.has('max-buffers') ? { maxBuffers: optionInt(net, 'max-buffers', 2048) } : {}),
      },
    };
  }

  // ---------------------------------------------------------------- command plumbing

  /** Run commands on this resource one after another. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.queue.then(op, op);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async command(command: Command, openCount = 0): Promise<{ result: SS; detail: string[] }> {
    const core = this.core;
    if (!core) return { result: SS.UnknownError, detail: ['not up'] };
    const cmdId = this.nextId++;
    const done = new Promise<{ result: SS; detail: string[] }>((resolve) => {
      this.commandWaiters.set(cmdId, (result, detail) => resolve({ result, detail }));
    });
    this.apply(core.step({ type: 'command', cmdId, command, openCount }));
    return done;
  }

  readonly requests: VolumeRequests = {
    read: (volume, offset, length) =>
      this.appRequest((reqId) => ({ type: 'app-read', reqId, volume, offset, length })).then((d) => d ?? Buffer.alloc(0)),
    write: (volume, offset, data, fua) => this.appRequest((reqId) => ({ type: 'app-write', reqId, volume, offset, data, fua })).then(() => undefined),
    flush: (volume) => this.appRequest((reqId) => ({ type: 'app-flush', reqId, volume })).then(() => undefined),
  };

  private appRequest(make: (reqId: number) => Parameters<ReplicationCore['step']>[0]): Promise<Buffer | undefined> {
    const core = this.core;
    if (!core) return Promise.reject(new Error(`${this.name} is down`));
    const reqId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.appWaiters.set(reqId, (okay, data, error) => (okay ? resolve(data) : reject(new Error(error ?? 'I/O error'))));
      this.apply(core.step(make(reqId)));
    });
  }

  /** Carry out effects in order; I/O completions come back as io-done events. */
  private apply(effects: ReplicationEffect[]): void {
    const core = this.core;
    if (!core) return;
    for (const e of effects) {
      switch (e.type) {
        case 'send': {
          const peer = this.peers.find((p) => p.name === e.peer);
          if (peer && this.link) this.link.send(peer.nodeId, e.message as unknown as Record<string, unknown> & { type: string }, e.payload);
          break;
        }
        case 'disk-write': {
          const data = e.data;
          const pooled = Buffer.isBuffer(data) && payloadPool.isPooled(data) ? data : null;
          if (pooled !== null) payloadPool.retain(pooled);
          this.io(
            e.opId,
            () => (Buffer.isBuffer(data) ? this.vol(e.volume).io.data.write(e.offset, data, e.fua) : this.vol(e.volume).io.data.writeVectored(e.offset, data as Buffer[], e.fua)),
            pooled === null
              ? undefined
              : () => {
                  payloadPool.release(pooled);
                  // A received payload is done once it is on disk: its receiver's reference ends here.
                  if (this.receivedPayloads.delete(pooled)) payloadPool.release(pooled);
                },
          );
          break;
        }
        case 'disk-read': {
          // Resync and verify reads are done with their buffer within the step that
          // receives them (sent or digested); application reads are handed to the reader.
          const into = payloadPool.acquire(e.length);
          this.io(e.opId, () => this.vol(e.volume).io.data.read(e.offset, e.length, into, e.bulk === true), undefined, into);
          break;
        }
        case 'disk-flush':
          this.io(e.opId, () => this.vol(e.volume).io.data.flush());
          break;
        case 'write-superblock':
          this.io(e.opId, () => this.vol(e.volume).io.writeSuperblock(e.uuids, e.flags));
          break;
        case 'write-bitmap': {
          const slot = this.peers.find((p) => p.name === e.peer)?.slot ?? 0;
          this.io(e.opId, () => this.vol(e.volume).io.writeBitmap(slot, e.bytes, e.flushDataFirst));
          break;
        }
        case 'write-al':
          this.io(e.opId, () => this.vol(e.volume).io.writeAl(e.blockIndex, e.bytes));
          break;
        case 'app-done': {
          const w = this.appWaiters.get(e.reqId);
          this.appWaiters.delete(e.reqId);
          w?.(e.ok, e.data, e.error);
          break;
        }
        case 'command-done': {
          const w = this.commandWaiters.get(e.cmdId);
          this.commandWaiters.delete(e.cmdId);
          w?.(e.result, e.detail);
          break;
        }
        case 'link': {
          const peer = this.peers.find((p) => p.name === e.peer);
          if (!peer || !this.link) break;
          if (e.action === 'connect') this.link.connect(peer.nodeId);
          else this.link.disconnect(peer.nodeId, 'requested by the replication core');
          break;
        }
        case 'export':
          for (const a of this.attached.values()) {
            if (!e.enabled) this.env.nbd.disconnectExport(a.publicExport.name);
            // The page cache above the device must not outlive a role change.
            if (a.device) void flushDeviceBuffers(a.device.path);
          }
          break;
        case 'handler':
          this.runHandler(e.name, e.peer);
          break;
        case 'log':
          if (e.level === 'error') this.env.log.error(e.message);
          else if (e.level === 'warn') this.env.log.warn(e.message);
          else this.env.log.info(e.message);
          break;
      }
    }
  }

  private vol(volume: number): AttachedVolume {
    const a = this.attached.get(volume);
    if (!a) throw new Error(`${this.name}: volume ${volume} is not attached`);
    return a;
  }

  /**
   * Run one I/O; `settled` runs when it is over either way. `owned` is a pooled buffer the
   * I/O reads into: released after the core's step for the completion, unless the step hands
   * it to an application reader (then the NBD server releases it once it is sent).
   */
  private io(opId: number, op: () => Promise<unknown>, settled?: () => void, owned?: Buffer): void {
    const p = op().then(
      (data) => {
        settled?.();
        return data;
      },
      (err: Error) => {
        settled?.();
        throw err;
      },
    ).then(
      (data) => this.deliverIo(opId, true, Buffer.isBuffer(data) ? data : undefined, owned),
      (err: Error) => {
        this.env.log.error(`${this.name}: local I/O error: ${err.message}`);
        this.deliverIo(opId, false, undefined, owned);
      },
    );
    this.ioWaits.add(p);
    void p.finally(() => this.ioWaits.delete(p));
  }

  private deliverIo(opId: number, okay: boolean, data?: Buffer, owned?: Buffer): void {
    const core = this.core;
    if (!core) return;
    const effects = core.step({ type: 'io-done', opId, ok: okay, data });
    const handedOver = owned !== undefined && effects.some((e) => e.type === 'app-done' && e.data === owned);
    this.apply(effects);
    // Whoever keeps the buffer (the link, for resync data) has retained it during apply.
    if (owned !== undefined && !handedOver) payloadPool.release(owned);
  }

  /** DRBD's handlers section: run the configured command with DRBD's environment. */
  private runHandler(name: string, peer: string): void {
    const cmd = optionString(this.config.handlers, name, null);
    if (!cmd) {
      this.env.log.info(`${this.name}: no '${name}' handler configured (peer ${peer})`);
      return;
    }
    const child = spawn('/bin/sh', ['-c', cmd], {
      stdio: 'ignore',
      env: { ...process.env, DRBD_RESOURCE: this.name, DRBD_PEER: peer, DRBD_PEERS: peer, DRBD_MINOR: String(this.volumes[0]?.minor ?? 0) },
    });
    child.on('error', (err) => this.env.log.error(`${this.name}: handler ${name} could not start: ${err.message}`));
    child.on('exit', (code) => this.env.log.info(`${this.name}: handler ${name} exited with ${code}`));
  }

  // ---------------------------------------------------------------- verbs

  createMd(force: boolean): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (this.isUp) {
        return fail(20, `${this.name}: resource is up; meta data can only be created while it is down ('safeside down ${this.name}')`);
      }
      const lines: string[] = [];
      for (const v of this.volumes) {
        if (v.disk === null) continue;
        await createMetadata({
          resource: this.name,
          volume: v,
          maxPeers: Math.max(1, this.peers.length),
          force,
          nodeId: this.selfNodeId,
          randomBytes: (n: number) => randomBytes(n),
          out: (line: string) => lines.push(line),
        });
      }
      return ok(lines.map((l) => l + '\n').join(''));
    });
  }

  up(): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (this.isUp) return fail(10, `${this.name}: Failure: (161) Minor or volume exists already (delete it first)`);
      const core = new ReplicationCore(this.coreConfig(), {
        digest: (alg, data) => createHash(alg === 'crc32c' ? 'sha1' : alg).update(data).digest('hex'),
        randomU64: () => randomBytes(8).readBigUInt64BE(0),
      });
      this.core = core;
      // The core's clock starts now, not at its first periodic tick.
      this.apply(core.step({ type: 'tick', nowMs: Math.round(performance.now()) }));
      try {
        for (const v of this.volumes) await this.attachVolume(core, v);
        await this.startLink();
      } catch (err) {
        await this.teardown();
        throw err;
      }
      this.ticker = setInterval(() => this.tick(), tickMs);
      this.ticker.unref();
      // DRBD's up = attach + connect: peers with an address are connected right away.
      const reachable = this.peers.filter((p) => p.host.address !== null);
      for (const p of reachable) await this.command({ kind: 'connect', peer: p.name, discardMyData: false });
      return ok();
    });
  }

  private async attachVolume(core: ReplicationCore, v: VolumeConfig): Promise<void> {
    if (v.disk === null) throw new Error(`${this.name}/${v.volume}: diskless volumes are not supported yet`);
    const io = await VolumeIo.open(this.name, v, publicExportName(this.name, v.volume));
    const refusal = (): string | null =>
      this.core?.currentRole === Role.Primary ? null : `${WRONG_MEDIUM}: ${this.name} is Secondary on this node`;
    const publicExport = new ReplicatedExport(publicExportName(this.name, v.volume), `${this.name} volume ${v.volume}`, io.sizeBytes, v.volume, this.requests, refusal);
    const deviceExport = new ReplicatedExport(deviceExportName(this.name, v.volume), `${this.name} volume ${v.volume} (local device)`, io.sizeBytes, v.volume, this.requests, refusal);
    const attached: AttachedVolume = { io, publicExport, deviceExport, device: null };
    this.attached.set(v.volume, attached);
    const bitmaps = new Map<string, Buffer | null>();
    for (const p of this.peers) bitmaps.set(p.name, await io.readBitmap(p.slot));
    const sb = io.superblock;
    this.apply(
      core.step({
        type: 'attach',
        volume: v.volume,
        sizeBytes: io.sizeBytes,
        uuids: { current: sb.uuids.current, bitmap: sb.uuids.bitmap, history: [sb.uuids.history[0], sb.uuids.history[1]] },
        flags: sb.flags,
        bitmaps,
        hotExtents: await io.hotExtents(),
      }),
    );
    this.env.directory.register(publicExport.name, publicExport, {
      refusal: () =>
        this.core?.currentRole === Role.Primary
          ? null
          : `${WRONG_MEDIUM} (${this.name} is Secondary on this node; promote it with 'safeside primary ${this.name}')`,
      listed: true,
    });
    this.env.directory.register(deviceExport.name, deviceExport, { refusal: () => null, listed: false });
    if (this.env.localDevices) {
      attached.device = await createLocalDevice({
        stateDir: this.env.stateDir,
        resource: this.name,
        volume: v.volume,
        nbdSocket: this.env.nbdSocket,
        exportName: deviceExport.name,
        logFile: path.join(this.env.stateDir, 'nbdfuse.log'),
      });
      this.env.log.info(`${this.name}/${v.volume}: local block device ${attached.device.path}`);
    }
  }

  private async startLink(): Promise<void> {
    const reachable = this.peers.filter((p) => p.host.address !== null);
    if (reachable.length === 0) return;
    if (!this.self.address) {
      this.env.log.warn(`${this.name}: this node's 'on ${this.self.names[0]}' section has no address; peers cannot connect`);
      return;
    }
    const alg = optionString(this.config.net, 'cram-hmac-alg', null);
    const secret = optionString(this.config.net, 'shared-secret', null);
    const seconds = (key: string, dfltTenths: number): number => optionInt(this.config.net, key, dfltTenths) * 100;
    // DRBD 9.2 hands TLS to tlshd, configured in tlshd.conf; the same file names our certificates.
    const tls = optionBool(this.config.net, 'tls', false) ? await loadPeerTls(this.env.tlshdConf, this.name) : null;
    const link = new PeerLink({
      resource: this.name,
      self: { nodeId: this.selfNodeId, name: this.self.names[0]!, address: { host: this.self.address.host, port: this.self.address.port } },
      peers: reachable.map((p) => ({ nodeId: p.nodeId, name: p.name, address: { host: p.host.address!.host, port: p.host.address!.port } })),
      auth: alg && secret !== null ? { alg, secret } : null,
      tls,
      connectIntervalMs: optionInt(this.config.net, 'connect-int', 10) * 1000,
      pingIntervalMs: optionInt(this.config.net, 'ping-int', 10) * 1000,
      pingTimeoutMs: seconds('ping-timeout', 5),
      timeoutMs: seconds('timeout', 60),
      logger: this.env.linkLogger,
    });
    for (const p of reachable) link.disconnect(p.nodeId, 'waiting for connect');
    const byId = (id: number): PeerInfo | undefined => this.peers.find((p) => p.nodeId === id);
    link.on('connected', (id) => {
      const p = byId(id);
      if (p && this.core) this.apply(this.core.step({ type: 'link-up', peer: p.name, resolveConflicts: this.selfNodeId < p.nodeId }));
    });
    link.on('disconnected', (id, reason) => {
      const p = byId(id);
      if (p && this.core) this.apply(this.core.step({ type: 'link-down', peer: p.name, reason }));
    });
    link.on('refused', (id, reason) => this.env.log.warn(`${this.name}: peer ${byId(id)?.name ?? id} refused: ${reason}`));
    link.on('message', (id, header, payload) => {
      const p = byId(id);
      if (!p || !this.core) return;
      const parsed = parsePeerMessage(header, payload);
      const pooled = Buffer.isBuffer(payload) && payloadPool.isPooled(payload) ? payload : null;
      if (pooled !== null) {
        // Block data is kept until its disk write completes (the core may queue it behind a
        // range lock). Other payloads (bitmaps) are rare and simply not reused.
        if (parsed.ok && (parsed.message.type === 'data' || parsed.message.type === 'rs-data')) this.receivedPayloads.add(pooled);
      }
      if (!parsed.ok) {
        // A peer's bytes never crash the daemon: drop the connection and say why.
        this.env.log.error(`${this.name}: ${p.name}: protocol error: ${parsed.problem}; reconnecting`);
        link.disconnect(id, 'protocol error');
        this.apply(this.core.step({ type: 'link-down', peer: p.name, reason: `protocol error: ${parsed.problem}` }));
        link.connect(id);
        return;
      }
      this.apply(this.core.step({ type: 'message', peer: p.name, message: parsed.message as PeerMessage, payload }));
    });
    this.link = link;
    await link.start();
  }

  private tick(): void {
    const core = this.core;
    if (!core) return;
    const now = Math.round(performance.now());
    this.apply(core.step({ type: 'tick', nowMs: now }));
    this.updateProgress(now);
  }

  /** Sync progress per peer and volume, for status --proc/--json (DRBD's rate marks). */
  private updateProgress(now: number): void {
    const core = this.core!;
    for (const p of this.peers) {
      const snap = core.peerSnapshot(p.name);
      if (!snap) continue;
      for (const v of snap.volumes) {
        const key = `${p.name}/${v.volume}`;
        const syncing = v.repl === C.SyncSource || v.repl === C.SyncTarget;
        if (!syncing) {
          this.progress.delete(key);
          continue;
        }
        let prog = this.progress.get(key);
        if (!prog) {
          prog = new SyncProgress({ totalBits: Math.max(v.resyncTotalBits, v.outOfSyncBits), startMs: now });
          // DRBD's want: the controller's target; without resync-rate we aim at c-max-rate.
          const disk = this.config.disk;
          prog.setWant(disk.has('resync-rate') ? optionInt(disk, 'resync-rate', 0) : optionInt(disk, 'c-max-rate', 102400));
          this.progress.set(key, prog);
        }
        prog.update(Math.min(v.outOfSyncBits, Math.max(v.resyncTotalBits, v.outOfSyncBits)), now);
        if (v.resyncWantKiBps > 0) prog.setWant(v.resyncWantKiBps);
      }
    }
  }

  down(): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return ok();
      if (this.currentRole === Role.Primary) {
        const demoted = await this.demote();
        if (demoted.exitCode !== 0) return demoted;
      }
      await this.command({ kind: 'disconnect', peer: null });
      await this.teardown();
      return ok();
    });
  }

  /** Persist bitmaps, stop the link and timers, remove devices and exports, close files. */
  private async teardown(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    await this.link?.stop().catch(() => undefined);
    this.link = null;
    await Promise.allSettled([...this.ioWaits]);
    const core = this.core;
    for (const a of [...this.attached.values()].reverse()) {
      this.env.directory.unregister(a.publicExport.name);
      this.env.directory.unregister(a.deviceExport.name);
      if (a.device) await removeLocalDevice(this.env.stateDir, a.device).catch((err: Error) => this.env.log.error(err.message));
      this.env.nbd.disconnectExport(a.publicExport.name);
      this.env.nbd.disconnectExport(a.deviceExport.name);
      if (core) {
        for (const p of this.peers) {
          const bytes = core.bitmapBytes(a.io.config.volume, p.name);
          if (bytes) await a.io.writeBitmap(p.slot, bytes, true).catch((err: Error) => this.env.log.error(err.message));
        }
      }
      await a.io.close().catch(() => undefined);
    }
    this.attached.clear();
    this.progress.clear();
    for (const [, w] of this.appWaiters) w(false, undefined, `${this.name} went down`);
    this.appWaiters.clear();
    for (const [, w] of this.commandWaiters) w(SS.UnknownError, ['resource went down']);
    this.commandWaiters.clear();
    this.core = null;
  }

  /** Openers that keep the resource from becoming Secondary: mounts, processes, NBD clients. */
  private openers(): { count: number; detail: string[] } {
    let count = 0;
    const detail: string[] = [];
    for (const a of this.attached.values()) {
      if (a.device) {
        const o = deviceOpeners(a.device.path);
        count += openerCount(o);
        for (const m of o.mountPoints) detail.push(`${a.device.path} is mounted on ${m}`);
        for (const p of o.pids) detail.push(`${a.device.path} is open in process ${p} (${processName(p)})`);
        for (const h of o.holders) detail.push(`${a.device.path} is held by ${h}`);
      }
      if (a.publicExport.openCount > 0) {
        count += a.publicExport.openCount;
        detail.push(`${a.publicExport.openCount} NBD client(s) connected to export '${a.publicExport.name}'`);
      }
    }
    return { count, detail };
  }

  primary(force: boolean): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return fail(10, `${this.name}: resource is not up ('safeside up ${this.name}' first)`);
      const { result } = await this.command({ kind: 'primary', force }, this.openers().count);
      if (!isSuccess(result)) return refused(this.name, result, []);
      return ok();
    });
  }

  secondary(): Promise<CommandOutcome> {
    return this.serial(() => this.demote());
  }

  private async demote(): Promise<CommandOutcome> {
    if (!this.isUp) return fail(10, `${this.name}: resource is not up`);
    const openers = this.openers();
    if (openers.count > 0) return refused(this.name, SS.DeviceInUse, openers.detail);
    // Everything written while Primary reaches stable storage before we say Secondary.
    for (const a of this.attached.values()) await this.requests.flush(a.io.config.volume).catch(() => undefined);
    const { result } = await this.command({ kind: 'secondary' }, this.openers().count);
    if (!isSuccess(result)) return refused(this.name, result, openers.detail);
    return ok();
  }

  connect(discardMyData: boolean, peer: string | null): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return fail(10, `${this.name}: resource is not up`);
      // As DRBD's ERR_NET_CONFIGURED: a connection that is not StandAlone is already configured.
      const configured = this.peers
        .filter((p) => (peer === null || p.name === peer) && p.host.address !== null)
        .filter((p) => this.core?.peerSnapshot(p.name)?.conn !== C.StandAlone);
      const { result, detail } = await this.command({ kind: 'connect', peer, discardMyData });
      if (!isSuccess(result)) return refused(this.name, result, detail);
      if (configured.length > 0) {
        return fail(10, configured.map((p) => `${this.name} ${p.name}: Failure: (125) Device has a net-config (use disconnect first)`).join('\n'));
      }
      return ok();
    });
  }

  disconnect(peer: string | null): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return fail(10, `${this.name}: resource is not up`);
      const { result, detail } = await this.command({ kind: 'disconnect', peer });
      return isSuccess(result) ? ok() : refused(this.name, result, detail);
    });
  }

  invalidate(): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return fail(10, `${this.name}: resource is not up`);
      const { result, detail } = await this.command({ kind: 'invalidate' });
      return isSuccess(result) ? ok() : refused(this.name, result, detail);
    });
  }

  verify(peer: string | null): Promise<CommandOutcome> {
    return this.serial(async () => {
      if (!this.isUp) return fail(10, `${this.name}: resource is not up`);
      const { result, detail } = await this.command({ kind: 'verify', peer });
      return isSuccess(result) ? ok() : refused(this.name, result, detail);
    });
  }

  device(volume: number): CommandOutcome {
    const a = this.attached.get(volume);
    if (!a) {
      return fail(10, this.isUp ? `${this.name}: no volume ${volume}` : `${this.name}: resource is not up ('safeside up ${this.name}' first)`);
    }
    if (!a.device) return fail(1, `${this.name}/${volume}: no local block device (daemon runs without one)`);
    return ok(a.device.path + '\n');
  }

  nbdUri(volume: number): string {
    const name = encodeURIComponent(publicExportName(this.name, volume)).replace(/%2F/g, '/');
    if (this.env.nbdTcp) return `nbd://${this.env.nbdTcp.host}:${this.env.nbdTcp.port}/${name}`;
    return `nbd+unix:///${name}?socket=${this.env.nbdSocket}`;
  }

  status(): ResourceStatus {
    const core = this.core!;
    const now = Math.round(performance.now());
    const devices = core.volumeNumbers().map((vn) => {
      const snap = core.volumeSnapshot(vn)!;
      const a = this.attached.get(vn)!;
      const open = a.device ? openerCount(deviceOpeners(a.device.path)) > 0 : false;
      return {
        volume: vn,
        minor: a.io.config.minor,
        disk: snap.disk,
        sizeKiB: Math.floor(snap.sizeBytes / 1024),
        open: open || a.publicExport.openCount > 0,
        counters: {
          readKiB: Math.floor(snap.readKiB),
          writtenKiB: Math.floor(snap.writtenKiB),
          alWrites: snap.alWrites,
          bmWrites: snap.bmWrites,
          upperPending: this.appWaiters.size,
          lowerPending: this.ioWaits.size,
        },
        nbdUri: this.nbdUri(vn),
      };
    });
    return {
      name: this.name,
      nodeId: this.selfNodeId,
      role: core.currentRole,
      protocol: this.config.protocol,
      devices,
      connections: this.peers.map((p) => {
        const snap = core.peerSnapshot(p.name)!;
        return {
          peerName: p.name,
          peerNodeId: p.nodeId,
          connection: snap.conn,
          peerRole: snap.peerRole,
          peerDevices: snap.volumes.map((v): PeerDeviceStatus => {
            const prog = this.progress.get(`${p.name}/${v.volume}`);
            return {
              volume: v.volume,
              replication: v.repl,
              peerDisk: v.peerDisk,
              outOfSyncKiB: v.outOfSyncBits * 4,
              sentKiB: Math.floor(v.sentKiB),
              receivedKiB: Math.floor(v.receivedKiB),
              sizeKiB: Math.floor((v.totalBits * 4096) / 1024),
              ...(prog ? { sync: prog.details(now) } : {}),
            };
          }),
        };
      }),
      nbdUri: devices.length > 0 ? this.nbdUri(devices[0]!.volume) : null,
    };
  }

  async shutdown(): Promise<void> {
    await this.serial(async () => {
      if (this.isUp) await this.teardown();
    });
  }
}

function refused(name: string, rv: SS, detail: string[]): CommandOutcome {
  const lines = [formatStateChangeFailure(name, rv), ...detail.map((d) => `  ${d}`)];
  return { exitCode: 11, stdout: '', stderr: lines.join('\n') + '\n' };
}

function processName(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
