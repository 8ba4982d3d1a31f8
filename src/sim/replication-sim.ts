// Deterministic simulation of a replicated resource on 2-3 nodes: real ReplicationCore
// instances, a simulated network (ordered links that break, heal and partition, with
// random delays), simulated disks (a crash keeps only part of the unflushed writes), a
// simulated clock, an operator and a client workload, all driven by one seed.
//
// A TCP connection never drops, duplicates or reorders inside itself, so those faults
// show up as connection breaks; delays are random per message but FIFO per connection.
//
// Invariants, checked after every event:
//  - two nodes connected to each other are never both Primary (allow-two-primaries off);
//  - a Primary always has UpToDate data;
// and at the moments they apply:
//  - protocol C: when the Primary crashes, a survivor that was in sync holds every
//    acknowledged write (or a newer one that was in flight);
//  - after heal and resync, all UpToDate replicas are byte-identical and hold every
//    acknowledged write; a split brain is never merged silently.

import { Prng } from './prng.js';
import { SimDisk } from './sim-disk.js';
import { ReplicationCore, type ReplicationConfig, type ReplicationEffect, type Command } from '../volume/replication-core.js';
import { ConnectionState as C, DiskState as D, Role } from '../volume/states.js';
import { StateChangeResult as SS } from '../volume/state-results.js';
import { replayActivityLog } from '../volume/activity-log.js';
import { decodeMessageCopy } from './message-copy.js';
import { blockDataBuffer } from '../volume/block-data.js';
import { crc32c } from '../volume/metadata-crc32c.js';
import { EventQueue } from './event-queue.js';

const BLOCK = 4096;
const AL_BYTES = 32 * 1024;

export interface SimOptions {
  seed: number;
  nodeCount: 2 | 3;
  protocol: 'A' | 'B' | 'C';
  volumeBlocks: number;
  /** Simulated milliseconds of the fault phase. */
  faultPhaseMs: number;
  /** Upper bound on the heal phase before it counts as a liveness failure. */
  healPhaseMsMax: number;
  csums: boolean;
  /** Run resyncs under DRBD's dynamic rate controller (c-plan-ahead etc.). */
  rateControl: boolean;
  /** Keep the last N log lines for a failure report. */
  logLines: number;
  trace: boolean;
}

export const defaultSimOptions = (seed: number): SimOptions => ({
  seed,
  nodeCount: seed % 3 === 0 ? 3 : 2,
  protocol: 'C',
  volumeBlocks: 96,
  faultPhaseMs: 4000,
  healPhaseMsMax: 60_000,
  csums: seed % 4 === 1,
  rateControl: seed % 5 === 2,
  logLines: 400,
  trace: false,
});

export interface SimResult {
  seed: number;
  ok: boolean;
  failure: string | null;
  steps: number;
  simulatedMs: number;
  stats: Record<string, number>;
  log: string[];
}


interface SimNode {
  name: string;
  nodeId: number;
  core: ReplicationCore;
  disk: SimDisk;
  up: boolean;
  /** Bumped on crash: completions of a dead incarnation are dropped. */
  incarnation: number;
  /** The core wants a link to this peer (it asked to connect and did not ask to disconnect). */
  wantLink: Map<string, boolean>;
  commandWaiters: Map<number, (result: SS) => void>;
  appWaiters: Map<number, (ok: boolean, data?: Buffer) => void>;
}

interface Link {
  key: string;
  a: string;
  b: string;
  generation: number;
  up: boolean;
  connecting: boolean;
  partitioned: boolean;
  /** Next free delivery time per direction, so each connection stays FIFO. */
  nextAt: Map<string, number>;
}

class SimFailure extends Error {}

