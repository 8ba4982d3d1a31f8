// The replication core of one resource on one node: roles, disk states, connections to
// the peers, write replication with DRBD's protocols A/B/C, the resync handshake,
// bitmap exchange, resync and online verify. Events in, effects out: no sockets, no
// disks, no clock; I/O completions come back as `io-done` events, time as `tick`.
//
// Structure: one LocalVolume per volume (disk state, generation UUIDs, a quick-sync
// bitmap per peer, activity log, range locks) and one PeerState per configured peer
// (link, handshake, per-volume replication state).

import { ConnectionState as C, DiskState as D, Role, diskStateName, roleName, connectionStateName } from './states.js';
import { StateChangeResult as SS } from './state-results.js';
import { checkStateChange, type DeviceState, type FencingPolicy } from './state-rules.js';
import { QuickSyncBitmap } from './bitmap.js';
import { ActivityLog, encodeAlTransaction, extentsForRange, AL_EXTENT_BYTES } from './activity-log.js';
import {
  UUID_JUST_CREATED,
  newCurrentUuid,
  rotateBitmapIntoHistory,
  startResyncAsSource,
  uuidEqual,
  formatUuids,
  type GenerationUuids,
} from './uuids.js';
import { RangeLocks } from './range-locks.js';
import { syncHandshake, type SyncDecision } from './resync-decision.js';
import { blockDataBuffer, blockDataLength, type BlockData } from './block-data.js';
import type { PeerMessage, UuidsMessage } from './messages.js';
import { MetaFlag, diskStateOnAttach } from './meta-flags.js';
import type { AfterSbPolicy } from './after-split-brain.js';
import { ResyncRateController, type ResyncRateConfig } from './resync-rate.js';

export const BLOCK_BYTES = 4096;
/**
 * P_UUIDS flag (our extension, beside DRBD's 1/2/4): the sender replicates from a
 * Primary other than the receiver. Such a node takes resync data only from that Primary,
 * so a Secondary never overwrites blocks the Primary is writing concurrently.
 */
export const UUID_FLAG_HAS_OTHER_PRIMARY = 0x100;
/** How often a Primary tells its in-sync Secondaries that they hold the same data. */
const PEERS_IN_SYNC_INTERVAL_MS = 500;
const BITMAP_CHUNK_BYTES = 256 * 1024;
/** An epoch with writes is closed by a barrier at the latest after this long. */
const EPOCH_IDLE_CLOSE_MS = 1000;
/**
 * Cleared bits are written out at most this often (DRBD's lazy bitmap write-out, 2 s):
 * each write-out first flushes the data, and a bit left set on disk only costs a
 * block of resync after a crash.
 */
const BITMAP_LAZY_WRITEOUT_MS = 2000;

export interface ReplicationConfig {
  resource: string;
  self: { name: string; nodeId: number };
  peers: { name: string; nodeId: number }[];
  protocol: 'A' | 'B' | 'C';
  allowTwoPrimaries: boolean;
  fencing: FencingPolicy;
  afterSb0pri: AfterSbPolicy;
  afterSb1pri: AfterSbPolicy;
  afterSb2pri: AfterSbPolicy;
  alwaysAsbp: boolean;
  rrConflict: 'disconnect' | 'violently' | 'call-pri-lost';
  verifyAlg: string;
  csumsAlg: string;
  maxEpochSize: number;
  alExtents: number;
  /** Largest single resync request. */
  resyncRequestBytes: number;
  /** Resync data requested and not yet answered, per peer and volume. */
  resyncInflightBytesMax: number;
  /** Resync bandwidth cap per peer and volume (KiB/s); 0 = unlimited. */
  resyncRateKiBps: number;
  /** Log every resync request and answer (for replaying a simulator seed). */
  trace?: boolean;
  /**
   * DRBD's dynamic resync controller (c-plan-ahead, c-fill-target, c-delay-target,
   * c-max-rate, c-min-rate): when set, it decides each tick how much the target requests,
   * instead of the plain resyncRateKiBps budget.
   */
  resyncController?: Partial<ResyncRateConfig>;
}

export interface CoreDeps {
  /** Deterministic digest for verify-alg / csums-alg, hex. */
  digest(alg: string, data: Buffer): string;
  /** Randomness is an input: the simulator passes a seeded generator. */
  randomU64(): bigint;
}

export type Command =
  | { kind: 'primary'; force: boolean }
  | { kind: 'secondary' }
  | { kind: 'connect'; peer: string | null; discardMyData: boolean }
  | { kind: 'disconnect'; peer: string | null }
  | { kind: 'invalidate' }
  | { kind: 'verify'; peer: string | null };

export type ReplicationEvent =
  | {
      type: 'attach';
      volume: number;
      sizeBytes: number;
      uuids: GenerationUuids;
      flags: number;
      /** Persisted bitmap bytes per peer name (null: none saved, start clean). */
      bitmaps: Map<string, Buffer | null>;
      /** Extents the activity log says were hot when the node last stopped uncleanly. */
      hotExtents: number[];
    }
  | { type: 'command'; cmdId: number; command: Command; openCount: number }
  | { type: 'link-up'; peer: string; resolveConflicts: boolean }
  | { type: 'link-down'; peer: string; reason: string }
  | { type: 'message'; peer: string; message: PeerMessage; payload: BlockData | null }
  | { type: 'app-write'; reqId: number; volume: number; offset: number; data: BlockData; fua: boolean }
  | { type: 'app-flush'; reqId: number; volume: number }
  | { type: 'app-read'; reqId: number; volume: number; offset: number; length: number }
  | { type: 'io-done'; opId: number; ok: boolean; data?: Buffer }
  | { type: 'tick'; nowMs: number };

export type ReplicationEffect =
  | { type: 'send'; peer: string; message: PeerMessage; payload: BlockData | null }
  | { type: 'disk-write'; opId: number; volume: number; offset: number; data: BlockData; fua: boolean }
  /** `bulk`: a one-pass read (resync, verify) the runtime may do around the page cache. */
  | { type: 'disk-read'; opId: number; volume: number; offset: number; length: number; bulk?: boolean }
  | { type: 'disk-flush'; opId: number; volume: number }
  | { type: 'write-superblock'; opId: number; volume: number; uuids: GenerationUuids; flags: number }
  /** Bitmap bytes of one peer slot; when flushDataFirst, the data device is synced before they are written. */
  | { type: 'write-bitmap'; opId: number; volume: number; peer: string; byteOffset: number; bytes: Buffer; flushDataFirst: boolean }
  | { type: 'write-al'; opId: number; volume: number; blockIndex: number; bytes: Buffer }
  | { type: 'app-done'; reqId: number; ok: boolean; data?: Buffer; error?: string }
  | { type: 'command-done'; cmdId: number; result: SS; detail: string[] }
  | { type: 'link'; peer: string; action: 'connect' | 'disconnect' }
  | { type: 'export'; enabled: boolean }
  | { type: 'handler'; name: string; peer: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

interface LocalVolume {
  volume: number;
  sizeBytes: number;
  disk: D;
  uuids: GenerationUuids;
  flags: number;
  bitmaps: Map<string, QuickSyncBitmap>;
  /** Bitmap bytes (4 KiB pages) that went 0 -> 1 and are not on disk yet, per peer. */
  al: ActivityLog;
  locks: RangeLocks;
  readKiB: number;
  writtenKiB: number;
  /** Sectors of application and replicated writes (not resync), for c-min-rate. */
  appIoSectors: number;
  alWrites: number;
  bmWrites: number;
}

interface PeerVolume {
  repl: C;
  peerDisk: D;
  peerUuids: UuidsMessage | null;
  peerUsableBytes: number | null;
  /** Bitmap exchange: bytes received from the peer so far. */
  bitmapIn: Buffer | null;
  bitmapInDone: boolean;
  bitmapOutDone: boolean;
  syncDirection: 'source' | 'target' | null;
  /** Target side: next bit to look at and bytes requested and not answered. */
  resyncCursor: number;
  resyncInflightBytes: number;
  resyncBudgetBytes: number;
  /** Target side with a configured controller: it sets the budget every tick. */
  rateController: ResyncRateController | null;
  resyncBytesDoneSinceTick: number;
  /** The controller's current target rate (DRBD's want:), KiB/s; 0 when none runs. */
  resyncWantKiBps: number;
  appIoSectorsAtTick: number;
  resyncTotalBits: number;
  resyncStartMs: number;
  resyncSameCsumBlocks: number;
  /** Verify (source side): next offset, blocks found different. */
  verifyCursor: number;
  verifyInflight: number;
  verifyOutOfSync: number;
  verifyActive: boolean;
  /** Secondary: marks for this (Primary) peer last reported to it with out-of-sync messages. */
  reportedMarks: number;
  sentKiB: number;
  receivedKiB: number;
}

interface TransferLogEntry {
  volume: number;
  offset: number;
  length: number;
  epoch: number;
}

interface PeerState {
  name: string;
  nodeId: number;
  /** StandAlone (operator said disconnect / refused), Unconnected/WFConnection (link down, trying), WFReportParams (handshake), Connected. */
  conn: C;
  peerRole: Role;
  resolveConflicts: boolean;
  discardMyData: boolean;
  paramsReceived: boolean;
  peerParams: Extract<PeerMessage, { type: 'params' }> | null;
  stateReceived: boolean;
  volumes: Map<number, PeerVolume>;
  /** Writes sent and not yet covered by a barrier ack: marked out of sync if the link drops. */
  transferLog: TransferLogEntry[];
  epoch: number;
  epochWrites: number;
  /** When the current epoch got its first write (simulated or monotonic ms). */
  epochOpenedMs: number;
  /** Receiving side: writes of each epoch still in flight, and barriers waiting for them. */
  epochsInFlight: Map<number, number>;
  pendingBarriers: number[];
  flushingBarrier: boolean;
  /** Data messages applied from this peer, for overlapping-write order. */
  pendingPromote: { requestId: number; cmdId: number; force: boolean } | null;
}

interface AppWrite {
  reqId: number;
  volume: number;
  offset: number;
  length: number;
  localDone: boolean;
  ok: boolean;
  /** Peers whose ack we still wait for. */
  waitingPeers: Set<string>;
  bitmapWritesPending: number;
  extents: number[];
  id: number;
  /** Peers the data went to and that did not drop out before acknowledging it. */
  holders: Set<string>;
}

interface AppFlush {
  reqId: number;
  localDone: boolean;
  waitingPeers: Map<string, number>;
}

const replicating = (c: C): boolean =>
  c === C.Connected || c === C.SyncSource || c === C.SyncTarget || c === C.PausedSyncS || c === C.PausedSyncT || c === C.VerifyS || c === C.VerifyT;

export class ReplicationCore {
  private role: Role = Role.Secondary;
  private readonly volumes = new Map<number, LocalVolume>();
  private readonly peers = new Map<string, PeerState>();
  private out: ReplicationEffect[] = [];
  private nextOpId = 1;
  private nextWriteId = 1;
  private nextRequestId = 1;
  private readonly ioWaiters = new Map<number, (ok: boolean, data?: Buffer) => void>();
  private readonly appWrites = new Map<number, AppWrite>();
  private readonly appFlushes = new Map<number, AppFlush>();
  private nowMs = 0;
  private bitmapPersistDue = false;
  private lastBitmapWriteoutMs = -BITMAP_LAZY_WRITEOUT_MS;

  constructor(
    private readonly cfg: ReplicationConfig,
    private readonly deps: CoreDeps,
  ) {
    for (const p of cfg.peers) {
      this.peers.set(p.name, {
        name: p.name,
        nodeId: p.nodeId,
        conn: C.StandAlone,
        peerRole: Role.Unknown,
        resolveConflicts: false,
        discardMyData: false,
        paramsReceived: false,
        peerParams: null,
        stateReceived: false,
        volumes: new Map(),
        transferLog: [],
        epoch: 1,
        epochWrites: 0,
        epochOpenedMs: 0,
        epochsInFlight: new Map(),
        pendingBarriers: [],
        flushingBarrier: false,
        pendingPromote: null,
      });
    }
  }

  // ---------------------------------------------------------------- views

  get currentRole(): Role {
    return this.role;
  }

  volumeSnapshot(volume: number): {
    disk: D;
    uuids: GenerationUuids;
    flags: number;
    sizeBytes: number;
    readKiB: number;
    writtenKiB: number;
    alWrites: number;
    bmWrites: number;
  } | null {
    const v = this.volumes.get(volume);
    if (!v) return null;
    return { disk: v.disk, uuids: v.uuids, flags: v.flags, sizeBytes: v.sizeBytes, readKiB: v.readKiB, writtenKiB: v.writtenKiB, alWrites: v.alWrites, bmWrites: v.bmWrites };
  }

  volumeNumbers(): number[] {
    return [...this.volumes.keys()].sort((a, b) => a - b);
  }

  peerSnapshot(peer: string): {
    conn: C;
    peerRole: Role;
    volumes: { volume: number; repl: C; peerDisk: D; outOfSyncBits: number; totalBits: number; resyncTotalBits: number; resyncStartMs: number; sentKiB: number; receivedKiB: number; resyncWantKiBps: number; sameCsumBlocks: number }[];
  } | null {
    const p = this.peers.get(peer);
    if (!p) return null;
    return {
      conn: p.conn,
      peerRole: p.peerRole,
      volumes: this.volumeNumbers().map((vn) => {
        const pv = this.peerVolume(p, vn);
        const bm = this.volumes.get(vn)!.bitmaps.get(peer)!;
        return {
          volume: vn,
          repl: p.conn === C.Connected ? pv.repl : p.conn,
          peerDisk: pv.peerDisk,
          outOfSyncBits: bm.countSet(),
          totalBits: Math.ceil(this.volumes.get(vn)!.sizeBytes / BLOCK_BYTES),
          resyncTotalBits: pv.resyncTotalBits,
          resyncStartMs: pv.resyncStartMs,
          sentKiB: pv.sentKiB,
          receivedKiB: pv.receivedKiB,
          resyncWantKiBps: pv.resyncWantKiBps,
          sameCsumBlocks: pv.resyncSameCsumBlocks,
        };
      }),
    };
  }

  peerNames(): string[] {
    return [...this.peers.keys()];
  }

  /** Bitmap bytes of a peer slot, for persisting at shutdown. */
  bitmapBytes(volume: number, peer: string): Buffer | null {
    return this.volumes.get(volume)?.bitmaps.get(peer)?.toBytes() ?? null;
  }

  // ---------------------------------------------------------------- stepping

  step(event: ReplicationEvent): ReplicationEffect[] {
    this.out = [];
    switch (event.type) {
      case 'attach':
        this.attach(event);
        break;
      case 'command':
        this.command(event.cmdId, event.command, event.openCount);
        break;
      case 'link-up':
        this.linkUp(event.peer, event.resolveConflicts);
        break;
      case 'link-down':
        this.linkDown(event.peer, event.reason, C.Unconnected);
        break;
      case 'message':
        this.receive(event.peer, event.message, event.payload);
        break;
      case 'app-write':
        this.appWrite(event.reqId, event.volume, event.offset, event.data, event.fua);
        break;
      case 'app-flush':
        this.appFlush(event.reqId, event.volume);
        break;
      case 'app-read':
        this.appRead(event.reqId, event.volume, event.offset, event.length);
        break;
      case 'io-done': {
        const k = this.ioWaiters.get(event.opId);
        if (!k) throw new Error(`replication core: completion of unknown op ${event.opId}`);
        this.ioWaiters.delete(event.opId);
        k(event.ok, event.data);
        break;
      }
      case 'tick':
        this.tick(event.nowMs);
        break;
    }
    const effects = this.out;
    this.out = [];
    return effects;
  }

  private emit(e: ReplicationEffect): void {
    this.out.push(e);
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.emit({ type: 'log', level, message: `${this.cfg.resource}: ${message}` });
  }

  private io(make: (opId: number) => ReplicationEffect, then: (ok: boolean, data?: Buffer) => void): void {
    const opId = this.nextOpId++;
    this.ioWaiters.set(opId, then);
    this.emit(make(opId));
  }

  private send(peer: PeerState, message: PeerMessage, payload: BlockData | null = null): void {
    if (this.cfg.trace) this.log('info', `-> ${peer.name} ${message.type} ${JSON.stringify(message, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    this.emit({ type: 'send', peer: peer.name, message, payload });
  }

  private peerVolume(p: PeerState, volume: number): PeerVolume {
    let pv = p.volumes.get(volume);
    if (!pv) {
      pv = {
        repl: C.Unconnected,
        peerDisk: D.DUnknown,
        peerUuids: null,
        peerUsableBytes: null,
        bitmapIn: null,
        bitmapInDone: false,
        bitmapOutDone: false,
        syncDirection: null,
        resyncCursor: 0,
        resyncInflightBytes: 0,
        resyncBudgetBytes: 0,
        rateController: null,
        resyncBytesDoneSinceTick: 0,
        resyncWantKiBps: 0,
        appIoSectorsAtTick: 0,
        resyncTotalBits: 0,
        resyncStartMs: 0,
        resyncSameCsumBlocks: 0,
        verifyCursor: 0,
        verifyInflight: 0,
        verifyOutOfSync: 0,
        verifyActive: false,
        reportedMarks: 0,
        sentKiB: 0,
        receivedKiB: 0,
      };
      p.volumes.set(volume, pv);
    }
    return pv;
  }

  // ---------------------------------------------------------------- attach and persistence

  private attach(e: Extract<ReplicationEvent, { type: 'attach' }>): void {
    const bits = Math.ceil(e.sizeBytes / BLOCK_BYTES);
    const bitmaps = new Map<string, QuickSyncBitmap>();
    for (const p of this.peers.values()) {
      const saved = e.bitmaps.get(p.name) ?? null;
      bitmaps.set(p.name, saved ? QuickSyncBitmap.fromBytes(saved, bits, e.sizeBytes) : new QuickSyncBitmap(bits, e.sizeBytes));
    }
    const disk = diskStateOnAttach(e.flags, this.cfg.fencing);
    const v: LocalVolume = {
      volume: e.volume,
      sizeBytes: e.sizeBytes,
      disk,
      uuids: e.uuids,
      flags: e.flags,
      bitmaps,
      al: new ActivityLog({ alExtents: this.cfg.alExtents }),
      locks: new RangeLocks(),
      readKiB: 0,
      writtenKiB: 0,
      appIoSectors: 0,
      alWrites: 0,
      bmWrites: 0,
    };
    this.volumes.set(e.volume, v);
    this.log('info', `volume ${e.volume}: attached, disk( Diskless -> ${diskStateName(disk)} ), uuids ${formatUuids(e.uuids)}`);
    if (e.flags & MetaFlag.PrimaryInd || e.hotExtents.length > 0) {
      // Stopped as Primary without demoting: blocks in hot extents may differ from the peers'.
      for (const bm of bitmaps.values()) {
        for (const ext of e.hotExtents) bm.setRange(ext * AL_EXTENT_BYTES, Math.min(AL_EXTENT_BYTES, e.sizeBytes - ext * AL_EXTENT_BYTES));
      }
      if (e.flags & MetaFlag.PrimaryInd) {
        v.flags = (v.flags | MetaFlag.CrashedPrimary) & ~MetaFlag.PrimaryInd;
        this.log('warn', `volume ${e.volume}: was Primary when it stopped (crashed primary); ${e.hotExtents.length} hot extent(s) of the activity log marked out of sync`);
      }
      this.persistSuperblock(v, () => undefined);
      for (const p of this.peers.values()) this.persistBitmap(v, p.name, false, () => undefined);
    }
  }

  private persistSuperblock(v: LocalVolume, then: () => void): void {
    this.io((opId) => ({ type: 'write-superblock', opId, volume: v.volume, uuids: v.uuids, flags: v.flags }), () => then());
  }

  private persistBitmap(v: LocalVolume, peer: string, flushDataFirst: boolean, then: () => void): void {
    const bytes = v.bitmaps.get(peer)!.toBytes();
    v.bmWrites++;
    this.io((opId) => ({ type: 'write-bitmap', opId, volume: v.volume, peer, byteOffset: 0, bytes, flushDataFirst }), () => then());
  }

  private setDisk(v: LocalVolume, disk: D, why: string): void {
    if (v.disk === disk) return;
    this.log('info', `volume ${v.volume}: disk( ${diskStateName(v.disk)} -> ${diskStateName(disk)} ) ${why}`);
    v.disk = disk;
    let flags = v.flags;
    if (disk === D.UpToDate) flags |= MetaFlag.Consistent | MetaFlag.WasUpToDate;
    else if (disk === D.Inconsistent) flags &= ~(MetaFlag.Consistent | MetaFlag.WasUpToDate);
    else if (disk === D.Outdated) flags = (flags | MetaFlag.Consistent) & ~MetaFlag.WasUpToDate;
    v.flags = flags;
    this.persistSuperblock(v, () => undefined);
    this.broadcastState();
  }

  private setUuids(v: LocalVolume, uuids: GenerationUuids, why: string): void {
    v.uuids = uuids;
    this.log('info', `volume ${v.volume}: uuids ${formatUuids(uuids)} (${why})`);
    this.persistSuperblock(v, () => undefined);
    for (const p of this.peers.values()) if (p.conn === C.Connected) this.sendUuids(p, v);
  }

  // ---------------------------------------------------------------- operator commands

  private deviceState(v: LocalVolume, role: Role, p: PeerState | null): DeviceState {
    if (!p) return { role, peerRole: Role.Unknown, conn: C.StandAlone, disk: v.disk, peerDisk: D.DUnknown };
    const pv = this.peerVolume(p, v.volume);
    const conn = p.conn === C.Connected ? pv.repl : p.conn;
    return { role, peerRole: p.conn === C.Connected ? p.peerRole : Role.Unknown, conn, disk: v.disk, peerDisk: p.conn === C.Connected ? pv.peerDisk : D.DUnknown };
  }

  /** Check a role change for every volume against every peer (and alone when there are none). */
  private checkRole(role: Role, openCount: number, diskOverride: D | null): SS {
    if (this.volumes.size === 0) return SS.IsDiskless;
    const peers: (PeerState | null)[] = this.peers.size ? [...this.peers.values()] : [null];
    for (const v of this.volumes.values()) {
      for (const p of peers) {
        const os = this.deviceState(v, this.role, p);
        const ns = { ...this.deviceState(v, role, p) };
        if (diskOverride !== null) ns.disk = diskOverride;
        // With another node reachable that has good data, our own disk need not be UpToDate.
        const rv = checkStateChange(os, ns, {
          hasNetConfig: p !== null,
          allowTwoPrimaries: this.cfg.allowTwoPrimaries,
          fencing: this.cfg.fencing,
          openCount,
          verifyAlg: this.cfg.verifyAlg,
        });
        if (rv < SS.Success) return rv;
      }
    }
    return SS.Success;
  }

  private command(cmdId: number, cmd: Command, openCount: number): void {
    const done = (result: SS, detail: string[] = []): void => this.emit({ type: 'command-done', cmdId, result, detail });
    switch (cmd.kind) {
      case 'primary':
        return this.promote(cmdId, cmd.force, openCount);
      case 'secondary': {
        if (this.role === Role.Secondary) return done(SS.NothingToDo);
        const rv = this.checkRole(Role.Secondary, openCount, null);
        if (rv < SS.Success) return done(rv);
        this.role = Role.Secondary;
        this.emit({ type: 'export', enabled: false });
        this.log('info', `role( Primary -> Secondary )`);
        let pending = this.volumes.size;
        for (const v of this.volumes.values()) {
          v.flags &= ~MetaFlag.PrimaryInd;
          v.uuids = { ...v.uuids, current: v.uuids.current & ~1n };
          this.persistSuperblock(v, () => {
            if (--pending === 0) done(SS.Success);
          });
        }
        this.broadcastState();
        return;
      }
      case 'connect': {
        const targets = this.selectPeers(cmd.peer);
        if (typeof targets === 'string') return done(SS.UnknownError, [targets]);
        if (targets.length === 0) return done(SS.NoNetConfig, ['no peers are configured for this resource']);
        for (const p of targets) {
          if (p.conn !== C.StandAlone) continue;
          p.discardMyData = cmd.discardMyData;
          p.conn = C.WFConnection;
          this.log('info', `${p.name}: conn( StandAlone -> WFConnection )`);
          this.emit({ type: 'link', peer: p.name, action: 'connect' });
        }
        return done(SS.Success);
      }
      case 'disconnect': {
        const targets = this.selectPeers(cmd.peer);
        if (typeof targets === 'string') return done(SS.UnknownError, [targets]);
        for (const p of targets) {
          if (p.conn === C.StandAlone) continue;
          this.emit({ type: 'link', peer: p.name, action: 'disconnect' });
          this.linkDown(p.name, 'disconnected by operator', C.StandAlone);
        }
        return done(SS.Success);
      }
      case 'invalidate': {
        // Discard the local data: full resync from a peer that has good data.
        const source = [...this.peers.values()].find(
          (p) => p.conn === C.Connected && [...p.volumes.values()].every((pv) => pv.peerDisk === D.UpToDate),
        );
        if (!source) return done(SS.NeedConnection, ['invalidate needs a connected peer with UpToDate data']);
        if (this.role === Role.Primary) return done(SS.DeviceInUse, ['demote before invalidating']);
        for (const v of this.volumes.values()) {
          v.bitmaps.get(source.name)!.setAll();
          this.setDisk(v, D.Inconsistent, 'invalidate');
          this.send(source, { type: 'sync-start', volume: v.volume, senderIs: 'target' });
          this.beginSync(source, v, 'target');
        }
        return done(SS.Success);
      }
      case 'verify': {
        if (this.cfg.verifyAlg === '') return done(SS.NoVerifyAlg);
        const targets = this.selectPeers(cmd.peer);
        if (typeof targets === 'string') return done(SS.UnknownError, [targets]);
        const p = targets.find((t) => t.conn === C.Connected);
        if (!p) return done(SS.NeedConnection);
        for (const v of this.volumes.values()) {
          const pv = this.peerVolume(p, v.volume);
          if (pv.repl !== C.Connected) return done(SS.ResyncRunning);
          if (v.disk !== D.UpToDate || pv.peerDisk !== D.UpToDate) return done(SS.NoUpToDateDisk);
        }
        for (const v of this.volumes.values()) {
          const pv = this.peerVolume(p, v.volume);
          pv.repl = C.VerifyS;
          pv.verifyActive = true;
          pv.verifyCursor = 0;
          pv.verifyOutOfSync = 0;
          pv.verifyInflight = 0;
          pv.resyncStartMs = this.nowMs;
          pv.resyncTotalBits = Math.ceil(v.sizeBytes / BLOCK_BYTES);
          this.send(p, { type: 'ov-start', volume: v.volume });
          this.log('info', `${p.name}: Online verify started (verify-alg ${this.cfg.verifyAlg})`);
          this.pumpVerify(p, v);
        }
        return done(SS.Success);
      }
    }
  }

  private selectPeers(name: string | null): PeerState[] | string {
    if (name === null) return [...this.peers.values()];
    const p = this.peers.get(name);
    return p ? [p] : `no peer named '${name}' in this resource (peers: ${[...this.peers.keys()].join(', ') || 'none'})`;
  }

  private promote(cmdId: number, force: boolean, openCount: number): void {
    const done = (result: SS, detail: string[] = []): void => this.emit({ type: 'command-done', cmdId, result, detail });
    if (this.role === Role.Primary) return done(SS.NothingToDo);
    let rv = this.checkRole(Role.Primary, openCount, null);
    let forced = false;
    if (rv === SS.NoUpToDateDisk && force && [...this.volumes.values()].every((v) => v.disk >= D.Inconsistent)) {
      rv = this.checkRole(Role.Primary, openCount, D.UpToDate);
      forced = rv >= SS.Success;
    }
    if (rv < SS.Success) return done(rv);
    const connected = [...this.peers.values()].filter((p) => p.conn === C.Connected);
    if (connected.length > 0 && !this.cfg.allowTwoPrimaries) {
      // Cluster-wide: every connected peer must agree, so two nodes never promote at once.
      const requestId = this.nextRequestId++;
      let waiting = connected.length;
      let failed: SS | null = null;
      for (const p of connected) {
        p.pendingPromote = { requestId, cmdId, force };
        this.send(p, { type: 'promote-request', requestId });
      }
      this.promoteWaiters.set(requestId, (peerResult) => {
        if (peerResult < SS.Success && failed === null) failed = peerResult;
        if (--waiting > 0) return;
        for (const p of connected) if (p.pendingPromote?.requestId === requestId) p.pendingPromote = null;
        if (failed !== null) return done(failed === SS.TwoPrimaries ? SS.TwoPrimaries : SS.FailedByPeer);
        // Re-check: things may have changed while we asked.
        const again = this.checkRole(Role.Primary, openCount, forced ? D.UpToDate : null);
        if (again < SS.Success) return done(again);
        this.becomePrimary(forced, (rv) => done(rv));
      });
      return;
    }
    this.becomePrimary(forced, (rv) => done(rv));
  }

  private readonly promoteWaiters = new Map<number, (result: SS) => void>();

  /**
   * A new data generation: bitmap := current, current := random. An older bitmap UUID
   * goes to history first, so a peer that left even earlier is still recognised (with a
   * full sync, as only one bitmap UUID is kept). Every node that writes without all its
   * peers thus has a generation nobody else has: equal current UUIDs mean the same writer.
   */
  private newGeneration(uuids: GenerationUuids): GenerationUuids {
    const base = uuids.bitmap !== 0n && !uuidEqual(uuids.bitmap, uuids.current) ? rotateBitmapIntoHistory(uuids) : uuids;
    return newCurrentUuid(base, this.deps.randomU64, true).uuids;
  }

  private becomePrimary(forced: boolean, then: (rv: SS) => void): void {
    if (forced) this.log('warn', 'Forced to consider local data as UpToDate!');
    // Any configured peer that is not connected will miss what we write from now on.
    const allConnected = [...this.peers.values()].every((p) => p.conn === C.Connected);
    let pending = this.volumes.size;
    for (const v of this.volumes.values()) {
      if (forced) this.setDisk(v, D.UpToDate, '(forced)');
      let uuids = v.uuids;
      // A Primary without its peers starts a new data generation (DRBD: new current UUID on
      // promote while disconnected, or when forced).
      if (forced || !allConnected) uuids = this.newGeneration(uuids);
      v.uuids = { ...uuids, current: uuids.current | 1n };
      v.flags = (v.flags | MetaFlag.PrimaryInd) & ~MetaFlag.CrashedPrimary;
      this.persistSuperblock(v, () => {
        if (--pending === 0) {
          const lost = [...this.volumes.values()].find((x) => x.disk !== D.UpToDate);
          if (lost) {
            // The disk changed while the superblock was written (a resync from a peer
            // started): promoting now would serve data that is not UpToDate.
            this.log('warn', `promotion aborted: volume ${lost.volume} became ${diskStateName(lost.disk)} meanwhile`);
            for (const x of this.volumes.values()) {
              x.flags &= ~MetaFlag.PrimaryInd;
              x.uuids = { ...x.uuids, current: x.uuids.current & ~1n };
              this.persistSuperblock(x, () => undefined);
            }
            then(SS.NoUpToDateDisk);
            return;
          }
          this.role = Role.Primary;
          this.log('info', 'role( Secondary -> Primary )');
          this.emit({ type: 'export', enabled: true });
          this.broadcastState();
          for (const p of this.peers.values()) if (p.conn === C.Connected) this.sendUuids(p, v);
          if (forced) this.startFullSyncToInconsistentPeers();
          then(SS.Success);
        }
      });
    }
  }

  /** After `primary --force` (--overwrite-data-of-peer): connected peers without good data get everything. */
  private startFullSyncToInconsistentPeers(): void {
    for (const p of this.peers.values()) {
      if (p.conn !== C.Connected) continue;
      for (const v of this.volumes.values()) {
        const pv = this.peerVolume(p, v.volume);
        if (pv.repl !== C.Connected || pv.peerDisk === D.UpToDate) continue;
        v.bitmaps.get(p.name)!.setAll();
        this.send(p, { type: 'sync-start', volume: v.volume, senderIs: 'source' });
        this.beginSync(p, v, 'source');
      }
    }
  }

  // ---------------------------------------------------------------- connection and handshake

  private linkUp(name: string, resolveConflicts: boolean): void {
    const p = this.peers.get(name);
    if (!p) return;
    if (p.conn === C.StandAlone) {
      // The operator disconnected this peer; the link should not be up.
      this.emit({ type: 'link', peer: name, action: 'disconnect' });
      return;
    }
    if (p.conn === C.Connected || p.conn === C.WFReportParams) {
      // A new connection while we still believed in the old one (its loss was not
      // detected yet): the old one is gone, with everything that was in flight on it.
      this.linkDown(name, 'connection replaced by a new one', C.Unconnected);
    }
    p.conn = C.WFReportParams;
    p.resolveConflicts = resolveConflicts;
    p.paramsReceived = false;
    p.peerParams = null;
    p.stateReceived = false;
    p.epoch = 1;
    p.epochWrites = 0;
    p.transferLog = [];
    p.epochsInFlight.clear();
    p.pendingBarriers = [];
    p.flushingBarrier = false;
    for (const vn of this.volumeNumbers()) {
      p.volumes.delete(vn);
      this.peerVolume(p, vn).repl = C.WFReportParams;
    }
    this.log('info', `${name}: conn( WFConnection -> WFReportParams ), handshake`);
    this.send(p, {
      type: 'params',
      protocol: this.cfg.protocol,
      allowTwoPrimaries: this.cfg.allowTwoPrimaries,
      afterSb0pri: this.cfg.afterSb0pri,
      afterSb1pri: this.cfg.afterSb1pri,
      afterSb2pri: this.cfg.afterSb2pri,
      discardMyData: p.discardMyData,
      volumes: this.volumeNumbers(),
    });
    for (const v of this.volumes.values()) {
      this.sendUuids(p, v);
      this.send(p, { type: 'sizes', volume: v.volume, usableBytes: v.sizeBytes });
    }
    this.sendState(p);
  }

  private sendUuids(p: PeerState, v: LocalVolume): void {
    let flags = 0;
    if (p.discardMyData) flags |= 1;
    if (v.flags & MetaFlag.CrashedPrimary) flags |= 2;
    if (v.disk === D.Inconsistent) flags |= 4;
    if (this.hasOtherPrimary(p)) flags |= UUID_FLAG_HAS_OTHER_PRIMARY;
    this.send(p, {
      type: 'uuids',
      volume: v.volume,
      current: v.uuids.current,
      bitmap: v.uuids.bitmap,
      history: [v.uuids.history[0], v.uuids.history[1]],
      dirtyBits: v.bitmaps.get(p.name)!.countSet(),
      flags,
    });
  }

  /** Replicating from a connected Primary other than `p`. */
  private hasOtherPrimary(p: PeerState): boolean {
    return [...this.peers.values()].some((q) => q !== p && q.conn === C.Connected && q.peerRole === Role.Primary);
  }

  private sendState(p: PeerState): void {
    this.send(p, { type: 'state', role: this.role, disks: [...this.volumes.values()].map((v) => ({ volume: v.volume, disk: v.disk })) });
  }

  private broadcastState(): void {
    for (const p of this.peers.values()) if (p.conn === C.Connected || p.conn === C.WFReportParams) this.sendState(p);
  }

  /** Called when everything of the handshake has arrived: decide per volume. */
  private maybeFinishHandshake(p: PeerState): void {
    if (p.conn !== C.WFReportParams || !p.paramsReceived || !p.stateReceived) return;
    for (const vn of this.volumeNumbers()) {
      const pv = this.peerVolume(p, vn);
      if (!pv.peerUuids || pv.peerUsableBytes === null) return;
    }
    const params = p.peerParams!;
    if (params.protocol !== this.cfg.protocol) {
      return this.refuseConnection(p, `incompatible protocol settings: this node uses protocol ${this.cfg.protocol}, ${p.name} uses ${params.protocol}`);
    }
    if (params.allowTwoPrimaries !== this.cfg.allowTwoPrimaries) {
      return this.refuseConnection(p, 'incompatible allow-two-primaries settings');
    }
    if (this.role === Role.Primary && p.peerRole === Role.Primary && !this.cfg.allowTwoPrimaries) {
      // Both became Primary while apart: data diverged for sure; let the decision say so.
      this.log('warn', `${p.name}: both nodes are Primary`);
    }
    p.conn = C.Connected;
    this.log('info', `${p.name}: conn( WFReportParams -> Connected ) peer( ${roleName(p.peerRole)} )`);
    for (const v of this.volumes.values()) {
      const pv = this.peerVolume(p, v.volume);
      if (pv.peerUsableBytes !== v.sizeBytes) {
        this.log('warn', `${p.name}: volume ${v.volume}: peer's size ${pv.peerUsableBytes} differs from ours ${v.sizeBytes}; using the smaller is not supported yet`);
        return this.refuseConnection(p, `volume sizes differ (${v.sizeBytes} vs ${pv.peerUsableBytes} bytes)`);
      }
      const peerU = pv.peerUuids!;
      const decision = syncHandshake({
        self: { current: v.uuids.current, bitmap: v.uuids.bitmap, history: [v.uuids.history[0], v.uuids.history[1]], dirtyBits: v.bitmaps.get(p.name)!.countSet(), flags: (p.discardMyData ? 1 : 0) | (v.flags & MetaFlag.CrashedPrimary ? 2 : 0) | (v.disk === D.Inconsistent ? 4 : 0) },
        peer: { current: peerU.current, bitmap: peerU.bitmap, history: peerU.history, dirtyBits: peerU.dirtyBits, flags: peerU.flags },
        selfDisk: v.disk,
        peerDisk: pv.peerDisk,
        selfRole: this.role,
        peerRole: p.peerRole,
        resolveConflicts: p.resolveConflicts,
        policy: {
          afterSb0pri: this.cfg.afterSb0pri,
          afterSb1pri: this.cfg.afterSb1pri,
          afterSb2pri: this.cfg.afterSb2pri,
          alwaysAsbp: this.cfg.alwaysAsbp,
          rrConflict: this.cfg.rrConflict,
        },
        selfDiscardMyData: p.discardMyData,
        peerDiscardMyData: params.discardMyData,
      });
      for (const line of decision.log) this.log(decision.kind === 'sync' || decision.kind === 'no-sync' ? 'info' : 'warn', `${p.name}: volume ${v.volume}: ${line}`);
      for (const h of decision.handlers) this.emit({ type: 'handler', name: h, peer: p.name });
      if (!this.applyDecision(p, v, decision)) return;
    }
    p.discardMyData = false;
  }

  private applyDecision(p: PeerState, v: LocalVolume, d: SyncDecision): boolean {
    const pv = this.peerVolume(p, v.volume);
    if (d.fixedSelf) this.setUuids(v, d.fixedSelf, 'corrected by the resync decision');
    let kind = d.kind;
    if (
      kind === 'sync' &&
      this.peers.size > 1 &&
      [34, 35, 36, 37, 40].includes(d.rule) &&
      Math.abs(d.hg) === 1 &&
      v.disk > D.Inconsistent &&
      pv.peerDisk > D.Inconsistent
    ) {
      // Same current UUID. With several peers the one bitmap UUID belongs to whichever
      // peer we last synced with, so rules 34-37 (and 40's crashed-primary guess) say
      // nothing about this pair: the per-peer marks decide, as in the no-sync case.
      this.log('info', `${p.name}: volume ${v.volume}: same generation (rule ${d.rule}); the marks of this pair decide`);
      kind = 'no-sync';
    }
    switch (kind) {
      case 'no-sync': {
        // Same generation, but one side recorded blocks the other misses (a third node's
        // generation kept the UUIDs from moving): sync those blocks from the side that has them.
        const mine = v.bitmaps.get(p.name)!.countSet();
        const theirs = pv.peerUuids?.dirtyBits ?? 0;
        if (mine > 0 || theirs > 0) {
          // Equal current UUIDs mean one writer: marks on both sides are writes of that
          // Primary that were in flight when it went away. Either copy is acceptable
          // (none of them was acknowledged to all), so one side wins by the tie-breaker.
          let direction: 'source' | 'target' = mine > 0 && theirs > 0 ? (p.resolveConflicts ? 'source' : 'target') : mine > 0 ? 'source' : 'target';
          // A Primary's data is the live copy: it is the source, whatever the marks say.
          if (this.role === Role.Primary) direction = 'source';
          else if (p.peerRole === Role.Primary) direction = 'target';
          if (this.targetDefers(p, v, direction)) {
            // The target follows another Primary, which brings it up to date; the marks stay
            // until that Primary reports both in sync (or goes away and we decide again).
            this.log('info', `${p.name}: volume ${v.volume}: same generation, ${mine} block(s) marked here and ${theirs} there; the would-be target follows a Primary, no resync now`);
            pv.repl = C.Connected;
            return true;
          }
          if (direction === 'source' && v.disk !== D.UpToDate) return this.refuseAsTargetBusy(p, v);
          this.log('info', `${p.name}: volume ${v.volume}: same generation, ${mine} block(s) marked here and ${theirs} there; resync as ${direction}`);
          return this.startOrParkSync(p, v, direction);
        }
        pv.repl = C.Connected;
        if (v.disk === D.Consistent || v.disk === D.Outdated) {
          if (pv.peerDisk === D.UpToDate || pv.peerDisk === D.Consistent) this.setDisk(v, D.UpToDate, 'peer has the same data');
        }
        this.adoptPeerGenerationIfInSync(p, v);
        return true;
      }
      case 'sync':
        if (d.kind !== 'sync') break;
        if (this.targetDefers(p, v, d.direction)) {
          this.refuseConnection(p, `volume ${v.volume}: the would-be sync target follows another Primary; retrying later`);
          this.retryConnect(p);
          return false;
        }
        if (d.full) v.bitmaps.get(p.name)!.setAll();
        return this.startOrParkSync(p, v, d.direction);
      case 'unrelated': {
        // Generations too far apart to compare (history is two deep). A side with
        // Inconsistent data has nothing to keep, and an operator who asked to discard
        // local data gets a full sync: both sides reach the same verdict.
        const peerDiscards = p.peerParams?.discardMyData === true;
        const selfGivesUp = v.disk === D.Inconsistent || p.discardMyData;
        const peerGivesUp = pv.peerDisk === D.Inconsistent || peerDiscards;
        if (selfGivesUp !== peerGivesUp) {
          const direction = selfGivesUp ? 'target' : 'source';
          if (direction === 'source' && v.disk !== D.UpToDate) break;
          this.log('warn', `${p.name}: volume ${v.volume}: unrelated generations; full sync as ${direction} because ${selfGivesUp ? 'this' : 'the peer'} node ${(selfGivesUp ? v.disk : pv.peerDisk) === D.Inconsistent ? 'has Inconsistent data' : 'discards its data'}`);
          v.bitmaps.get(p.name)!.setAll();
          return this.startOrParkSync(p, v, direction);
        }
        break;
      }
      default:
        break;
    }
    const message = 'message' in d && typeof d.message === 'string' ? d.message : d.kind;
    this.refuseConnection(p, message);
    return false;
  }

  /**
   * A Secondary that replicates from a Primary takes resync data from nobody else: a
   * third node's resync could overwrite blocks the Primary writes at the same time.
   */
  private targetDefers(p: PeerState, v: LocalVolume, direction: 'source' | 'target'): boolean {
    if (direction === 'target') return this.role !== Role.Primary && p.peerRole !== Role.Primary && this.hasOtherPrimary(p);
    const peerFlags = this.peerVolume(p, v.volume).peerUuids?.flags ?? 0;
    return this.role !== Role.Primary && p.peerRole !== Role.Primary && (peerFlags & UUID_FLAG_HAS_OTHER_PRIMARY) !== 0;
  }

  private retryConnect(p: PeerState): void {
    this.emit({ type: 'link', peer: p.name, action: 'connect' });
    p.conn = C.WFConnection;
  }

  /** One resync target at a time per volume: a second source waits until the first is done. */
  private startOrParkSync(p: PeerState, v: LocalVolume, direction: 'source' | 'target'): boolean {
    if (direction === 'target') {
      const busy = [...this.peers.values()].find((q) => {
        if (q === p || q.conn !== C.Connected) return false;
        const r = this.peerVolume(q, v.volume).repl;
        return r === C.WFBitMapT || r === C.WFSyncUUID || r === C.SyncTarget;
      });
      if (busy) {
        this.peerVolume(p, v.volume).repl = C.PausedSyncT;
        this.log('info', `${p.name}: volume ${v.volume}: resync from ${p.name} waits until the resync from ${busy.name} is done`);
        return true;
      }
    }
    this.beginSync(p, v, direction);
    return true;
  }

  private refuseAsTargetBusy(p: PeerState, v: LocalVolume): boolean {
    this.refuseConnection(p, `volume ${v.volume}: would be sync source without UpToDate data; retrying later`);
    this.emit({ type: 'link', peer: p.name, action: 'connect' });
    const q = this.peers.get(p.name)!;
    q.conn = C.WFConnection;
    return false;
  }

  /** Connections parked in PausedSyncT get a fresh handshake once the running resync is done. */
  private resumeParkedSyncs(v: LocalVolume): void {
    for (const q of this.peers.values()) {
      if (q.conn !== C.Connected || this.peerVolume(q, v.volume).repl !== C.PausedSyncT) continue;
      this.log('info', `${q.name}: volume ${v.volume}: reconnecting to decide again after the resync`);
      this.rehandshake(q, 'resync finished, deciding again');
    }
  }

  private rehandshake(q: PeerState, reason: string): void {
    this.emit({ type: 'link', peer: q.name, action: 'disconnect' });
    this.linkDown(q.name, reason, C.Unconnected);
    this.emit({ type: 'link', peer: q.name, action: 'connect' });
  }

  /** A Secondary in sync with a Primary tracks the Primary's current UUID, so a later reconnect is a no-sync. */
  private adoptPeerGenerationIfInSync(p: PeerState, v: LocalVolume): void {
    const pv = this.peerVolume(p, v.volume);
    if (this.role !== Role.Secondary || p.peerRole !== Role.Primary || !pv.peerUuids) return;
    if (pv.repl !== C.Connected || v.disk !== D.UpToDate) return;
    if (v.bitmaps.get(p.name)!.countSet() > 0) return;
    if (uuidEqual(v.uuids.current, pv.peerUuids.current)) return;
    v.flags &= ~MetaFlag.CrashedPrimary;
    this.setUuids(v, { current: pv.peerUuids.current & ~1n, bitmap: 0n, history: [pv.peerUuids.bitmap, pv.peerUuids.history[0]] }, `following ${p.name}`);
  }

  private refuseConnection(p: PeerState, reason: string): void {
    this.log('error', `${p.name}: ${reason}; connection dropped (conn( ${connectionStateName(p.conn)} -> StandAlone ))`);
    this.emit({ type: 'link', peer: p.name, action: 'disconnect' });
    this.linkDown(p.name, reason, C.StandAlone);
  }

  private linkDown(name: string, reason: string, next: C): void {
    const p = this.peers.get(name);
    if (!p) return;
    const was = p.conn;
    if (was === C.StandAlone && next !== C.StandAlone) return;
    const wasConnected = was === C.Connected;
    p.conn = next === C.StandAlone ? C.StandAlone : C.WFConnection;
    if (was !== p.conn) this.log(wasConnected ? 'warn' : 'info', `${name}: conn( ${connectionStateName(was)} -> ${connectionStateName(p.conn)} ) ${reason}`);
    const peerWasPrimary = p.peerRole === Role.Primary;
    p.peerRole = Role.Unknown;
    // Everything sent and not covered by a barrier ack may be missing on the peer.
    for (const t of p.transferLog) this.volumes.get(t.volume)?.bitmaps.get(name)!.setRange(t.offset, t.length);
    p.transferLog = [];
    p.epochsInFlight.clear();
    p.pendingBarriers = [];
    for (const vn of this.volumeNumbers()) {
      const v = this.volumes.get(vn)!;
      const pv = this.peerVolume(p, vn);
      const wasSyncTarget = pv.repl === C.SyncTarget || pv.repl === C.WFSyncUUID || pv.repl === C.WFBitMapT;
      pv.repl = C.Unconnected;
      pv.peerDisk = D.DUnknown;
      pv.bitmapIn = null;
      pv.bitmapInDone = false;
      pv.bitmapOutDone = false;
      pv.syncDirection = null;
      pv.resyncInflightBytes = 0;
      pv.verifyActive = false;
      if (wasSyncTarget && v.disk === D.Inconsistent) {
        this.log('warn', `volume ${vn}: resync from ${name} interrupted; ${v.bitmaps.get(name)!.countSet()} blocks still to sync`);
        this.persistBitmap(v, name, true, () => undefined);
      }
      if (wasConnected && this.role === Role.Primary) {
        // Losing a peer's data while Primary starts a new generation; from now on the
        // bitmap records what the peer misses.
        this.setUuids(v, this.newGeneration(v.uuids), `lost ${name}`);
      }
      if (wasConnected && this.role === Role.Primary) this.persistBitmap(v, name, true, () => undefined);
    }
    if (peerWasPrimary) {
      this.log('info', `${name}: peer( Primary -> Unknown )`);
      for (const [key] of this.inFlightMarks) if (key.startsWith(`${name}:`)) this.inFlightMarks.delete(key);
      // Writes of the lost Primary may have reached some Secondaries and not others:
      // a fresh handshake with each connected peer we hold marks for reconciles them.
      for (const q of this.peers.values()) {
        if (q === p || q.conn !== C.Connected) continue;
        const marked = this.volumeNumbers().some((vn) => this.volumes.get(vn)!.bitmaps.get(q.name)!.countSet() > 0);
        if (marked) this.rehandshake(q, `${name} was Primary and is gone; reconciling its in-flight writes`);
      }
    }
    // Writes and flushes waiting for this peer no longer do.
    for (const w of [...this.appWrites.values()]) {
      w.holders.delete(name);
      if (w.waitingPeers.delete(name)) {
        this.volumes.get(w.volume)!.bitmaps.get(name)!.setRange(w.offset, w.length);
        this.maybeCompleteWrite(w);
      }
    }
    for (const f of [...this.appFlushes.values()]) {
      if (f.waitingPeers.delete(name)) this.maybeCompleteFlush(f);
    }
    if (p.pendingPromote) {
      const w = this.promoteWaiters.get(p.pendingPromote.requestId);
      p.pendingPromote = null;
      // The peer is gone: it can no longer object, as with DRBD after the connection is lost.
      if (w) w(SS.Success);
    }
  }

  // ---------------------------------------------------------------- receiving

  private receive(name: string, m: PeerMessage, payload: BlockData | null): void {
    const p = this.peers.get(name);
    if (!p || p.conn === C.StandAlone || p.conn === C.WFConnection || p.conn === C.Unconnected) return;
    if ('volume' in m && !this.volumes.has(m.volume)) return this.protocolError(p, `message ${m.type} for unknown volume ${m.volume}`);
    switch (m.type) {
      case 'params':
        p.peerParams = m;
        p.paramsReceived = true;
        return this.maybeFinishHandshake(p);
      case 'uuids': {
        const pv = this.peerVolume(p, m.volume);
        pv.peerUuids = m;
        if (p.conn === C.WFReportParams) return this.maybeFinishHandshake(p);
        return this.adoptPeerGenerationIfInSync(p, this.volumes.get(m.volume)!);
      }
      case 'sizes':
        this.peerVolume(p, m.volume).peerUsableBytes = m.usableBytes;
        return this.maybeFinishHandshake(p);
      case 'state':
        return this.receiveState(p, m);
      case 'promote-request':
        return this.receivePromoteRequest(p, m.requestId);
      case 'promote-reply': {
        const w = this.promoteWaiters.get(m.requestId);
        if (!w || p.pendingPromote?.requestId !== m.requestId) return;
        p.pendingPromote = null;
        if (m.result >= SS.Success) p.peerRole = Role.Secondary;
        return w(m.result as SS);
      }
      case 'data':
        return this.receiveData(p, m, payload!);
      case 'recv-ack':
      case 'write-ack':
      case 'neg-ack':
        return this.receiveAck(p, m.type, m.id);
      case 'peer-ack':
        return this.receivePeerAck(p, m.ids, m.holders);
      case 'barrier':
        p.pendingBarriers.push(m.epoch);
        return this.maybeAckBarrier(p);
      case 'barrier-ack':
        p.transferLog = p.transferLog.filter((t) => t.epoch > m.epoch);
        for (const f of [...this.appFlushes.values()]) {
          const e = f.waitingPeers.get(name);
          if (e !== undefined && e <= m.epoch) {
            f.waitingPeers.delete(name);
            this.maybeCompleteFlush(f);
          }
        }
        return;
      case 'out-of-sync':
        this.volumes.get(m.volume)!.bitmaps.get(name)!.setRange(m.offset, m.length);
        return;
      case 'bitmap':
        return this.receiveBitmap(p, m.volume, m.byteOffset, m.last, blockDataBuffer(payload!));
      case 'sync-start': {
        const pv = this.peerVolume(p, m.volume);
        if (pv.repl !== C.Connected) return this.protocolError(p, `sync-start while ${connectionStateName(pv.repl)}`);
        const v = this.volumes.get(m.volume)!;
        const mine = m.senderIs === 'source' ? 'target' : 'source';
        if (mine === 'source' && v.disk !== D.UpToDate) return this.protocolError(p, 'asked to be sync source without UpToDate data');
        if (mine === 'target') {
          const busy = [...this.peers.values()].find((q) => {
            if (q === p || q.conn !== C.Connected) return false;
            const r = this.peerVolume(q, m.volume).repl;
            return r === C.WFBitMapT || r === C.WFSyncUUID || r === C.SyncTarget;
          });
          // One resync target at a time: decide again through a handshake, which parks it.
          if (busy) return this.rehandshake(p, `asked to resync from ${p.name} while resyncing from ${busy.name}`);
        }
        if (mine === 'target') this.setDisk(v, D.Inconsistent, `full sync from ${p.name}`);
        return this.beginSync(p, v, mine);
      }
      case 'sync-uuid':
        return this.receiveSyncUuid(p, m.volume, m.uuid);
      case 'rs-request':
        return this.serveResyncRequest(p, m.volume, m.offset, m.length, m.digest);
      case 'rs-data':
        return this.receiveResyncData(p, m.volume, m.offset, payload!);
      case 'rs-in-sync':
        return this.resyncBlocksDone(p, m.volume, m.offset, m.length, true);
      case 'rs-ack':
        return this.receiveResyncAck(p, m.volume, m.offset, m.length);
      case 'rs-done':
        return this.receiveResyncDone(p, m.volume);
      case 'ov-start': {
        const pv = this.peerVolume(p, m.volume);
        if (pv.repl !== C.Connected) return this.protocolError(p, 'verify requested while not established');
        pv.repl = C.VerifyT;
        return;
      }
      case 'ov-request':
        return this.serveVerifyRequest(p, m.volume, m.offset, m.length, m.digests);
      case 'ov-reply':
        return this.receiveVerifyReply(p, m.volume, m.offset, m.length, m.differing);
      case 'ov-done': {
        const pv = this.peerVolume(p, m.volume);
        if (pv.repl === C.VerifyT) pv.repl = C.Connected;
        this.log('info', `${p.name}: volume ${m.volume}: Online verify done, ${m.outOfSyncBlocks} 4k block(s) out of sync`);
        return;
      }
    }
  }

  private protocolError(p: PeerState, problem: string): void {
    this.log('error', `${p.name}: protocol error: ${problem}`);
    this.emit({ type: 'link', peer: p.name, action: 'disconnect' });
    this.linkDown(p.name, 'protocol error', C.Unconnected);
    // Keep trying: a protocol error may be a one-off; the link's back-off bounds the rate.
    this.emit({ type: 'link', peer: p.name, action: 'connect' });
  }

  private receiveState(p: PeerState, m: Extract<PeerMessage, { type: 'state' }>): void {
    const before = p.peerRole;
    p.peerRole = m.role as Role;
    if (before !== p.peerRole && p.conn === C.Connected) this.log('info', `${p.name}: peer( ${roleName(before)} -> ${roleName(p.peerRole)} )`);
    for (const d of m.disks) {
      if (!this.volumes.has(d.volume)) continue;
      const pv = this.peerVolume(p, d.volume);
      pv.peerDisk = d.disk as D;
    }
    p.stateReceived = true;
    if (p.conn === C.WFReportParams) return this.maybeFinishHandshake(p);
    if (before === Role.Primary && p.peerRole !== Role.Primary && this.role !== Role.Primary) {
      // Our Primary stepped down: marks we kept for other Secondaries while it kept us
      // up to date now need a decision of their own.
      for (const q of this.peers.values()) {
        if (q === p || q.conn !== C.Connected || q.peerRole === Role.Primary) continue;
        const marked = this.volumeNumbers().some((vn) => this.volumes.get(vn)!.bitmaps.get(q.name)!.countSet() > 0 && this.peerVolume(q, vn).repl === C.Connected);
        if (marked) this.rehandshake(q, `${p.name} is no longer Primary; deciding about blocks marked for ${q.name}`);
      }
    }
    if (this.role === Role.Primary && p.peerRole === Role.Primary && !this.cfg.allowTwoPrimaries) {
      // Should never happen with the promote handshake; refuse to continue rather than diverge silently.
      this.refuseConnection(p, 'peer became Primary while this node is Primary (Multiple primaries not allowed by config)');
    }
  }

  private receivePromoteRequest(p: PeerState, requestId: number): void {
    let result: SS = SS.Success;
    if (this.role === Role.Primary && !this.cfg.allowTwoPrimaries) result = SS.TwoPrimaries;
    else if (p.pendingPromote && !this.cfg.allowTwoPrimaries) {
      // Both asked at once: the side that resolves conflicts keeps its request.
      if (p.resolveConflicts) result = SS.ConcurrentStateChange;
    }
    if (result >= SS.Success) {
      p.peerRole = Role.Primary;
      if (p.pendingPromote) {
        // We yield: our own pending promotion will fail when its re-check sees a Primary peer.
      }
    }
    this.send(p, { type: 'promote-reply', requestId, result });
  }

  // ---------------------------------------------------------------- application I/O (Primary)

  private appRead(reqId: number, volume: number, offset: number, length: number): void {
    const v = this.volumes.get(volume);
    if (!v || this.role !== Role.Primary) return this.emit({ type: 'app-done', reqId, ok: false, error: 'Wrong medium type' });
    if (v.disk !== D.UpToDate) {
      // Reading from a peer (diskless or SyncTarget primary) is not supported: refuse rather than return stale data.
      return this.emit({ type: 'app-done', reqId, ok: false, error: `local disk is ${diskStateName(v.disk)}` });
    }
    v.locks.acquire(offset, length, () => {
      this.io(
        (opId) => ({ type: 'disk-read', opId, volume, offset, length }),
        (ok, data) => {
          v.locks.release(offset, length);
          if (ok) v.readKiB += length / 1024;
          this.emit({ type: 'app-done', reqId, ok, data, error: ok ? undefined : 'local read error' });
        },
      );
    });
  }

  private appWrite(reqId: number, volume: number, offset: number, data: BlockData, fua: boolean): void {
    const v = this.volumes.get(volume);
    if (!v || this.role !== Role.Primary) return this.emit({ type: 'app-done', reqId, ok: false, error: 'Wrong medium type' });
    if (v.disk !== D.UpToDate) return this.emit({ type: 'app-done', reqId, ok: false, error: `local disk is ${diskStateName(v.disk)}` });
    const length = blockDataLength(data);
    v.locks.acquire(offset, length, () => {
      const extents = extentsForRange(offset, length);
      const act = v.al.activate(extents);
      if (act.status === 'busy') {
        // All AL slots are pinned by writes in flight: retry when one completes.
        v.locks.release(offset, length);
        this.alWaiters.push(() => this.appWrite(reqId, volume, offset, data, fua));
        return;
      }
      const start = (): void => this.startWrite(v, reqId, offset, data, fua, extents);
      if (act.transaction) {
        v.alWrites++;
        const bytes = encodeAlTransaction(act.transaction);
        this.io((opId) => ({ type: 'write-al', opId, volume, blockIndex: act.blockIndex!, bytes }), start);
      } else start();
    });
  }

  private readonly alWaiters: (() => void)[] = [];

  private startWrite(v: LocalVolume, reqId: number, offset: number, data: BlockData, fua: boolean, extents: number[]): void {
    const length = blockDataLength(data);
    const w: AppWrite = {
      reqId,
      volume: v.volume,
      offset,
      length: length,
      localDone: false,
      ok: true,
      waitingPeers: new Set(),
      bitmapWritesPending: 0,
      extents,
      id: this.nextWriteId++,
      holders: new Set(),
    };
    this.appWrites.set(w.id, w);
    this.io(
      (opId) => ({ type: 'disk-write', opId, volume: v.volume, offset, data, fua }),
      (ok) => {
        w.localDone = true;
        if (!ok) w.ok = false;
        else {
          v.writtenKiB += length / 1024;
          v.appIoSectors += length / 512;
        }
        v.locks.release(offset, length);
        v.al.release(extents);
        const waiters = this.alWaiters.splice(0);
        for (const retry of waiters) retry();
        this.maybeCompleteWrite(w);
      },
    );
    for (const p of this.peers.values()) {
      const pv = p.conn === C.Connected ? this.peerVolume(p, v.volume) : null;
      if (p.conn === C.Connected && pv && (pv.repl === C.Connected || pv.repl === C.SyncSource || pv.repl === C.PausedSyncS || pv.repl === C.VerifyS || pv.repl === C.VerifyT)) {
        this.send(p, { type: 'data', volume: v.volume, id: w.id, epoch: p.epoch, offset, fua }, data);
        pv.sentKiB += length / 1024;
        p.transferLog.push({ volume: v.volume, offset, length: length, epoch: p.epoch });
        if (this.cfg.protocol !== 'A') w.waitingPeers.add(p.name);
        w.holders.add(p.name);
        if (p.epochWrites === 0) p.epochOpenedMs = this.nowMs;
        if (++p.epochWrites >= this.cfg.maxEpochSize) this.closeEpoch(p);
      } else {
        // The peer cannot get this write now: remember the blocks for the next resync.
        const bm = v.bitmaps.get(p.name)!;
        const newlySet = bm.setRange(offset, length);
        if (p.conn === C.Connected) this.send(p, { type: 'out-of-sync', volume: v.volume, offset, length: length });
        if (newlySet > 0) {
          // A bit that goes 0 -> 1 is on disk before the write is acknowledged: a crash
          // must not forget that the peer misses these blocks.
          w.bitmapWritesPending++;
          this.persistBitmap(v, p.name, false, () => {
            w.bitmapWritesPending--;
            this.maybeCompleteWrite(w);
          });
        }
      }
    }
  }

  private closeEpoch(p: PeerState): number {
    const epoch = p.epoch;
    this.send(p, { type: 'barrier', epoch });
    p.epoch++;
    p.epochWrites = 0;
    return epoch;
  }

  private maybeCompleteWrite(w: AppWrite): void {
    if (!w.localDone || w.waitingPeers.size > 0 || w.bitmapWritesPending > 0) return;
    if (!this.appWrites.delete(w.id)) return;
    this.emit({ type: 'app-done', reqId: w.reqId, ok: w.ok, error: w.ok ? undefined : 'write failed' });
    if (this.peers.size > 1 && w.holders.size > 0 && this.cfg.protocol !== 'A') this.queuePeerAck(w.id, [...w.holders].sort());
  }

  private readonly peerAckQueue = new Map<string, number[]>();

  /** Peer acks go out in batches, grouped by the set of nodes that hold the writes. */
  private queuePeerAck(id: number, holders: string[]): void {
    const key = holders.join(',');
    const ids = this.peerAckQueue.get(key) ?? [];
    ids.push(id);
    this.peerAckQueue.set(key, ids);
    if (ids.length >= 256) this.flushPeerAcks();
  }

  private flushPeerAcks(): void {
    for (const [key, ids] of this.peerAckQueue) {
      const holders = key.split(',');
      for (const h of holders) {
        const p = this.peers.get(h);
        if (p && p.conn === C.Connected) this.send(p, { type: 'peer-ack', ids, holders });
      }
    }
    this.peerAckQueue.clear();
  }

  private receiveAck(p: PeerState, kind: 'recv-ack' | 'write-ack' | 'neg-ack', id: number): void {
    const w = this.appWrites.get(id);
    if (!w) return;
    const v = this.volumes.get(w.volume)!;
    if (kind === 'neg-ack') {
      v.bitmaps.get(p.name)!.setRange(w.offset, w.length);
    } else {
      const wanted = this.cfg.protocol === 'B' ? 'recv-ack' : 'write-ack';
      if (kind !== wanted) return;
      const pv = this.peerVolume(p, w.volume);
      // Replicated to a peer that we sync to: these blocks are now in sync there.
      if (pv.repl === C.SyncSource || pv.repl === C.PausedSyncS) v.bitmaps.get(p.name)!.clearRange(w.offset, w.length);
    }
    if (w.waitingPeers.delete(p.name)) this.maybeCompleteWrite(w);
  }

  private appFlush(reqId: number, volume: number): void {
    const v = this.volumes.get(volume);
    if (!v || this.role !== Role.Primary) return this.emit({ type: 'app-done', reqId, ok: false, error: 'Wrong medium type' });
    const f: AppFlush = { reqId, localDone: false, waitingPeers: new Map() };
    this.appFlushes.set(reqId, f);
    for (const p of this.peers.values()) {
      if (p.conn !== C.Connected) continue;
      const epoch = this.closeEpoch(p);
      if (this.cfg.protocol !== 'A') f.waitingPeers.set(p.name, epoch);
    }
    this.io(
      (opId) => ({ type: 'disk-flush', opId, volume }),
      (ok) => {
        f.localDone = true;
        if (!ok) this.log('error', `volume ${volume}: local flush failed`);
        this.maybeCompleteFlush(f);
      },
    );
  }

  private maybeCompleteFlush(f: AppFlush): void {
    if (!f.localDone || f.waitingPeers.size > 0) return;
    if (!this.appFlushes.delete(f.reqId)) return;
    this.emit({ type: 'app-done', reqId: f.reqId, ok: true });
  }

  // ---------------------------------------------------------------- replicated writes (Secondary)

  private receiveData(p: PeerState, m: Extract<PeerMessage, { type: 'data' }>, data: BlockData): void {
    const length = blockDataLength(data);
    const v = this.volumes.get(m.volume)!;
    const pv = this.peerVolume(p, m.volume);
    if (p.peerRole !== Role.Primary && !this.cfg.allowTwoPrimaries) return this.protocolError(p, 'data from a peer that is not Primary');
    if (!replicating(pv.repl)) return this.protocolError(p, `data while ${connectionStateName(pv.repl)}`);
    if (m.offset + length > v.sizeBytes) return this.protocolError(p, `write beyond the end of volume ${m.volume}`);
    if (this.cfg.protocol === 'B') this.send(p, { type: 'recv-ack', volume: m.volume, id: m.id });
    pv.receivedKiB += length / 1024;
    if (this.peers.size > 1) {
      // Until the Primary says who else holds this write, the other peers may miss it.
      for (const q of this.peers.values()) if (q !== p) v.bitmaps.get(q.name)!.setRange(m.offset, length);
      this.inFlightMarks.set(`${p.name}:${m.id}`, { volume: m.volume, offset: m.offset, length: length });
    }
    p.epochsInFlight.set(m.epoch, (p.epochsInFlight.get(m.epoch) ?? 0) + 1);
    v.locks.acquire(m.offset, length, () => {
      this.io(
        (opId) => ({ type: 'disk-write', opId, volume: m.volume, offset: m.offset, data, fua: m.fua }),
        (ok) => {
          v.locks.release(m.offset, length);
          if (ok) {
            v.writtenKiB += length / 1024;
            v.appIoSectors += length / 512;
          }
          if (this.inFlightMarks.has(`${p.name}:${m.id}`)) {
            // Marked again now that the blocks changed: a resync read served between the
            // arrival and this write cleared the first marks with the older data.
            for (const q of this.peers.values()) if (q !== p) v.bitmaps.get(q.name)!.setRange(m.offset, length);
          }
          if (ok && (pv.repl === C.SyncTarget || pv.repl === C.PausedSyncT)) v.bitmaps.get(p.name)!.clearRange(m.offset, length);
          if (this.cfg.protocol === 'C' && p.conn === C.Connected) {
            this.send(p, { type: ok ? 'write-ack' : 'neg-ack', volume: m.volume, id: m.id });
          }
          const left = (p.epochsInFlight.get(m.epoch) ?? 1) - 1;
          if (left <= 0) p.epochsInFlight.delete(m.epoch);
          else p.epochsInFlight.set(m.epoch, left);
          this.maybeAckBarrier(p);
        },
      );
    });
  }

  private readonly inFlightMarks = new Map<string, { volume: number; offset: number; length: number }>();

  private receivePeerAck(p: PeerState, ids: number[], holders: string[]): void {
    if (ids.length === 0) return this.receivePeersInSync(p, holders);
    for (const id of ids) {
      const mark = this.inFlightMarks.get(`${p.name}:${id}`);
      if (!mark) continue;
      this.inFlightMarks.delete(`${p.name}:${id}`);
      const v = this.volumes.get(mark.volume);
      if (!v) continue;
      for (const h of holders) {
        if (h === this.cfg.self.name || h === p.name) continue;
        v.bitmaps.get(h)?.clearRange(mark.offset, mark.length);
      }
    }
  }

  /**
   * A peer ack without write ids is a cumulative one (DRBD 9's P_PEERS_IN_SYNC, carried
   * by P_PEER_ACK): the Primary says the holders had all its data, up to the writes in
   * flight, when it sent this. Holders that also follow it are then in sync with us except
   * for those writes, which stay marked until their own peer ack.
   */
  private receivePeersInSync(p: PeerState, holders: string[]): void {
    if (p.conn !== C.Connected || p.peerRole !== Role.Primary || this.role === Role.Primary) return;
    if (!holders.includes(this.cfg.self.name)) return;
    for (const v of this.volumes.values()) {
      if (v.disk !== D.UpToDate || this.peerVolume(p, v.volume).repl !== C.Connected) continue;
      for (const h of holders) {
        const q = this.peers.get(h);
        if (!q || q === p) continue;
        // A resync with that peer in progress keeps its own bookkeeping.
        if (q.conn === C.Connected && this.peerVolume(q, v.volume).repl !== C.Connected) continue;
        const bm = v.bitmaps.get(h)!;
        if (bm.countSet() === 0) continue;
        bm.clearAll();
        for (const [key, mark] of this.inFlightMarks) {
          if (mark.volume === v.volume && key.startsWith(`${p.name}:`)) bm.setRange(mark.offset, mark.length);
        }
        this.bitmapPersistDue = true;
      }
    }
  }

  /** Primary: tell Secondaries that hold all our data which others do, so they drop marks for each other. */
  private announcePeersInSync(): void {
    if (this.role !== Role.Primary || this.peers.size < 2) return;
    if (this.nowMs - this.lastPeersInSyncMs < PEERS_IN_SYNC_INTERVAL_MS) return;
    this.lastPeersInSyncMs = this.nowMs;
    const inSync = [...this.peers.values()].filter((q) => this.peerInSync(q));
    if (inSync.length < 2) return;
    const holders = [this.cfg.self.name, ...inSync.map((q) => q.name)].sort();
    for (const q of inSync) this.send(q, { type: 'peer-ack', ids: [], holders });
  }

  private lastPeersInSyncMs = -PEERS_IN_SYNC_INTERVAL_MS;

  private peerInSync(q: PeerState): boolean {
    if (q.conn !== C.Connected) return false;
    for (const v of this.volumes.values()) {
      const pv = this.peerVolume(q, v.volume);
      if (pv.repl !== C.Connected || pv.peerDisk !== D.UpToDate || v.bitmaps.get(q.name)!.countSet() > 0) return false;
    }
    return true;
  }

  /**
   * Marks left on an established connection (set while a resync ran, or kept for a
   * Primary that was away) get resynced: a Secondary reports its marks for its Primary,
   * and the Primary starts a bitmap resync to any Secondary it holds marks for.
   */
  private reconcileMarks(): void {
    for (const q of this.peers.values()) {
      if (q.conn !== C.Connected) continue;
      for (const v of this.volumes.values()) {
        const pv = this.peerVolume(q, v.volume);
        const bm = v.bitmaps.get(q.name)!;
        if (pv.repl !== C.Connected) continue;
        if (this.role === Role.Primary && v.disk === D.UpToDate && pv.peerDisk === D.Inconsistent && bm.countSet() === 0) {
          // An Inconsistent Secondary on an established connection with nothing marked (its
          // resync went elsewhere and broke off): only a full sync from us makes it whole.
          this.log('info', `${q.name}: volume ${v.volume}: peer is Inconsistent with nothing marked; full sync`);
          bm.setAll();
        }
        const marked = bm.countSet();
        if (marked === 0) {
          pv.reportedMarks = 0;
          continue;
        }
        if (this.role !== Role.Primary && q.peerRole === Role.Primary && marked !== pv.reportedMarks) {
          pv.reportedMarks = marked;
          for (const run of bm.runs()) {
            const offset = run.firstBit * BLOCK_BYTES;
            this.send(q, { type: 'out-of-sync', volume: v.volume, offset, length: Math.min(run.bitCount * BLOCK_BYTES, v.sizeBytes - offset) });
          }
        } else if (this.role === Role.Primary && v.disk === D.UpToDate && pv.peerDisk >= D.Inconsistent && pv.peerDisk !== D.DUnknown) {
          this.log('info', `${q.name}: volume ${v.volume}: ${marked} block(s) marked out of sync on an established connection; resync as source`);
          this.send(q, { type: 'sync-start', volume: v.volume, senderIs: 'source' });
          this.beginSync(q, v, 'source');
        }
      }
    }
  }

  /** A barrier is acked once every write of its epoch and before is done and flushed. */
  private maybeAckBarrier(p: PeerState): void {
    if (p.flushingBarrier || p.pendingBarriers.length === 0) return;
    const epoch = p.pendingBarriers[0]!;
    for (const e of p.epochsInFlight.keys()) if (e <= epoch) return;
    p.flushingBarrier = true;
    let pending = this.volumes.size;
    for (const v of this.volumes.values()) {
      this.io(
        (opId) => ({ type: 'disk-flush', opId, volume: v.volume }),
        () => {
          if (--pending > 0) return;
          p.flushingBarrier = false;
          p.pendingBarriers.shift();
          if (p.conn === C.Connected) this.send(p, { type: 'barrier-ack', epoch });
          this.maybeAckBarrier(p);
        },
      );
    }
  }

  // ---------------------------------------------------------------- resync

  /** Both sides send their bitmap for each other; the union is what moves. */
  private beginSync(p: PeerState, v: LocalVolume, direction: 'source' | 'target'): void {
    const pv = this.peerVolume(p, v.volume);
    pv.syncDirection = direction;
    pv.repl = direction === 'source' ? C.WFBitMapS : C.WFBitMapT;
    pv.bitmapInDone = false;
    pv.bitmapOutDone = false;
    this.log('info', `${p.name}: volume ${v.volume}: repl( ${direction === 'source' ? 'WFBitMapS' : 'WFBitMapT'} ), ${v.bitmaps.get(p.name)!.countSet()} blocks marked out of sync here`);
    const bytes = v.bitmaps.get(p.name)!.toBytes();
    for (let off = 0; off < bytes.length || off === 0; off += BITMAP_CHUNK_BYTES) {
      const chunk = bytes.subarray(off, off + BITMAP_CHUNK_BYTES);
      const last = off + BITMAP_CHUNK_BYTES >= bytes.length;
      this.send(p, { type: 'bitmap', volume: v.volume, byteOffset: off, last }, Buffer.from(chunk));
      if (last) break;
    }
    pv.bitmapOutDone = true;
    this.maybeStartSync(p, v);
  }

  private receiveBitmap(p: PeerState, volume: number, byteOffset: number, last: boolean, chunk: Buffer): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    const expectedBytes = QuickSyncBitmap.encodedBytes(Math.ceil(v.sizeBytes / BLOCK_BYTES));
    if (byteOffset + chunk.length > expectedBytes) return this.protocolError(p, 'bitmap larger than the volume');
    if (pv.repl !== C.WFBitMapS && pv.repl !== C.WFBitMapT) return this.protocolError(p, `bitmap while ${connectionStateName(pv.repl)}`);
    if (!pv.bitmapIn) pv.bitmapIn = Buffer.alloc(expectedBytes);
    chunk.copy(pv.bitmapIn, byteOffset);
    if (last) pv.bitmapInDone = true;
    this.maybeStartSync(p, v);
  }

  private maybeStartSync(p: PeerState, v: LocalVolume): void {
    const pv = this.peerVolume(p, v.volume);
    if (!pv.bitmapInDone || !pv.bitmapOutDone) return;
    const bits = Math.ceil(v.sizeBytes / BLOCK_BYTES);
    const bm = v.bitmaps.get(p.name)!;
    if (pv.bitmapIn) {
      // The union of both sides' out-of-sync blocks is what must move.
      const peerBm = QuickSyncBitmap.fromBytes(pv.bitmapIn, bits, v.sizeBytes);
      for (const run of peerBm.runs()) bm.setBits(run.firstBit, run.bitCount);
      pv.bitmapIn = null;
    }
    pv.resyncTotalBits = bm.countSet();
    pv.resyncStartMs = this.nowMs;
    pv.resyncSameCsumBlocks = 0;
    if (pv.syncDirection === 'source') {
      const { uuids, syncUuid } = startResyncAsSource(v.uuids, this.deps.randomU64);
      this.setUuids(v, uuids, 'resync start');
      pv.repl = C.SyncSource;
      this.send(p, { type: 'sync-uuid', volume: v.volume, uuid: syncUuid });
      this.log('info', `${p.name}: volume ${v.volume}: repl( SyncSource ), ${pv.resyncTotalBits} blocks (${pv.resyncTotalBits * 4} KiB) to sync`);
      if (pv.resyncTotalBits === 0) this.log('info', `${p.name}: volume ${v.volume}: nothing to resync, waiting for the target to finish`);
    } else {
      pv.repl = C.WFSyncUUID;
    }
  }

  private receiveSyncUuid(p: PeerState, volume: number, uuid: bigint): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.WFSyncUUID) return this.protocolError(p, `sync-uuid while ${connectionStateName(pv.repl)}`);
    this.setDisk(v, D.Inconsistent, `resync from ${p.name}`);
    this.setUuids(v, { current: uuid & ~1n, bitmap: 0n, history: v.uuids.history }, 'resync target');
    // The bitmap is on disk before any block moves, so a crash resumes instead of forgetting.
    this.persistBitmap(v, p.name, false, () => undefined);
    pv.repl = C.SyncTarget;
    pv.resyncCursor = 0;
    pv.resyncInflightBytes = 0;
    pv.resyncBudgetBytes = this.cfg.resyncInflightBytesMax;
    pv.rateController = this.cfg.resyncController ? new ResyncRateController(this.cfg.resyncController) : null;
    pv.resyncBytesDoneSinceTick = 0;
    if (pv.rateController) pv.resyncBudgetBytes = this.cfg.resyncRequestBytes;
    this.log('info', `${p.name}: volume ${volume}: repl( SyncTarget ), ${pv.resyncTotalBits} blocks to sync`);
    this.pumpResync(p, v);
  }

  /** Target side: request out-of-sync runs while the budget allows. */
  private pumpResync(p: PeerState, v: LocalVolume): void {
    const pv = this.peerVolume(p, v.volume);
    if (pv.repl !== C.SyncTarget || p.conn !== C.Connected) return;
    const bm = v.bitmaps.get(p.name)!;
    const bits = Math.ceil(v.sizeBytes / BLOCK_BYTES);
    const runBitsMax = Math.max(1, Math.floor(this.cfg.resyncRequestBytes / BLOCK_BYTES));
    while (pv.resyncInflightBytes < this.cfg.resyncInflightBytesMax && this.budgetAllows(pv)) {
      // findNext answers `bits` when nothing is left.
      const first = pv.resyncCursor < bits ? bm.findNext(pv.resyncCursor, true) : bits;
      if (first >= bits) break;
      let count = 1;
      while (count < runBitsMax && first + count < bits && bm.test(first + count)) count++;
      pv.resyncCursor = first + count;
      const offset = first * BLOCK_BYTES;
      const length = Math.min(count * BLOCK_BYTES, v.sizeBytes - offset);
      pv.resyncInflightBytes += length;
      if (pv.rateController || this.cfg.resyncRateKiBps > 0) pv.resyncBudgetBytes -= length;
      if (this.cfg.csumsAlg !== '') {
        // Checksum resync: send the digest of our block; the source sends data only if it differs.
        v.locks.acquire(offset, length, () => {
          this.io(
            (opId) => ({ type: 'disk-read', opId, volume: v.volume, offset, length, bulk: true }),
            (ok, data) => {
              v.locks.release(offset, length);
              const digest = ok && data ? this.deps.digest(this.cfg.csumsAlg, data) : null;
              if (p.conn === C.Connected && pv.repl === C.SyncTarget) this.send(p, { type: 'rs-request', volume: v.volume, offset, length, digest });
            },
          );
        });
      } else {
        this.send(p, { type: 'rs-request', volume: v.volume, offset, length, digest: null });
      }
    }
    this.maybeFinishResyncAsTarget(p, v);
  }

  private budgetAllows(pv: PeerVolume): boolean {
    if (pv.rateController) return pv.resyncBudgetBytes > 0;
    return this.cfg.resyncRateKiBps <= 0 || pv.resyncBudgetBytes > 0;
  }

  private serveResyncRequest(p: PeerState, volume: number, offset: number, length: number, digest: string | null): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.SyncSource && pv.repl !== C.PausedSyncS) return this.protocolError(p, `resync request while ${connectionStateName(pv.repl)}`);
    if (offset + length > v.sizeBytes) return this.protocolError(p, 'resync request beyond the end of the volume');
    // Locked against application writes: the stream order then matches the disk order.
    v.locks.acquire(offset, length, () => {
      this.io(
        (opId) => ({ type: 'disk-read', opId, volume, offset, length, bulk: true }),
        (ok, data) => {
          // Send before releasing the range: a write waiting for it must follow this data on the wire.
          this.answerResyncRequest(p, pv, volume, offset, length, digest, ok ? (data ?? null) : null);
          v.locks.release(offset, length);
        },
      );
    });
  }

  private answerResyncRequest(p: PeerState, pv: PeerVolume, volume: number, offset: number, length: number, digest: string | null, data: Buffer | null): void {
    if (p.conn !== C.Connected || pv.repl !== C.SyncSource) return;
    if (!data) return this.protocolError(p, `local read error at ${offset} during resync`);
    // The target has these blocks as they are now. Clear them here, not on the ack: a mark
    // set after this read (a write the target will not get) must survive the ack.
    this.volumes.get(volume)!.bitmaps.get(p.name)!.clearRange(offset, length);
    this.bitmapPersistDue = true;
    if (digest !== null && this.cfg.csumsAlg !== '' && this.deps.digest(this.cfg.csumsAlg, data) === digest) {
      pv.resyncSameCsumBlocks += Math.ceil(length / BLOCK_BYTES);
      this.send(p, { type: 'rs-in-sync', volume, offset, length });
      return;
    }
    pv.sentKiB += length / 1024;
    this.send(p, { type: 'rs-data', volume, offset, length }, data);
  }

  private receiveResyncData(p: PeerState, volume: number, offset: number, data: BlockData): void {
    const length = blockDataLength(data);
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.SyncTarget) return this.protocolError(p, `resync data while ${connectionStateName(pv.repl)}`);
    if (offset + length > v.sizeBytes) return this.protocolError(p, 'resync data beyond the end of the volume');
    pv.receivedKiB += length / 1024;
    v.locks.acquire(offset, length, () => {
      this.io(
        (opId) => ({ type: 'disk-write', opId, volume, offset, data, fua: false }),
        (ok) => {
          v.locks.release(offset, length);
          if (!ok) return this.protocolError(p, `local write error at ${offset} during resync`);
          v.writtenKiB += length / 1024;
          // These blocks changed here and nowhere else but at the source: every other peer may miss them.
          for (const q of this.peers.values()) if (q !== p) v.bitmaps.get(q.name)!.setRange(offset, length);
          this.resyncBlocksDone(p, volume, offset, length, false);
        },
      );
    });
  }

  private resyncBlocksDone(p: PeerState, volume: number, offset: number, length: number, sameCsum: boolean): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.SyncTarget) return;
    v.bitmaps.get(p.name)!.clearRange(offset, length);
    if (sameCsum) pv.resyncSameCsumBlocks += Math.ceil(length / BLOCK_BYTES);
    pv.resyncInflightBytes -= length;
    pv.resyncBytesDoneSinceTick += length;
    this.send(p, { type: 'rs-ack', volume, offset, length });
    this.bitmapPersistDue = true;
    this.pumpResync(p, v);
  }

  private receiveResyncAck(p: PeerState, volume: number, offset: number, length: number): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.SyncSource) return;
    // Cleared when the data was read (answerResyncRequest); nothing left to do.
    void v;
  }

  private maybeFinishResyncAsTarget(p: PeerState, v: LocalVolume): void {
    const pv = this.peerVolume(p, v.volume);
    if (pv.repl !== C.SyncTarget || pv.resyncInflightBytes > 0) return;
    const bm = v.bitmaps.get(p.name)!;
    if (bm.countSet() > 0) {
      // Blocks marked behind the cursor (out-of-sync messages during the resync): go round again.
      if (bm.findNext(0, true) < Math.ceil(v.sizeBytes / BLOCK_BYTES)) {
        pv.resyncCursor = 0;
        if (pv.resyncInflightBytes === 0 && this.budgetAllows(pv)) this.pumpResync(p, v);
      }
      return;
    }
    const peerU = pv.peerUuids!;
    // drbd_resync_finished, target side: take the source's generation.
    const uuids: GenerationUuids = rotateBitmapIntoHistory({ current: peerU.current & ~1n, bitmap: v.uuids.current, history: [peerU.history[0], peerU.history[1]] });
    pv.repl = C.Connected;
    this.send(p, { type: 'rs-done', volume: v.volume });
    this.log('info', `${p.name}: volume ${v.volume}: Resync done (total ${Math.round((this.nowMs - pv.resyncStartMs) / 1000)} sec; ${pv.resyncTotalBits * 4} KiB${this.cfg.csumsAlg ? `, ${pv.resyncSameCsumBlocks * 4} KiB had equal checksums` : ''})`);
    // The data written by the resync is on stable storage before we call it UpToDate.
    this.io(
      (opId) => ({ type: 'disk-flush', opId, volume: v.volume }),
      () => {
        // Our data is now the source's: whatever we held as a crashed Primary is gone.
        v.flags &= ~MetaFlag.CrashedPrimary;
        this.setUuids(v, uuids, 'resync finished');
        this.setDisk(v, D.UpToDate, 'resync finished');
        this.persistBitmap(v, p.name, false, () => undefined);
        pv.peerDisk = D.UpToDate;
        this.adoptPeerGenerationIfInSync(p, v);
        this.resumeParkedSyncs(v);
      },
    );
  }

  private receiveResyncDone(p: PeerState, volume: number): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.SyncSource) return this.protocolError(p, `rs-done while ${connectionStateName(pv.repl)}`);
    const bm = v.bitmaps.get(p.name)!;
    if (bm.countSet() > 0) {
      // Marked while the resync ran (writes of a Primary the target did not get): they stay
      // marked for the next resync.
      this.log('info', `${p.name}: volume ${volume}: target finished with ${bm.countSet()} block(s) marked here since; they stay marked`);
    }
    pv.repl = C.Connected;
    pv.peerDisk = D.UpToDate;
    this.setUuids(v, rotateBitmapIntoHistory(v.uuids), 'resync finished');
    this.persistBitmap(v, p.name, false, () => undefined);
    this.log('info', `${p.name}: volume ${volume}: repl( SyncSource -> Established ), peer disk UpToDate`);
  }

  // ---------------------------------------------------------------- online verify

  private blockDigests(data: Buffer, alg: string): string[] {
    const out: string[] = [];
    for (let o = 0; o < data.length; o += BLOCK_BYTES) out.push(this.deps.digest(alg, data.subarray(o, Math.min(o + BLOCK_BYTES, data.length))));
    return out;
  }

  /**
   * Verify source: read and digest a range under its lock and send the request before
   * releasing it, so application writes to that range reach the target after the request
   * and both sides compare the same generation of each block.
   */
  private pumpVerify(p: PeerState, v: LocalVolume): void {
    const pv = this.peerVolume(p, v.volume);
    if (pv.repl !== C.VerifyS || !pv.verifyActive) return;
    while (pv.verifyInflight * this.cfg.resyncRequestBytes < this.cfg.resyncInflightBytesMax && pv.verifyCursor < v.sizeBytes) {
      const offset = pv.verifyCursor;
      const length = Math.min(this.cfg.resyncRequestBytes, v.sizeBytes - offset);
      pv.verifyCursor += length;
      pv.verifyInflight++;
      v.locks.acquire(offset, length, () => {
        this.io(
          (opId) => ({ type: 'disk-read', opId, volume: v.volume, offset, length, bulk: true }),
          (ok, data) => {
            if (p.conn === C.Connected && pv.repl === C.VerifyS) {
              const digests = ok && data ? this.blockDigests(data, this.cfg.verifyAlg) : [];
              this.send(p, { type: 'ov-request', volume: v.volume, offset, length, digests });
            } else pv.verifyInflight--;
            v.locks.release(offset, length);
          },
        );
      });
    }
    if (pv.verifyInflight === 0 && pv.verifyCursor >= v.sizeBytes) {
      pv.verifyActive = false;
      pv.repl = C.Connected;
      this.send(p, { type: 'ov-done', volume: v.volume, outOfSyncBlocks: pv.verifyOutOfSync });
      const level = pv.verifyOutOfSync > 0 ? 'warn' : 'info';
      this.log(level, `${p.name}: volume ${v.volume}: Online verify done, found ${pv.verifyOutOfSync} 4k block(s) out of sync`);
      if (pv.verifyOutOfSync > 0) {
        this.log('warn', `${p.name}: volume ${v.volume}: out-of-sync blocks are marked and will be resynced from the Primary`);
        this.emit({ type: 'handler', name: 'out-of-sync', peer: p.name });
        this.persistBitmap(v, p.name, false, () => undefined);
      }
    }
  }

  private serveVerifyRequest(p: PeerState, volume: number, offset: number, length: number, digests: string[]): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.VerifyT) return this.protocolError(p, `verify request while ${connectionStateName(pv.repl)}`);
    if (offset + length > v.sizeBytes) return this.protocolError(p, 'verify request beyond the end');
    v.locks.acquire(offset, length, () => {
      this.io(
        (opId) => ({ type: 'disk-read', opId, volume, offset, length, bulk: true }),
        (ok, data) => {
          v.locks.release(offset, length);
          if (p.conn !== C.Connected) return;
          const mine = ok && data ? this.blockDigests(data, this.cfg.verifyAlg) : [];
          const differing: number[] = [];
          const blocks = Math.ceil(length / BLOCK_BYTES);
          for (let i = 0; i < blocks; i++) if (mine[i] === undefined || mine[i] !== digests[i]) differing.push(i);
          const bm = v.bitmaps.get(p.name)!;
          for (const i of differing) bm.setRange(offset + i * BLOCK_BYTES, Math.min(BLOCK_BYTES, length - i * BLOCK_BYTES));
          this.send(p, { type: 'ov-reply', volume, offset, length, differing });
        },
      );
    });
  }

  private receiveVerifyReply(p: PeerState, volume: number, offset: number, length: number, differing: number[]): void {
    const v = this.volumes.get(volume)!;
    const pv = this.peerVolume(p, volume);
    if (pv.repl !== C.VerifyS) return;
    pv.verifyInflight--;
    const bm = v.bitmaps.get(p.name)!;
    for (const i of differing) {
      if (i * BLOCK_BYTES >= length) continue;
      bm.setRange(offset + i * BLOCK_BYTES, Math.min(BLOCK_BYTES, length - i * BLOCK_BYTES));
      pv.verifyOutOfSync++;
    }
    this.pumpVerify(p, v);
  }

  // ---------------------------------------------------------------- time

  private tick(nowMs: number): void {
    const elapsedMs = this.nowMs === 0 ? 100 : Math.max(0, nowMs - this.nowMs);
    this.nowMs = nowMs;
    this.flushPeerAcks();
    this.announcePeersInSync();
    this.reconcileMarks();
    for (const p of this.peers.values()) {
      if (p.conn !== C.Connected) continue;
      // Close epochs that have writes about once a second, so transfer logs stay short;
      // each barrier costs the peer a flush, so not on every tick.
      if (p.epochWrites > 0 && nowMs - p.epochOpenedMs >= EPOCH_IDLE_CLOSE_MS) this.closeEpoch(p);
      for (const v of this.volumes.values()) {
        const pv = this.peerVolume(p, v.volume);
        if (pv.repl === C.SyncTarget) {
          if (pv.rateController) {
            // c-min-rate compares against application writes on this node.
            const out = pv.rateController.tick({
              sectorsAckedSinceLastTick: Math.floor(pv.resyncBytesDoneSinceTick / 512),
              sectorsInFlight: Math.floor(pv.resyncInflightBytes / 512),
              applicationIoSectorsSinceLastTick: v.appIoSectors - pv.appIoSectorsAtTick,
            });
            pv.appIoSectorsAtTick = v.appIoSectors;
            pv.resyncBytesDoneSinceTick = 0;
            pv.resyncBudgetBytes = out.requestSectors * 512;
            pv.resyncWantKiBps = out.wantKiBps;
          } else if (this.cfg.resyncRateKiBps > 0) {
            pv.resyncBudgetBytes = Math.min(
              pv.resyncBudgetBytes + (this.cfg.resyncRateKiBps * 1024 * elapsedMs) / 1000,
              Math.max(this.cfg.resyncRequestBytes, (this.cfg.resyncRateKiBps * 1024) / 5),
            );
          }
          this.pumpResync(p, v);
        }
      }
    }
    if (this.bitmapPersistDue && nowMs - this.lastBitmapWriteoutMs >= BITMAP_LAZY_WRITEOUT_MS) {
      this.bitmapPersistDue = false;
      this.lastBitmapWriteoutMs = nowMs;
      for (const v of this.volumes.values()) {
        for (const p of this.peers.values()) {
          const pv = this.peerVolume(p, v.volume);
          if (pv.repl === C.SyncTarget || pv.repl === C.SyncSource) this.persistBitmap(v, p.name, true, () => undefined);
        }
      }
    }
  }
}

export { UUID_JUST_CREATED };