export class ReplicationSim {
  readonly rng: Prng;
  private readonly q = new EventQueue();
  now = 0;
  steps = 0;
  private readonly nodes = new Map<string, SimNode>();
  private readonly links = new Map<string, Link>();
  private readonly logRing: string[] = [];
  private nextCmdId = 1;
  private nextReqId = 1;
  readonly stats: Record<string, number> = {
    writesAcked: 0,
    writesFailed: 0,
    flushes: 0,
    crashes: 0,
    partitions: 0,
    resyncs: 0,
    splitBrains: 0,
    promotions: 0,
    messages: 0,
  };
  /** Per block: the sequence number of the last acknowledged write. */
  private acked: number[];
  /** Per block: writes issued and not yet acknowledged (any of them may be on disk). */
  private inflight: Set<number>[];
  private writeSeq = 1;
  private primary: string | null = null;
  /** A failover promotion is scheduled: the operator waits for it. */
  private promotionPending = false;
  private lastPrimary: string | null = null;

  constructor(readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.acked = new Array<number>(opts.volumeBlocks).fill(0);
    this.inflight = Array.from({ length: opts.volumeBlocks }, () => new Set<number>());
    const names = ['alpha', 'bravo', 'charlie'].slice(0, opts.nodeCount);
    names.forEach((name, i) => this.addNode(name, i));
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const key = `${names[i]}|${names[j]}`;
        this.links.set(key, { key, a: names[i]!, b: names[j]!, generation: 0, up: false, connecting: false, partitioned: false, nextAt: new Map() });
      }
    }
  }

  // ------------------------------------------------------------------ set-up

  private coreConfig(name: string, nodeId: number): ReplicationConfig {
    const names = ['alpha', 'bravo', 'charlie'].slice(0, this.opts.nodeCount);
    return {
      resource: 'r0',
      self: { name, nodeId },
      peers: names.filter((n) => n !== name).map((n) => ({ name: n, nodeId: names.indexOf(n) })),
      protocol: this.opts.protocol,
      allowTwoPrimaries: false,
      fencing: 'dont-care',
      afterSb0pri: 'disconnect',
      afterSb1pri: 'disconnect',
      afterSb2pri: 'disconnect',
      alwaysAsbp: false,
      rrConflict: 'disconnect',
      verifyAlg: 'sha1',
      csumsAlg: this.opts.csums ? 'sha1' : '',
      maxEpochSize: 64,
      alExtents: 67,
      resyncRequestBytes: 4 * BLOCK,
      resyncInflightBytesMax: 16 * BLOCK,
      resyncRateKiBps: 0,
      ...(this.opts.rateControl ? { resyncController: { cPlanAheadTenths: 20, cFillTargetSectors: 400, cMaxRateKiBps: 40_000, cMinRateKiBps: 4_000 } } : {}),
      trace: this.opts.trace,
    };
  }

  private addNode(name: string, nodeId: number): void {
    const cfg = this.coreConfig(name, nodeId);
    const node: SimNode = {
      name,
      nodeId,
      core: this.newCore(cfg),
      disk: new SimDisk(this.opts.volumeBlocks * BLOCK, AL_BYTES),
      up: true,
      incarnation: 0,
      wantLink: new Map(cfg.peers.map((p) => [p.name, false])),
      commandWaiters: new Map(),
      appWaiters: new Map(),
    };
    this.nodes.set(name, node);
  }

  private newCore(cfg: ReplicationConfig): ReplicationCore {
    return new ReplicationCore(cfg, {
      // A 4 KiB-granular CRC stands in for verify-alg/csums-alg: deterministic and pure.
      digest: (_alg, data) => crc32c(data).toString(16).padStart(8, '0'),
      randomU64: () => this.rng.u64(),
    });
  }

  private attach(node: SimNode): void {
    const hot = replayActivityLog(node.disk.alArea).activeExtents;
    const cleanShutdown = (node.disk.flags & 2) === 0;
    this.apply(
      node,
      node.core.step({
        type: 'attach',
        volume: 0,
        sizeBytes: node.disk.sizeBytes,
        uuids: node.disk.uuids,
        flags: node.disk.flags,
        bitmaps: new Map([...node.disk.bitmaps.entries()]),
        hotExtents: cleanShutdown ? [] : hot,
      }),
    );
  }

  // ------------------------------------------------------------------ plumbing

  private log(line: string): void {
    this.logRing.push(`${String(this.now).padStart(6)} ${line}`);
    if (this.logRing.length > this.opts.logLines) this.logRing.shift();
  }

  private at(delayMs: number, run: () => void): void {
    this.q.push(this.now + delayMs, run);
  }

  private link(a: string, b: string): Link {
    return this.links.get(a < b ? `${a}|${b}` : `${b}|${a}`)!;
  }

  private apply(node: SimNode, effects: ReplicationEffect[]): void {
    const inc = node.incarnation;
    const alive = (): boolean => node.up && node.incarnation === inc;
    const complete = (opId: number, ok: boolean, data?: Buffer): void => {
      if (alive()) this.apply(node, node.core.step({ type: 'io-done', opId, ok, data }));
    };
    const ioDelay = (): number => this.rng.int(0, 3);
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.deliver(node, e.peer, e);
          break;
        case 'disk-write':
          this.at(ioDelay(), () => {
            if (!alive()) return;
            node.disk.write(e.offset, blockDataBuffer(e.data), e.fua);
            complete(e.opId, true);
          });
          break;
        case 'disk-read':
          this.at(ioDelay(), () => {
            if (!alive()) return;
            complete(e.opId, true, node.disk.read(e.offset, e.length));
          });
          break;
        case 'disk-flush':
          this.at(ioDelay(), () => {
            if (!alive()) return;
            node.disk.flush();
            complete(e.opId, true);
          });
          break;
        case 'write-superblock':
          this.at(ioDelay(), () => {
            if (!alive()) return;
            node.disk.uuids = e.uuids;
            node.disk.flags = e.flags;
            complete(e.opId, true);
          });
          break;
        case 'write-bitmap':
          this.at(ioDelay(), () => {
            if (!alive()) return;
            if (e.flushDataFirst) node.disk.flush();
            node.disk.bitmaps.set(e.peer, Buffer.from(e.bytes));
            complete(e.opId, true);
          });
          break;
        case 'write-al':
          this.at(ioDelay(), () => {
            if (!alive()) return;
            e.bytes.copy(node.disk.alArea, e.blockIndex * 4096);
            complete(e.opId, true);
          });
          break;
        case 'app-done': {
          const w = node.appWaiters.get(e.reqId);
          node.appWaiters.delete(e.reqId);
          w?.(e.ok, e.data);
          break;
        }
        case 'command-done': {
          const w = node.commandWaiters.get(e.cmdId);
          node.commandWaiters.delete(e.cmdId);
          w?.(e.result);
          break;
        }
        case 'link':
          node.wantLink.set(e.peer, e.action === 'connect');
          if (e.action === 'disconnect') this.breakLink(this.link(node.name, e.peer), `${node.name} disconnects`, node.name);
          this.maybeConnect(this.link(node.name, e.peer));
          break;
        case 'log':
          this.log(`${node.name} ${e.level}: ${e.message}`);
          if (/Split-Brain|both nodes changed data/.test(e.message)) this.stats.splitBrains!++;
          if (/repl\( SyncTarget \)/.test(e.message)) this.stats.resyncs!++;
          break;
        case 'export':
        case 'handler':
          this.log(`${node.name} ${e.type} ${JSON.stringify(e)}`);
          break;
      }
    }
  }

  private deliver(from: SimNode, to: string, e: Extract<ReplicationEffect, { type: 'send' }>): void {
    const l = this.link(from.name, to);
    if (!l.up) return;
    const gen = l.generation;
    const dir = `${from.name}>${to}`;
    const at = Math.max(l.nextAt.get(dir) ?? 0, this.now + this.rng.int(0, 4));
    l.nextAt.set(dir, at);
    // Copy through the wire codec's shape: the receiver must not share buffers with the sender.
    const { message, payload } = decodeMessageCopy(e.message, e.payload);
    this.stats.messages!++;
    this.q.push(at, () => {
      const target = this.nodes.get(to)!;
      if (!l.up || l.generation !== gen || !target.up) return;
      this.apply(target, target.core.step({ type: 'message', peer: from.name, message, payload }));
    });
  }

  private maybeConnect(l: Link): void {
    const a = this.nodes.get(l.a)!;
    const b = this.nodes.get(l.b)!;
    if (l.up || l.connecting || l.partitioned || !a.up || !b.up) return;
    if (!a.wantLink.get(l.b) || !b.wantLink.get(l.a)) return;
    l.connecting = true;
    this.at(this.rng.int(5, 60), () => {
      l.connecting = false;
      if (l.up || l.partitioned || !a.up || !b.up || !a.wantLink.get(l.b) || !b.wantLink.get(l.a)) return;
      l.up = true;
      l.generation++;
      l.nextAt.clear();
      this.log(`net: link ${l.key} up (generation ${l.generation})`);
      // The lower node id resolves conflicts, deterministically, on exactly one side.
      this.apply(a, a.core.step({ type: 'link-up', peer: b.name, resolveConflicts: a.nodeId < b.nodeId }));
      this.apply(b, b.core.step({ type: 'link-up', peer: a.name, resolveConflicts: b.nodeId < a.nodeId }));
    });
  }

  private breakLink(l: Link, reason: string, initiator: string | null): void {
    if (!l.up) return;
    l.up = false;
    l.generation++;
    this.log(`net: link ${l.key} down (${reason})`);
    for (const n of [l.a, l.b]) {
      const node = this.nodes.get(n)!;
      if (!node.up || n === initiator) continue;
      const other = n === l.a ? l.b : l.a;
      // Detection takes a ping timeout on the side that did not cause it.
      this.at(this.rng.int(1, 30), () => {
        if (node.up && !this.link(n, other).up) this.apply(node, node.core.step({ type: 'link-down', peer: other, reason }));
        this.maybeConnect(this.link(n, other));
      });
    }
    this.at(this.rng.int(20, 200), () => this.maybeConnect(l));
  }

  private command(node: SimNode, command: Command, then: (r: SS) => void = () => undefined): void {
    if (!node.up) return;
    const cmdId = this.nextCmdId++;
    node.commandWaiters.set(cmdId, then);
    this.apply(node, node.core.step({ type: 'command', cmdId, command, openCount: 0 }));
  }

  // ------------------------------------------------------------------ faults

  private crash(node: SimNode): void {
    this.log(`fault: ${node.name} crashes`);
    this.stats.crashes!++;
    node.up = false;
    node.incarnation++;
    node.disk.crash(this.rng);
    node.commandWaiters.clear();
    node.appWaiters.clear();
    // A promotion waiting on this node's answer will not get one.
    this.promotionPending = false;
    for (const l of this.links.values()) if (l.a === node.name || l.b === node.name) this.breakLink(l, `${node.name} crashed`, node.name);
  }

  private restart(node: SimNode): void {
    this.log(`fault: ${node.name} restarts`);
    node.up = true;
    node.core = this.newCore(this.coreConfig(node.name, node.nodeId));
    for (const p of node.wantLink.keys()) node.wantLink.set(p, false);
    this.attach(node);
    this.command(node, { kind: 'connect', peer: null, discardMyData: false });
  }

  private partition(l: Link): void {
    this.log(`fault: partition ${l.key}`);
    this.stats.partitions!++;
    l.partitioned = true;
    this.breakLink(l, 'partition', null);
  }

  private heal(l: Link): void {
    if (!l.partitioned) return;
    this.log(`fault: heal ${l.key}`);
    l.partitioned = false;
    this.maybeConnect(l);
  }

  // ------------------------------------------------------------------ workload

  private issueWrite(node: SimNode): void {
    const blocks = this.rng.int(1, 3);
    const first = this.rng.int(0, this.opts.volumeBlocks - blocks);
    const seq = this.writeSeq++;
    const data = Buffer.alloc(blocks * BLOCK);
    for (let b = 0; b < blocks; b++) {
      for (let o = 0; o < BLOCK; o += 8) {
        data.writeUInt32LE(seq, b * BLOCK + o);
        data.writeUInt32LE(first + b, b * BLOCK + o + 4);
      }
    }
    for (let b = 0; b < blocks; b++) this.inflight[first + b]!.add(seq);
    const reqId = this.nextReqId++;
    const fua = this.rng.chance(0.1);
    this.log(`client: write #${seq} blocks ${first}..${first + blocks - 1}${fua ? ' fua' : ''} to ${node.name}`);
    node.appWaiters.set(reqId, (ok) => {
      this.log(`client: write #${seq} ${ok ? 'acknowledged' : 'failed'}`);
      for (let b = 0; b < blocks; b++) this.inflight[first + b]!.delete(seq);
      if (!ok) {
        this.stats.writesFailed!++;
        return;
      }
      this.stats.writesAcked!++;
      // Only a newer acknowledged write supersedes an older one.
      for (let b = 0; b < blocks; b++) if (this.acked[first + b]! < seq) this.acked[first + b] = seq;
    });
    this.apply(node, node.core.step({ type: 'app-write', reqId, volume: 0, offset: first * BLOCK, data, fua }));
  }

  private issueFlush(node: SimNode): void {
    const reqId = this.nextReqId++;
    node.appWaiters.set(reqId, () => this.stats.flushes!++);
    this.apply(node, node.core.step({ type: 'app-flush', reqId, volume: 0 }));
  }

  /** The sequence number a block of `disk` holds, checking the block is one whole write. */
  private blockSeq(disk: Buffer, block: number): number {
    const seq = disk.readUInt32LE(block * BLOCK);
    const id = disk.readUInt32LE(block * BLOCK + 4);
    if (seq === 0 && id === 0) {
      for (let o = 0; o < BLOCK; o++) if (disk[block * BLOCK + o] !== 0) throw new SimFailure(`block ${block} is torn (starts with zeroes)`);
      return 0;
    }
    if (id !== block) throw new SimFailure(`block ${block} holds data written for block ${id}`);
    for (let o = 0; o < BLOCK; o += 8) {
      if (disk.readUInt32LE(block * BLOCK + o) !== seq || disk.readUInt32LE(block * BLOCK + o + 4) !== id) {
        throw new SimFailure(`block ${block} is torn (mixes writes)`);
      }
    }
    return seq;
  }

  /** Every acknowledged write is present, or a newer write to the same block that was in flight. */
  private checkAcked(node: SimNode, context: string): void {
    for (let b = 0; b < this.opts.volumeBlocks; b++) {
      const seq = this.blockSeq(node.disk.current, b);
      if (seq === this.acked[b]) continue;
      if (seq > this.acked[b]! && this.inflight[b]!.has(seq)) continue;
      throw new SimFailure(`${context}: ${node.name} block ${b} holds write #${seq}, but write #${this.acked[b]} was acknowledged${this.inflight[b]!.size ? ` (in flight: ${[...this.inflight[b]!].join(',')})` : ''}`);
    }
  }

  /** After a failover the survivor's content is the truth: in-flight writes either made it or not. */
  private adoptContent(node: SimNode): void {
    for (let b = 0; b < this.opts.volumeBlocks; b++) {
      this.acked[b] = this.blockSeq(node.disk.current, b);
      this.inflight[b]!.clear();
    }
  }

  // ------------------------------------------------------------------ invariants

  private checkInvariants(): void {
    const up = [...this.nodes.values()].filter((n) => n.up);
    for (const n of up) {
      if (n.core.currentRole !== Role.Primary) continue;
      const vol = n.core.volumeSnapshot(0)!;
      if (vol.disk !== D.UpToDate) throw new SimFailure(`${n.name} is Primary with ${D[vol.disk]} data`);
      for (const peer of n.core.peerNames()) {
        const other = this.nodes.get(peer)!;
        const snap = n.core.peerSnapshot(peer)!;
        const back = other.up ? other.core.peerSnapshot(n.name) : null;
        if (other.up && other.core.currentRole === Role.Primary && snap.conn === C.Connected && back?.conn === C.Connected) {
          throw new SimFailure(`${n.name} and ${peer} are both Primary while connected`);
        }
      }
    }
  }

  // ------------------------------------------------------------------ the run

  private runUntil(untilMs: number, stepsMax: number): void {
    while (this.q.size > 0 && this.steps < stepsMax) {
      if (this.q.peek()!.at > untilMs) break;
      const next = this.q.pop()!;
      this.now = next.at;
      this.steps++;
      next.run();
      this.checkInvariants();
    }
    this.now = Math.max(this.now, untilMs);
  }

  private tickAll(): void {
    for (const n of this.nodes.values()) if (n.up) this.apply(n, n.core.step({ type: 'tick', nowMs: this.now }));
  }

  private settled(): boolean {
    if (!this.primary || this.nodes.get(this.primary)!.core.currentRole !== Role.Primary) return false;
    const up = [...this.nodes.values()];
    if (up.some((n) => !n.up)) return false;
    for (const n of up) {
      if (n.core.volumeSnapshot(0)!.disk !== D.UpToDate) return false;
      for (const peer of n.core.peerNames()) {
        const s = n.core.peerSnapshot(peer)!;
        if (s.conn !== C.Connected) return false;
        const v = s.volumes[0]!;
        if (v.repl !== C.Connected || v.outOfSyncBits > 0 || v.peerDisk !== D.UpToDate) return false;
      }
      if (n.appWaiters.size > 0) return false;
    }
    return true;
  }

  run(): SimResult {
    const stepsMax = 2_000_000;
    try {
      // Set-up as an operator does it: create-md (fresh disks), up, connect, primary --force on one.
      for (const n of this.nodes.values()) {
        this.attach(n);
        this.command(n, { kind: 'connect', peer: null, discardMyData: false });
      }
      const first = this.nodes.get('alpha')!;
      this.runUntil(this.now + 100, stepsMax);
      this.command(first, { kind: 'primary', force: true }, (r) => {
        if (r >= SS.Success) this.primary = first.name;
      });

      // Fault phase: a client writes to the Primary while the network and nodes misbehave.
      let nextTick = this.now;
      const faultEnd = this.now + this.opts.faultPhaseMs;
      while (this.now < faultEnd && this.steps < stepsMax) {
        if (this.now >= nextTick) {
          this.tickAll();
          nextTick = this.now + 100;
        }
        this.workloadStep();
        if (this.rng.chance(0.01)) this.faultStep();
        this.runUntil(this.now + this.rng.int(1, 10), stepsMax);
      }

      // Heal phase: no more faults, everybody back, split brains resolved by the operator.
      for (const l of this.links.values()) this.heal(l);
      for (const n of this.nodes.values()) if (!n.up) this.restart(n);
      const healEnd = this.now + this.opts.healPhaseMsMax;
      let lastOperatorAction = 0;
      while (!this.settled() && this.now < healEnd && this.steps < stepsMax) {
        if (this.now >= nextTick) {
          this.tickAll();
          nextTick = this.now + 100;
        }
        if (this.now - lastOperatorAction > 1000) {
          lastOperatorAction = this.now;
          this.operatorHeals();
        }
        this.runUntil(this.now + 10, stepsMax);
      }
      if (!this.settled()) throw new SimFailure(`did not converge within ${this.opts.healPhaseMsMax} ms of healing: ${this.describe()}`);
      // Let in-flight barrier acks and flushes finish.
      this.runUntil(this.now + 200, stepsMax);
      this.checkConverged();
      return this.result(null);
    } catch (err) {
      if (err instanceof SimFailure) return this.result(err.message);
      return this.result(`exception: ${(err as Error).stack ?? String(err)}`);
    }
  }

  private workloadStep(): void {
    const p = this.primary ? this.nodes.get(this.primary)! : null;
    if (!p || !p.up || p.core.currentRole !== Role.Primary) return;
    if (p.appWaiters.size >= 8) return;
    if (this.rng.chance(0.9)) this.issueWrite(p);
    else this.issueFlush(p);
  }

  private faultStep(): void {
    const nodes = [...this.nodes.values()];
    const links = [...this.links.values()];
    const r = this.rng.int(0, 9);
    if (r <= 2) {
      const l = this.rng.pick(links);
      if (l.partitioned) this.heal(l);
      else this.partition(l);
    } else if (r <= 4) {
      const down = nodes.filter((n) => !n.up);
      if (down.length > 0) this.restart(this.rng.pick(down));
      else {
        // Crash a Secondary; the Primary keeps running.
        const secondaries = nodes.filter((n) => n.up && n.name !== this.primary);
        if (secondaries.length > 0) this.crash(this.rng.pick(secondaries));
      }
    } else if (r === 5) {
      this.failover();
    } else if (r === 6) {
      const upNodes = nodes.filter((x) => x.up);
      if (upNodes.length === 0) return;
      const n = this.rng.pick(upNodes);
      const peer = this.rng.pick(n.core.peerNames());
      this.command(n, { kind: 'disconnect', peer, discardMyData: false } as Command);
      this.at(this.rng.int(50, 500), () => this.command(n, { kind: 'connect', peer, discardMyData: false }));
    } else if (r === 7) {
      const p = this.primary ? this.nodes.get(this.primary) : undefined;
      if (p?.up) this.command(p, { kind: 'verify', peer: null });
    } else {
      // Switchover: demote the Primary, promote an in-sync Secondary.
      this.switchover();
    }
  }

  /** The Primary crashes; an in-sync survivor is promoted and must hold every acknowledged write. */
  private failover(): void {
    const p = this.primary ? this.nodes.get(this.primary)! : null;
    if (!p || !p.up) return;
    const inSync = p.core.peerNames().filter((peer) => {
      const s = p.core.peerSnapshot(peer)!;
      const other = this.nodes.get(peer)!;
      return other.up && s.conn === C.Connected && s.volumes[0]!.repl === C.Connected && s.volumes[0]!.peerDisk === D.UpToDate && s.volumes[0]!.outOfSyncBits === 0;
    });
    this.crash(p);
    this.lastPrimary = p.name;
    this.primary = null;
    if (inSync.length === 0) return;
    const survivor = this.nodes.get(this.rng.pick(inSync))!;
    if (this.opts.protocol === 'C') this.checkAcked(survivor, `after the Primary ${p.name} crashed`);
    this.stats.promotions!++;
    // Like Pacemaker, promote once the survivor has noticed the loss (its ping timeout),
    // retrying a refused promotion a few times instead of giving up at once.
    this.promoteWhenReady(survivor, p.name, 8);
  }

  private promoteWhenReady(survivor: SimNode, lost: string, triesLeft: number): void {
    this.promotionPending = true;
    this.at(this.rng.int(30, 60), () => {
      if (!survivor.up || this.primary !== null) {
        this.promotionPending = false;
        return;
      }
      this.command(survivor, { kind: 'primary', force: false }, (r) => {
        this.promotionPending = false;
        if (r >= SS.Success) {
          // Writes of the dead Primary still landing and the survivors' reconciliation are
          // over by now: what the new Primary holds is the truth from here on.
          this.adoptContent(survivor);
          this.primary = survivor.name;
        }
        else if (triesLeft > 1) {
          this.log(`operator: promoting ${survivor.name} refused (${r}); retrying`);
          this.promoteWhenReady(survivor, lost, triesLeft - 1);
        } else this.log(`operator: promoting ${survivor.name} refused (${r})`);
      });
    });
  }

  private switchover(): void {
    const p = this.primary ? this.nodes.get(this.primary)! : null;
    if (!p || !p.up || p.appWaiters.size > 0) return;
    const candidates = p.core.peerNames().filter((peer) => {
      const s = p.core.peerSnapshot(peer)!;
      return this.nodes.get(peer)!.up && s.conn === C.Connected && s.volumes[0]!.repl === C.Connected && s.volumes[0]!.peerDisk === D.UpToDate && s.volumes[0]!.outOfSyncBits === 0;
    });
    if (candidates.length === 0) return;
    const next = this.nodes.get(this.rng.pick(candidates))!;
    this.primary = null;
    this.command(p, { kind: 'secondary' }, (r) => {
      if (r < SS.Success) {
        this.primary = p.name;
        return;
      }
      this.command(next, { kind: 'primary', force: false }, (r2) => {
        if (r2 >= SS.Success) {
          this.stats.promotions!++;
          this.primary = next.name;
        } else this.log(`operator: switchover to ${next.name} refused (${r2})`);
      });
    });
  }

  /** What an operator does after a split brain: the non-Primary side discards its data. */
  private operatorHeals(): void {
    if (this.promotionPending) return;
    if (!this.primary || !this.nodes.get(this.primary)!.up) {
      // Nobody is Primary (its node crashed without an in-sync survivor): promote the node
      // holding the newest acknowledged data, as an operator would after checking.
      // If no node holds every acknowledged write, two failures overlapped (the Primary's
      // cache died with it while no peer was in sync): beyond protocol C's promise.
      const candidates = [...this.nodes.values()].filter((n) => n.up && n.core.volumeSnapshot(0)!.disk === D.UpToDate);
      const best = candidates.find((n) => this.holdsAcked(n)) ?? candidates.find((n) => n.name === this.lastPrimary) ?? candidates[0];
      if (!best) {
        // Nobody ever got UpToDate data (the first Primary died during its first sync):
        // start over as at set-up, with primary --force.
        const first = [...this.nodes.values()].find((n) => n.up && n.core.peerNames().every((peer) => n.core.peerSnapshot(peer)!.conn === C.Connected));
        if (first) {
          this.command(first, { kind: 'primary', force: true }, (r) => {
            if (r >= SS.Success) {
              this.adoptContent(first);
              this.primary = first.name;
            }
          });
        }
        return;
      }
      {
        if (!this.holdsAcked(best)) this.log(`operator: no node holds every acknowledged write (double failure); promoting ${best.name}`);
        this.command(best, { kind: 'primary', force: false }, (r) => {
          if (r >= SS.Success) {
            this.adoptContent(best);
            this.primary = best.name;
          }
        });
      }
      return;
    }
    const winner = this.primary;
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      for (const peer of n.core.peerNames()) {
        const s = n.core.peerSnapshot(peer)!;
        if (s.conn !== C.StandAlone) continue;
        if (n.name === winner) {
          this.command(n, { kind: 'connect', peer, discardMyData: false });
        } else {
          if (n.core.currentRole === Role.Primary) this.command(n, { kind: 'secondary' });
          this.command(n, { kind: 'connect', peer, discardMyData: true });
        }
      }
    }
  }

  private holdsAcked(n: SimNode): boolean {
    try {
      this.checkAcked(n, 'probe');
      return true;
    } catch {
      return false;
    }
  }

  private checkConverged(): void {
    const nodes = [...this.nodes.values()];
    const p = this.primary ? this.nodes.get(this.primary)! : null;
    if (!p) throw new SimFailure('no Primary at the end');
    this.checkAcked(p, 'at the end');
    for (const n of nodes) {
      if (n === p) continue;
      if (!n.disk.current.equals(p.disk.current)) {
        const b = firstDifferentBlock(n.disk.current, p.disk.current);
        throw new SimFailure(`replicas differ after resync: ${n.name} vs ${p.name} at block ${b} (#${this.blockSeq(n.disk.current, b)} vs #${this.blockSeq(p.disk.current, b)})`);
      }
    }
  }

  private describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        if (!n.up) return `${n.name}: down`;
        const v = n.core.volumeSnapshot(0)!;
        const peers = n.core.peerNames().map((peer) => {
          const s = n.core.peerSnapshot(peer)!;
          return `${peer}:${C[s.conn]}/${C[s.volumes[0]!.repl]}/${D[s.volumes[0]!.peerDisk]}/oos=${s.volumes[0]!.outOfSyncBits}`;
        });
        return `${n.name}: ${Role[n.core.currentRole]} ${D[v.disk]} [${peers.join(' ')}] waiting=${n.appWaiters.size}`;
      })
      .join('; ');
  }

  private result(failure: string | null): SimResult {
    return { seed: this.opts.seed, ok: failure === null, failure, steps: this.steps, simulatedMs: this.now, stats: this.stats, log: [...this.logRing] };
  }
}

function firstDifferentBlock(a: Buffer, b: Buffer): number {
  for (let i = 0; i < a.length; i += BLOCK) if (!a.subarray(i, i + BLOCK).equals(b.subarray(i, i + BLOCK))) return i / BLOCK;
  return -1;
}

export function runSeed(seed: number, overrides: Partial<SimOptions> = {}): SimResult {
  return new ReplicationSim({ ...defaultSimOptions(seed), ...overrides }).run();
}
