// Deterministic simulation of the cluster engine on 2-5 data nodes (and optionally the
// arbiter), all driven by one seed: real engine instances, a simulated network (drops,
// duplicates, bounded delays with occasional long ones, reordering, partitions including
// one-way and bridge cuts), crashes and restarts (only term and vote survive), pauses
// (SIGSTOP: a paused node handles its queued messages later, with the later clock), a
// random configuration per seed and a random group workload.
//
// Invariants, checked after every step:
//  1. every member that applied ring id R agrees on R's member list;
//  2. group messages: a node delivers each message once; the nodes deliver in one total
//     order (common messages in the same relative order, each at one ring id and seq);
//     within one ring a node's seqs of a group have no gaps or repeats;
//  3. all nodes that are quorate at one instant follow one leader that is in each of
//     their memberships (two_node without an arbiter: each side only with its own
//     membership, the sides disjoint);
//  4. at most one leader per term;
// and at the end of the run:
//  5. liveness: once faults stop and the network heals, all nodes agree on one
//     membership that holds them all, are quorate, and deliver a message from each.

import { createEngine } from '../cluster/engine.js';
import type { Engine, EngineEffect, EngineEvent, PersistentState } from '../cluster/engine-api.js';
import type { AutoTieBreakerNode, ClusterConfig, NodeId } from '../cluster/types.js';
import { quorumConfigOf, quorumRules } from '../cluster/votequorum.js';
import { Prng } from './prng.js';
import { EventQueue } from './event-queue.js';

export interface ClusterSimOptions {
  seed: number;
  /** Data nodes; null: chosen by the seed (2..5). */
  nodeCount: number | null;
  /** Simulated milliseconds of the fault phase; null: chosen by the seed from the token. */
  faultPhaseMs: number | null;
  /** Upper bound on the heal phase before it counts as a liveness failure. */
  healPhaseMsMax: number;
  /** Keep the last N log lines for a failure report. */
  logLines: number;
  /** Log every message. */
  trace: boolean;
  /** Force parts of the configuration (tests use this for focused runs). */
  configure?: (c: ClusterConfig, rng: Prng) => void;
  /** Check two_node clusters like any other (a test of the checker: it must then fail). */
  strictTwoNode?: boolean;
}

export const defaultClusterSimOptions = (seed: number): ClusterSimOptions => ({
  seed,
  nodeCount: null,
  faultPhaseMs: null,
  healPhaseMsMax: 60_000,
  logLines: 300,
  trace: false,
});

export interface ClusterSimResult {
  seed: number;
  ok: boolean;
  failure: string | null;
  steps: number;
  simulatedMs: number;
  stats: Record<string, number>;
  /** Simulated ms from a member's crash (on a quiet network) to the survivors' new membership. */
  detectionsMs: number[];
  /** totem.token of this run, to read detection times against. */
  tokenMs: number;
  config: string;
  log: string[];
}

// ------------------------------------------------------------------ the simulation

interface SimNode {
  id: NodeId;
  engine: Engine | null;
  up: boolean;
  paused: boolean;
  queued: { from: NodeId; message: unknown }[];
  persisted: PersistentState | null;
  /** Incarnation: bumped on restart. */
  inc: number;
  tickGen: number;
  tickAt: number;
  joined: Set<string>;
  deliveries: Deliveries;
}

/** What one incarnation of a node delivered. */
interface Deliveries {
  key: string;
  /** payload → index in delivery order. */
  delivered: Map<string, number>;
  count: number;
  /** Per other incarnation: the highest [own, other] delivery indices among common messages. */
  orderMax: Map<string, [number, number]>;
  /** ring|group → last seq delivered in that ring. */
  lastSeq: Map<string, number>;
}

const newDeliveries = (key: string): Deliveries => ({ key, delivered: new Map(), count: 0, orderMax: new Map(), lastSeq: new Map() });

class SimFailure extends Error {}

const ARBITER = 0;

export class ClusterSim {
  readonly rng: Prng;
  private readonly q = new EventQueue();
  now = 0;
  steps = 0;
  readonly config: ClusterConfig;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly dataIds: NodeId[];
  private readonly twoNodeSplitAllowed: boolean;
  private readonly logRing: string[] = [];
  /** Directed cuts "a>b": a's packets do not reach b. */
  private readonly cuts = new Set<string>();
  private dropP: number;
  private dupP: number;
  private longDelayP: number;
  private readonly delayMaxMs: number;
  private faultsOn = true;
  private readonly faultPhaseMs: number;
  private payloadCounter = 0;
  readonly stats: Record<string, number> = {
    messages: 0,
    dropped: 0,
    duplicated: 0,
    malformed: 0,
    crashes: 0,
    restarts: 0,
    pauses: 0,
    partitions: 0,
    leaders: 0,
    memberships: 0,
    deliveries: 0,
    groupCalls: 0,
    snapshotsSent: 0,
    tickLoops: 0,
    redeliveriesSkipped: 0,
  };
  readonly detectionsMs: number[] = [];
  private quietCrash: { node: NodeId; at: number } | null = null;
  // Invariant state
  private readonly rings = new Map<string, string>();
  private readonly positions = new Map<string, { where: string; keys: string[] }>();
  private readonly slots = new Map<string, string>();
  private readonly holders = new Map<string, { key: string; index: number }[]>();
  private readonly termLeader = new Map<number, NodeId>();
  private readonly incKeys = new Map<string, Deliveries>();

  constructor(readonly opts: ClusterSimOptions) {
    this.rng = new Prng(opts.seed);
    this.config = this.randomConfig();
    opts.configure?.(this.config, this.rng);
    const check = quorumRules(quorumConfigOf(this.config));
    if (check.errors.length > 0) throw new Error(`seed ${opts.seed}: generated a refused configuration: ${check.errors.join('; ')}`);
    this.dataIds = this.config.nodes.map((n) => n.nodeId);
    this.twoNodeSplitAllowed = check.rules.twoNode && this.config.arbiter === null && !opts.strictTwoNode;
    const token = this.config.timings.tokenMs;
    this.faultPhaseMs = opts.faultPhaseMs ?? Math.max(6_000, token * this.rng.int(8, 16));
    this.dropP = this.rng.pick([0, 0, 0.01, 0.03, 0.08]);
    this.dupP = this.rng.pick([0, 0.01, 0.03]);
    this.longDelayP = this.rng.pick([0, 0.002, 0.01]);
    this.delayMaxMs = this.rng.pick([1, 5, 15, 40]);
    for (const id of this.dataIds) this.addNode(id);
    if (this.config.arbiter) this.addNode(ARBITER);
    this.description = this.describeConfig();
  }

  /** The configuration and network of this seed, as drawn. */
  readonly description: string;

  private randomConfig(): ClusterConfig {
    const rng = this.rng;
    const count = this.opts.nodeCount ?? rng.int(2, 5);
    const ids = new Set<number>();
    while (ids.size < count) ids.add(rng.chance(0.7) ? ids.size + 1 : rng.int(1, 12));
    const sorted = [...ids].sort((a, b) => a - b);
    const twoNode = count === 2 && rng.chance(0.35);
    const arbiter = !twoNode && rng.chance(0.4);
    const lastManStanding = !arbiter && !twoNode && count >= 3 && rng.chance(0.2);
    const weighted = !lastManStanding && rng.chance(0.15);
    const votesOf = (): number => (weighted ? rng.int(1, 3) : 1);
    const nodes = sorted.map((id) => ({ nodeId: id, name: `node${id}`, addresses: [`127.0.0.${id}`], votes: votesOf() }));
    const autoTieBreaker = !arbiter && !twoNode && rng.chance(0.3);
    const atbNode: AutoTieBreakerNode = rng.pick<AutoTieBreakerNode>(['lowest', 'highest', [...sorted].sort(() => rng.float() - 0.5).slice(0, 2)]);
    let waitForAll = twoNode ? !rng.chance(0.2) : rng.chance(0.3);
    const votes = nodes.reduce((s, n) => s + n.votes, 0);
    if (autoTieBreaker && lastManStanding && votes % 2 === 1) waitForAll = true;
    const tokenMs = rng.pick([300, 500, 1000, 1000, 1000, 2000, 3000]);
    return {
      file: `sim-seed-${this.opts.seed}.conf`,
      clusterName: 'sim',
      port: 5405,
      timings: { tokenMs, consensusMs: Math.round(tokenMs * 1.2), joinMs: 50, maxNetworkDelayMs: 50 },
      crypto: { cipher: 'none', hash: 'none', keyFile: null },
      nodes,
      quorum: {
        expectedVotes: null,
        twoNode,
        waitForAll,
        lastManStanding,
        lastManStandingWindowMs: rng.pick([1000, 3000, 10_000]),
        autoTieBreaker,
        autoTieBreakerNode: atbNode,
      },
      arbiter: arbiter ? { host: '127.0.0.100', port: 5403, votes: 1, algorithm: 'ffsplit' } : null,
    };
  }

  describeConfig(): string {
    const c = this.config;
    const q = c.quorum;
    const parts = [
      `nodes ${c.nodes.map((n) => (n.votes === 1 ? `${n.nodeId}` : `${n.nodeId}(${n.votes}v)`)).join(',')}`,
      `token ${c.timings.tokenMs}`,
      c.arbiter ? 'arbiter' : '',
      q.twoNode ? 'two_node' : '',
      q.waitForAll ? 'wait_for_all' : '',
      q.lastManStanding ? `last_man_standing(${q.lastManStandingWindowMs})` : '',
      q.autoTieBreaker ? `auto_tie_breaker(${JSON.stringify(q.autoTieBreakerNode)})` : '',
      `drop ${this.dropP} dup ${this.dupP} long ${this.longDelayP} delay<=${this.delayMaxMs}`,
    ];
    return parts.filter(Boolean).join(' ');
  }

  private addNode(id: NodeId): void {
    const node: SimNode = {
      id,
      engine: null,
      up: false,
      paused: false,
      queued: [],
      persisted: null,
      inc: 0,
      tickGen: 0,
      tickAt: Infinity,
      joined: new Set(),
      deliveries: newDeliveries(`${id}#0`),
    };
    this.nodes.set(id, node);
  }

  private name(id: NodeId): string {
    return id === ARBITER ? 'arb' : `n${id}`;
  }

  private log(line: string): void {
    this.logRing.push(`${this.now.toFixed(1).padStart(9)} ${line}`);
    if (this.logRing.length > this.opts.logLines) this.logRing.shift();
  }

  private at(t: number, run: () => void): void {
    this.q.push(t, run);
  }

  private fail(msg: string): never {
    throw new SimFailure(msg);
  }

  // ------------------------------------------------------------------ nodes

  private boot(node: SimNode): void {
    node.inc++;
    node.up = true;
    node.paused = false;
    node.queued = [];
    node.joined = new Set();
    node.deliveries = newDeliveries(`${node.id}#${node.inc}`);
    this.incKeys.set(node.deliveries.key, node.deliveries);
    node.engine = createEngine({
      self: node.id,
      config: this.config,
      random: () => this.rng.float(),
      // The arbiter is diskless: it starts from nothing every time.
      persisted: node.id === ARBITER ? null : node.persisted && { ...node.persisted },
    });
    this.stepNode(node, { type: 'start', now: this.now });
  }

  private crash(node: SimNode): void {
    node.up = false;
    node.engine = null;
    node.paused = false;
    node.queued = [];
    node.tickGen++;
    node.tickAt = Infinity;
    this.stats.crashes!++;
    this.log(`CRASH ${this.name(node.id)}`);
  }

  private stepNode(node: SimNode, event: EngineEvent): void {
    if (!node.engine) return;
    this.steps++;
    let effects: EngineEffect[];
    try {
      effects = node.engine.step(event);
    } catch (err) {
      this.fail(`${this.name(node.id)} threw on ${event.type}: ${(err as Error).stack ?? String(err)}`);
    }
    for (const e of effects) this.effect(node, e);
    this.scheduleTick(node);
    this.checkInstant(node);
  }

  private scheduleTick(node: SimNode): void {
    if (!node.engine) return;
    let at = node.engine.nextWakeup();
    if (!Number.isFinite(at)) {
      node.tickAt = Infinity;
      node.tickGen++;
      return;
    }
    if (at <= this.now) {
      this.stats.tickLoops!++;
      at = this.now + 1;
    }
    if (at === node.tickAt) return;
    node.tickAt = at;
    const gen = ++node.tickGen;
    this.at(at, () => {
      if (node.tickGen !== gen || !node.up) return;
      node.tickAt = Infinity;
      if (node.paused) return; // resumed nodes tick on resume
      this.stepNode(node, { type: 'tick', now: this.now });
    });
  }

  private effect(node: SimNode, e: EngineEffect): void {
    switch (e.type) {
      case 'send':
        this.send(node.id, e.to, e.message);
        return;
      case 'persist':
        if (node.id !== ARBITER) node.persisted = { ...e.state };
        return;
      case 'membership': {
        this.stats.memberships!++;
        const key = `${e.membership.ringId.rep}.${e.membership.ringId.seq}`;
        const members = e.membership.members.join(',') + (e.membership.arbiterPresent ? '+arb' : '');
        this.log(`${this.name(node.id)} membership ${key} [${members}] joined [${e.joined}] left [${e.left}] (${e.reason})`);
        if (e.membership.members.includes(node.id)) {
          const seen = this.rings.get(key);
          if (seen !== undefined && seen !== members) this.fail(`invariant 1: ring ${key} has members [${seen}] on one node and [${members}] on ${this.name(node.id)}`);
          this.rings.set(key, members);
        }
        if (this.quietCrash && !e.membership.members.includes(this.quietCrash.node) && e.membership.members.includes(node.id)) {
          this.detectionsMs.push(this.now - this.quietCrash.at);
          this.quietCrash = null;
        }
        return;
      }
      case 'deliver':
        this.onDeliver(node, e);
        return;
      case 'group-change':
        // Seqs run without gaps only while the node stays in the group.
        if (e.joined.some((j) => j.node === node.id) || e.left.some((l) => l.node === node.id)) {
          for (const k of [...node.deliveries.lastSeq.keys()]) if (k.endsWith(`|${e.group}`)) node.deliveries.lastSeq.delete(k);
        }
        if (this.opts.trace) this.log(`${this.name(node.id)} group ${e.group} [${e.members}] +${JSON.stringify(e.joined)} -${JSON.stringify(e.left)}`);
        return;
      case 'quorum':
        this.log(`${this.name(node.id)} quorum ${e.status.quorate ? 'QUORATE' : 'not quorate'} votes ${e.status.totalVotes}/${e.status.expectedVotes} q ${e.status.quorum} ${e.status.flags.join(' ')}`);
        return;
      case 'log':
        if (e.level !== 'info' || this.opts.trace) this.log(`${this.name(node.id)} ${e.level}: ${e.msg}`);
        if (e.msg.includes('is leader of term')) this.stats.leaders!++;
        return;
    }
  }

  private onDeliver(node: SimNode, e: Extract<EngineEffect, { type: 'deliver' }>): void {
    this.stats.deliveries!++;
    if (this.opts.trace) this.log(`${this.name(node.id)} deliver ${e.payload} ${e.group} seq ${e.seq} ring ${e.ringId.rep}.${e.ringId.seq}`);
    const d = node.deliveries;
    const me = d.key;
    const ring = `${e.ringId.rep}.${e.ringId.seq}`;
    if (d.delivered.has(e.payload)) this.fail(`invariant 2: ${this.name(node.id)} delivered ${e.payload} twice`);
    const index = d.count++;
    d.delivered.set(e.payload, index);
    // One message per (ring, group, seq), one position per message.
    const slot = `${ring}|${e.group}|${e.seq}`;
    const where = `${slot}|${e.from}`;
    const other = this.slots.get(slot);
    if (other !== undefined && other !== e.payload) this.fail(`invariant 2: ${slot} is ${other} on one node and ${e.payload} on ${this.name(node.id)}`);
    this.slots.set(slot, e.payload);
    const pos = this.positions.get(e.payload);
    if (pos !== undefined && pos.where !== where) {
      // two_node without an arbiter: both halves of a split may commit the same resent message.
      if (!this.twoNodeSplitAllowed) {
        this.fail(`invariant 2: ${e.payload} delivered at ${pos.where} (by ${pos.keys}) and at ${where} (by ${me})`);
      }
      this.positions.set(e.payload, { where, keys: [me] });
    } else if (pos === undefined) this.positions.set(e.payload, { where, keys: [me] });
    else pos.keys.push(me);
    // No gaps or repeats within a ring.
    const rg = `${ring}|${e.group}`;
    const last = d.lastSeq.get(rg);
    if (last !== undefined && e.seq !== last + 1) {
      // The one allowed gap: a message this node delivered before, committed again by a
      // history that had lost it (volatile logs), is not delivered twice.
      for (let s = last + 1; s < e.seq; s++) {
        const skipped = this.slots.get(`${rg}|${s}`);
        if (skipped === undefined || !d.delivered.has(skipped)) {
          this.fail(`invariant 2: ${this.name(node.id)} delivered seq ${e.seq} after ${last} in ${rg} (seq ${s}: ${skipped ?? 'unknown'})`);
        }
        this.stats.redeliveriesSkipped!++;
      }
    }
    d.lastSeq.set(rg, e.seq);
    // The same relative order as every other node that delivered the same messages.
    let holders = this.holders.get(e.payload);
    if (!holders) this.holders.set(e.payload, (holders = []));
    for (const h of holders) {
      // Common messages of two nodes form a chain increasing in both delivery lists.
      const [mine, theirs] = d.orderMax.get(h.key) ?? [-1, -1];
      if ((index <= mine || h.index <= theirs) && !this.twoNodeSplitAllowed) {
        this.fail(`invariant 2: ${me} and ${h.key} deliver their common messages in different orders (at ${e.payload})`);
      }
      d.orderMax.set(h.key, [index, h.index]);
      this.incKeys.get(h.key)!.orderMax.set(me, [h.index, index]);
    }
    holders.push({ key: me, index });
  }

  // ------------------------------------------------------------------ network

  private send(from: NodeId, to: NodeId, message: unknown): void {
    this.stats.messages!++;
    if ((message as { kind?: string }).kind === 'snapshot') this.stats.snapshotsSent!++;
    if (this.opts.trace) {
      const text = JSON.stringify(message);
      this.log(`${this.name(from)} -> ${this.name(to)} ${text.length > 160 ? text.slice(0, 157) + '...' : text}`);
    }
    if (this.cuts.has(`${from}>${to}`) || this.rng.chance(this.dropP)) {
      this.stats.dropped!++;
      return;
    }
    const copies = this.rng.chance(this.dupP) ? 2 : 1;
    if (copies === 2) this.stats.duplicated!++;
    for (let i = 0; i < copies; i++) {
      const delay = this.rng.chance(this.longDelayP) ? this.rng.float() * 3 * this.config.timings.tokenMs : 0.05 + this.rng.float() * this.delayMaxMs;
      // The transport carries JSON; every 8th message makes the round trip to catch values
      // JSON cannot carry. The others are handed over as they are: receivers rebuild what
      // they keep while validating, so no state is shared.
      const copy = this.stats.messages! % 8 === 0 ? JSON.parse(JSON.stringify(message)) : message;
      this.at(this.now + delay, () => this.arrive(from, to, copy));
    }
  }

  private arrive(from: NodeId, to: NodeId, message: unknown): void {
    const node = this.nodes.get(to)!;
    if (!node.up || this.cuts.has(`${from}>${to}`)) {
      this.stats.dropped!++;
      return;
    }
    if (node.paused) {
      node.queued.push({ from, message });
      return;
    }
    this.stepNode(node, { type: 'receive', now: this.now, from, message: message as never });
  }

  private injectMalformed(): void {
    const targets = [...this.nodes.values()].filter((n) => n.up && !n.paused);
    if (targets.length === 0) return;
    const node = this.rng.pick(targets);
    const senders = [...this.nodes.keys()].filter((id) => id !== node.id);
    const from = this.rng.pick([...senders, 99, -1]);
    const bad: unknown[] = [
      null,
      'garbage',
      [],
      { kind: 'append' },
      { kind: 'append', term: 'x', prevIndex: 0, prevTerm: 0, entries: [], commit: 0, round: 0, echo: null, leaseMs: 0 },
      { kind: 'append', term: 1, prevIndex: 0, prevTerm: 0, entries: [{ k: 'bogus', term: 1 }], commit: 0, round: 0, echo: null, leaseMs: 0 },
      { kind: 'append', term: 1, prevIndex: -5, prevTerm: 0, entries: [], commit: 0, round: 0, echo: null, leaseMs: 0 },
      { kind: 'vote', term: 1e300, lastIndex: 0, lastTerm: 0 },
      { kind: 'request', term: 1, inc: 1, reqs: [{ seq: 1, op: 'msg', group: '', payload: 'x' }] },
      { kind: 'snapshot', term: 1, snap: { lastIndex: 1 }, round: 1, echo: null, leaseMs: 1 },
      { kind: 'append-reply', term: 1, ok: true, match: 'all', needSnapshot: false, round: 1, nonce: 1, inc: 1, groups: [], rejoin: false },
      { kind: 'nonsense', term: 1 },
      { kind: 'prevote', term: 2, lastIndex: 0, lastTerm: 0, extra: { deep: [1, 2, { x: 1 }] } , lastIndexX: 1 } ,
    ];
    let message = this.rng.pick(bad);
    // The last one is well-formed apart from unknown fields; make it invalid too.
    if ((message as { kind?: string })?.kind === 'prevote') message = { ...(message as object), lastTerm: -1 };
    this.stats.malformed!++;
    this.stepNode(node, { type: 'receive', now: this.now, from: from as NodeId, message: message as never });
  }

  // ------------------------------------------------------------------ invariants at one instant

  /**
   * After a step of `stepped`: only it can have become quorate or leader; the others can
   * only have lost quorum since (leases run out), so they are looked at only when it is
   * quorate.
   */
  private checkInstant(stepped: SimNode): void {
    if (!stepped.engine || stepped.id === ARBITER) return;
    const sv = stepped.engine.view(this.now);
    if (sv.role === 'leader') {
      const other = this.termLeader.get(sv.term);
      if (other === undefined) this.termLeader.set(sv.term, stepped.id);
      else if (other !== stepped.id) this.fail(`invariant 4: ${this.name(other)} and ${this.name(stepped.id)} both lead term ${sv.term}`);
    }
    if (!sv.quorate) return;
    const quorate: { id: NodeId; leader: NodeId | null; members: NodeId[] }[] = [];
    for (const node of this.nodes.values()) {
      if (!node.engine || node.id === ARBITER) continue;
      const v = node === stepped ? sv : node.engine.view(this.now);
      if (v.quorate) {
        const members = v.membership?.members ?? [];
        if (!members.includes(node.id) || v.leader === null || !members.includes(v.leader)) {
          this.fail(`invariant 3: ${this.name(node.id)} is quorate with membership [${members}] and leader ${v.leader}`);
        }
        quorate.push({ id: node.id, leader: v.leader, members });
      }
    }
    if (quorate.length < 2) return;
    if (this.twoNodeSplitAllowed) {
      for (const a of quorate) {
        for (const b of quorate) {
          if (a.leader === b.leader) continue;
          if (a.members.some((m) => b.members.includes(m))) {
            this.fail(`invariant 3 (two_node): ${this.name(a.id)} [${a.members}] and ${this.name(b.id)} [${b.members}] are quorate under different leaders with overlapping memberships`);
          }
        }
      }
      return;
    }
    const leader = quorate[0]!.leader;
    for (const q of quorate) {
      if (q.leader !== leader) {
        this.fail(`invariant 3: ${quorate.map((x) => `${this.name(x.id)} (leader ${x.leader}, [${x.members}])`).join(' and ')} are quorate at the same instant`);
      }
    }
  }

  // ------------------------------------------------------------------ faults and workload

  private upData(): SimNode[] {
    return this.dataIds.map((id) => this.nodes.get(id)!).filter((n) => n.up && !n.paused);
  }

  private fullyConnected(): boolean {
    return this.cuts.size === 0 && [...this.nodes.values()].every((n) => n.up && !n.paused);
  }

  private fault(): void {
    // While a crash on a quiet network is being measured, the next faults wait.
    if (this.quietCrash && this.now - this.quietCrash.at < 4 * this.config.timings.tokenMs) return;
    const all = [...this.nodes.values()];
    const ids = [...this.nodes.keys()];
    const token = this.config.timings.tokenMs;
    const kind = this.rng.int(0, 11);
    const crashQuiet = this.fullyConnected();
    this.quietCrash = null;
    switch (kind) {
      case 0: {
        // Split into two sides.
        const side = new Set(ids.filter(() => this.rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.cuts.add(`${a}>${b}`);
        this.stats.partitions!++;
        this.log(`PARTITION [${[...side].map((i) => this.name(i))}] | rest`);
        break;
      }
      case 1: {
        const [a, b] = this.twoOf(ids);
        this.cuts.add(`${a}>${b}`);
        this.stats.partitions!++;
        this.log(`ONE-WAY ${this.name(a)} -/-> ${this.name(b)}`);
        break;
      }
      case 2: {
        if (ids.length < 3) break;
        const [a, b] = this.twoOf(ids);
        this.cuts.add(`${a}>${b}`);
        this.cuts.add(`${b}>${a}`);
        this.stats.partitions!++;
        this.log(`BRIDGE ${this.name(a)} x ${this.name(b)}, both reach the others`);
        break;
      }
      case 3: {
        const a = this.rng.pick(ids);
        for (const b of ids) if (b !== a) this.cuts.add(`${a}>${b}`).add(`${b}>${a}`);
        this.stats.partitions!++;
        this.log(`ISOLATE ${this.name(a)}`);
        break;
      }
      case 4:
      case 5:
        if (this.cuts.size > 0) this.log('HEAL network');
        this.cuts.clear();
        break;
      case 6:
      case 7: {
        const up = all.filter((n) => n.up);
        if (up.length === 0) break;
        const victim = this.rng.pick(up);
        const settled = crashQuiet && victim.id !== ARBITER && this.clusterSettled();
        this.crash(victim);
        if (settled) this.quietCrash = { node: victim.id, at: this.now };
        this.at(this.now + this.rng.int(50, 3 * token), () => {
          if (!victim.up && this.faultsOn) this.restart(victim);
        });
        break;
      }
      case 8: {
        const down = all.filter((n) => !n.up);
        if (down.length > 0) this.restart(this.rng.pick(down));
        break;
      }
      case 9: {
        const candidates = all.filter((n) => n.up && !n.paused);
        if (candidates.length === 0) break;
        const node = this.rng.pick(candidates);
        this.pause(node, this.rng.int(20, 3 * token));
        break;
      }
      case 10:
        this.injectMalformed();
        break;
      case 11:
        break;
    }
  }

  /** All nodes up, in one membership, quorate: a crash now measures detection. */
  private clusterSettled(): boolean {
    const views = this.dataIds.map((id) => this.nodes.get(id)!.engine?.view(this.now));
    const first = views[0]?.membership;
    return views.every(
      (v) => v && v.quorate && v.membership && first && v.membership.ringId.seq === first.ringId.seq && v.membership.members.length === this.dataIds.length,
    );
  }

  private twoOf(ids: NodeId[]): [NodeId, NodeId] {
    const a = this.rng.pick(ids);
    const b = this.rng.pick(ids.filter((x) => x !== a));
    return [a, b];
  }

  private restart(node: SimNode): void {
    if (node.up) return;
    this.stats.restarts!++;
    // Logs are volatile: from a restart on, entries committed before it may be lost (see
    // docs/cluster-engine.md), and their senders send them again. Messages keep one
    // position and one relative order among all deliveries after the last restart.
    this.positions.clear();
    this.holders.clear();
    for (const d of this.incKeys.values()) d.orderMax.clear();
    this.log(`RESTART ${this.name(node.id)} (persisted ${JSON.stringify(node.id === ARBITER ? null : node.persisted)})`);
    this.boot(node);
  }

  private pause(node: SimNode, ms: number): void {
    node.paused = true;
    this.stats.pauses!++;
    const inc = node.inc;
    this.log(`PAUSE ${this.name(node.id)} for ${ms} ms`);
    this.at(this.now + ms, () => {
      if (node.inc === inc && node.up && node.paused) this.resume(node);
    });
  }

  private resume(node: SimNode): void {
    node.paused = false;
    this.log(`RESUME ${this.name(node.id)} with ${node.queued.length} queued messages`);
    const queued = node.queued;
    node.queued = [];
    // SIGCONT: first the old messages, handled with the current clock, then the timers.
    for (const { from, message } of queued) {
      if (!node.up) return;
      this.stepNode(node, { type: 'receive', now: this.now, from, message: message as never });
    }
    this.stepNode(node, { type: 'tick', now: this.now });
  }

  private groups = ['g0', 'g1', 'g2'];

  private workload(): void {
    const nodes = this.upData();
    if (nodes.length === 0) return;
    const node = this.rng.pick(nodes);
    this.stats.groupCalls!++;
    const joined = [...node.joined];
    if (joined.length === 0 || (joined.length < this.groups.length && this.rng.chance(0.1))) {
      const g = this.rng.pick(this.groups.filter((x) => !node.joined.has(x)));
      node.joined.add(g);
      this.stepNode(node, { type: 'group-join', now: this.now, group: g });
    } else if (this.rng.chance(0.05)) {
      const g = this.rng.pick(joined);
      node.joined.delete(g);
      this.stepNode(node, { type: 'group-leave', now: this.now, group: g });
    } else {
      const g = this.rng.pick(joined);
      this.stepNode(node, { type: 'group-send', now: this.now, group: g, payload: `m${++this.payloadCounter}@${node.id}` });
    }
  }

  // ------------------------------------------------------------------ run

  run(): ClusterSimResult {
    let failure: string | null = null;
    try {
      this.runPhases();
    } catch (err) {
      if (!(err instanceof SimFailure)) failure = `exception: ${(err as Error).stack ?? String(err)}`;
      else failure = err.message;
      this.log(`FAILED: ${failure}`);
    }
    return {
      seed: this.opts.seed,
      ok: failure === null,
      failure,
      steps: this.steps,
      simulatedMs: Math.round(this.now),
      stats: this.stats,
      detectionsMs: this.detectionsMs,
      tokenMs: this.config.timings.tokenMs,
      config: this.description,
      log: [...this.logRing],
    };
  }

  private runPhases(): void {
    this.log(`seed ${this.opts.seed}: ${this.description}`);
    for (const node of this.nodes.values()) this.boot(node);
    const token = this.config.timings.tokenMs;
    const scheduleFault = (): void => {
      this.at(this.now + this.rng.int(100, Math.max(400, 2 * token)), () => {
        if (!this.faultsOn) return;
        this.fault();
        scheduleFault();
      });
    };
    // Faults start after the cluster had a chance to form once.
    this.at(this.rng.int(0, 3) * token, scheduleFault);
    const scheduleWork = (): void => {
      this.at(this.now + this.rng.int(5, 150), () => {
        if (!this.faultsOn) return;
        this.workload();
        scheduleWork();
      });
    };
    scheduleWork();
    this.runUntil(this.faultPhaseMs);
    this.heal();
    this.converge();
  }

  private runUntil(t: number, done?: () => boolean): boolean {
    let guard = 0;
    for (;;) {
      const next = this.q.pop();
      if (!next) {
        this.now = Math.max(this.now, t);
        return done ? done() : true;
      }
      if (next.at > t) {
        this.q.push(next.at, next.run);
        this.now = t;
        return done ? done() : true;
      }
      this.now = Math.max(this.now, next.at);
      next.run();
      if (++guard > 5_000_000) this.fail('more than 5M events in one phase: runaway');
      if (done && guard % 16 === 0 && done()) return true;
    }
  }

  private heal(): void {
    this.faultsOn = false;
    this.quietCrash = null;
    this.log('HEAL: faults stop, network heals, every node runs');
    this.cuts.clear();
    this.dropP = 0;
    this.dupP = 0;
    this.longDelayP = 0;
    for (const node of this.nodes.values()) {
      if (!node.up) this.restart(node);
      else if (node.paused) this.resume(node);
    }
  }

  private converged(): boolean {
    let ring: number | null = null;
    let leader: NodeId | null = null;
    for (const id of this.dataIds) {
      const v = this.nodes.get(id)!.engine!.view(this.now);
      const m = v.membership;
      if (!v.quorate || !m || m.members.length !== this.dataIds.length) return false;
      if (m.arbiterPresent !== (this.config.arbiter !== null)) return false;
      if (ring !== null && (m.ringId.seq !== ring || v.leader !== leader)) return false;
      ring = m.ringId.seq;
      leader = v.leader;
    }
    return true;
  }

  private converge(): void {
    const start = this.now;
    const deadline = start + this.opts.healPhaseMsMax;
    const step = 50;
    while (!this.converged()) {
      if (this.now >= deadline) this.fail(`invariant 5: no common quorate membership of all nodes ${this.opts.healPhaseMsMax} ms after healing: ${this.liveness()}`);
      this.runUntil(this.now + step);
    }
    this.log(`converged ${Math.round(this.now - start)} ms after healing`);
    this.stats.convergeMs = Math.round(this.now - start);
    // Every node joins a fresh group and sends one message; all must deliver all of them.
    const group = 'final';
    for (const id of this.dataIds) this.stepNode(this.nodes.get(id)!, { type: 'group-join', now: this.now, group });
    const settle = (): boolean => this.dataIds.every((id) => this.nodes.get(id)!.engine!.view(this.now).groups.find((g) => g.name === group)?.members.length === this.dataIds.length);
    while (!settle()) {
      if (this.now >= deadline) this.fail(`invariant 5: the final group did not form: ${this.liveness()}`);
      this.runUntil(this.now + step);
    }
    const payloads = this.dataIds.map((id) => `final@${id}`);
    for (const id of this.dataIds) this.stepNode(this.nodes.get(id)!, { type: 'group-send', now: this.now, group, payload: `final@${id}` });
    const allDelivered = (): boolean => this.dataIds.every((id) => payloads.every((p) => this.nodes.get(id)!.deliveries.delivered.has(p)));
    while (!allDelivered()) {
      if (this.now >= deadline) {
        const missing = this.dataIds.map((id) => `${this.name(id)} lacks [${payloads.filter((p) => !this.nodes.get(id)!.deliveries.delivered.has(p))}]`).join('; ');
        this.fail(`invariant 5: final messages not delivered everywhere: ${missing}`);
      }
      this.runUntil(this.now + step);
    }
  }

  private liveness(): string {
    return this.dataIds
      .map((id) => {
        const v = this.nodes.get(id)!.engine!.view(this.now);
        const m = v.membership;
        return `${this.name(id)} ${v.role} t${v.term} leader ${v.leader} ${v.quorate ? 'quorate' : 'inquorate'} ring ${m ? `${m.ringId.rep}.${m.ringId.seq} [${m.members}]${m.arbiterPresent ? '+arb' : ''}` : '-'}`;
      })
      .join('; ');
  }
}

export function runSeed(seed: number, overrides: Partial<ClusterSimOptions> = {}): ClusterSimResult {
  let sim: ClusterSim;
  try {
    sim = new ClusterSim({ ...defaultClusterSimOptions(seed), ...overrides });
  } catch (err) {
    return { seed, ok: false, failure: `set-up: ${(err as Error).message}`, steps: 0, simulatedMs: 0, stats: {}, detectionsMs: [], tokenMs: 0, config: '', log: [] };
  }
  return sim.run();
}

/** Median and maximum of a list of numbers (NaN when empty). */
export function medianMax(values: number[]): { median: number; max: number } {
  if (values.length === 0) return { median: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, max: s[s.length - 1]! };
}

// ------------------------------------------------------------------ scripted scenarios

export interface ConfigSketch {
  nodes: NodeId[];
  votes?: Record<number, number>;
  arbiter?: boolean;
  twoNode?: boolean;
  waitForAll?: boolean;
  lastManStanding?: boolean;
  lastManStandingWindowMs?: number;
  autoTieBreaker?: AutoTieBreakerNode | null;
  tokenMs?: number;
}

/** A cluster configuration as the corosync.conf reader would produce it. */
export function clusterConfig(s: ConfigSketch): ClusterConfig {
  const tokenMs = s.tokenMs ?? 1000;
  return {
    file: 'scenario.conf',
    clusterName: 'scenario',
    port: 5405,
    timings: { tokenMs, consensusMs: Math.round(tokenMs * 1.2), joinMs: 50, maxNetworkDelayMs: 50 },
    crypto: { cipher: 'none', hash: 'none', keyFile: null },
    nodes: s.nodes.map((id) => ({ nodeId: id, name: `node${id}`, addresses: [`127.0.0.${id}`], votes: s.votes?.[id] ?? 1 })),
    quorum: {
      expectedVotes: null,
      twoNode: s.twoNode ?? false,
      waitForAll: s.waitForAll ?? s.twoNode ?? false,
      lastManStanding: s.lastManStanding ?? false,
      lastManStandingWindowMs: s.lastManStandingWindowMs ?? 10_000,
      autoTieBreaker: s.autoTieBreaker != null,
      autoTieBreakerNode: s.autoTieBreaker ?? 'lowest',
    },
    arbiter: s.arbiter ? { host: '127.0.0.100', port: 5403, votes: 1, algorithm: 'ffsplit' } : null,
  };
}

interface HarnessNode {
  id: NodeId;
  engine: Engine | null;
  paused: boolean;
  queued: { from: NodeId; message: unknown }[];
  persisted: PersistentState | null;
  effects: EngineEffect[];
  tickGen: number;
  /** The term of the last persist effect (what survives a crash). */
  durableTerm: number;
}

/**
 * A small deterministic network for scenario tests: fixed delays, explicit cuts, crashes,
 * restarts and pauses. After every step it checks that the quorate nodes follow one
 * leader (invariant 3 above), unless `twoNodeSplit` allows both halves.
 */
export class ClusterHarness {
  now = 0;
  private readonly q = new EventQueue();
  private readonly rng: Prng;
  readonly nodes = new Map<NodeId, HarnessNode>();
  private readonly cuts = new Set<string>();
  /** Violations of "all quorate nodes follow one leader", with the time. */
  readonly violations: string[] = [];
  /** Every (time, node, quorate) change seen. */
  readonly quorumLog: { at: number; node: NodeId; quorate: boolean }[] = [];
  private readonly lastQuorate = new Map<NodeId, boolean>();
  delayMs: number;

  constructor(
    readonly config: ClusterConfig,
    opts: { seed?: number; delayMs?: number; twoNodeSplit?: boolean } = {},
  ) {
    this.rng = new Prng(opts.seed ?? 1);
    this.delayMs = opts.delayMs ?? 1;
    this.twoNodeSplit = opts.twoNodeSplit ?? false;
    const ids = config.nodes.map((n) => n.nodeId);
    if (config.arbiter) ids.push(ARBITER);
    for (const id of ids) this.nodes.set(id, { id, engine: null, paused: false, queued: [], persisted: null, effects: [], tickGen: 0, durableTerm: 0 });
  }

  private readonly twoNodeSplit: boolean;

  startAll(): void {
    for (const id of this.nodes.keys()) this.restart(id);
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    n.paused = false;
    n.queued = [];
    n.engine = createEngine({ self: id, config: this.config, random: () => this.rng.float(), persisted: id === ARBITER ? null : n.persisted });
    n.durableTerm = id === ARBITER ? 0 : (n.persisted?.term ?? 0);
    this.step(n, { type: 'start', now: this.now });
  }

  crash(id: NodeId): void {
    const n = this.nodes.get(id)!;
    n.engine = null;
    n.tickGen++;
    n.queued = [];
    n.paused = false;
  }

  pause(id: NodeId): void {
    this.nodes.get(id)!.paused = true;
  }

  resume(id: NodeId): void {
    const n = this.nodes.get(id)!;
    n.paused = false;
    const queued = n.queued;
    n.queued = [];
    for (const { from, message } of queued) this.step(n, { type: 'receive', now: this.now, from, message: message as never });
    this.step(n, { type: 'tick', now: this.now });
  }

  /** Cut a → b (and b → a unless oneWay). */
  cut(a: NodeId, b: NodeId, oneWay = false): void {
    this.cuts.add(`${a}>${b}`);
    if (!oneWay) this.cuts.add(`${b}>${a}`);
  }

  isolate(a: NodeId): void {
    for (const b of this.nodes.keys()) if (b !== a) this.cut(a, b);
  }

  heal(): void {
    this.cuts.clear();
  }

  call(id: NodeId, event: { type: 'group-join' | 'group-leave'; group: string } | { type: 'group-send'; group: string; payload: string }): EngineEffect[] {
    const n = this.nodes.get(id)!;
    return this.step(n, { ...event, now: this.now } as EngineEvent);
  }

  /** Hand a raw message to a node as if `from` had sent it; returns the node's effects. */
  inject(id: NodeId, from: unknown, message: unknown): EngineEffect[] {
    return this.step(this.nodes.get(id)!, { type: 'receive', now: this.now, from: from as NodeId, message: message as never });
  }

  view(id: NodeId): ReturnType<Engine['view']> | null {
    return this.nodes.get(id)!.engine?.view(this.now) ?? null;
  }

  effects<T extends EngineEffect['type']>(id: NodeId, type: T): Extract<EngineEffect, { type: T }>[] {
    return this.nodes.get(id)!.effects.filter((e): e is Extract<EngineEffect, { type: T }> => e.type === type);
  }

  run(ms: number): void {
    this.runTo(this.now + ms);
  }

  /** Run until `done` holds (checked after every event) or `ms` pass; returns whether it held. */
  runUntil(done: () => boolean, ms: number): boolean {
    const end = this.now + ms;
    if (done()) return true;
    for (;;) {
      const next = this.q.pop();
      if (!next || next.at > end) {
        if (next) this.q.push(next.at, next.run);
        this.now = end;
        return done();
      }
      this.now = Math.max(this.now, next.at);
      next.run();
      if (done()) return true;
    }
  }

  private runTo(t: number): void {
    this.runUntil(() => false, t - this.now);
  }

  /** The leader that the quorate nodes follow, if any. */
  quorateLeader(): NodeId | null {
    for (const id of this.nodes.keys()) {
      const v = this.view(id);
      if (v?.quorate) return v.leader;
    }
    return null;
  }

  quorateNodes(): NodeId[] {
    return [...this.nodes.keys()].filter((id) => this.view(id)?.quorate);
  }

  private step(n: HarnessNode, event: EngineEvent): EngineEffect[] {
    if (!n.engine) return [];
    const effects = n.engine.step(event);
    n.effects.push(...effects);
    for (const e of effects) {
      if (e.type === 'persist') {
        n.durableTerm = e.state.term;
        if (n.id !== ARBITER) n.persisted = { ...e.state };
      }
      if (e.type === 'send') {
        // A message stamped with this node's term leaves only after that term is durable.
        const m = e.message as { kind: string; term: number };
        if (m.kind !== 'prevote' && m.kind !== 'prevote-reply' && m.term > n.durableTerm) {
          this.violations.push(`${this.now}: node ${n.id} sent ${m.kind} of term ${m.term} before persisting it (durable: ${n.durableTerm})`);
        }
        this.send(n.id, e.to, e.message);
      }
    }
    this.schedule(n);
    this.check();
    return effects;
  }

  private schedule(n: HarnessNode): void {
    if (!n.engine) return;
    const at = Math.max(n.engine.nextWakeup(), this.now + 0.001);
    if (!Number.isFinite(at)) return;
    const gen = ++n.tickGen;
    this.q.push(at, () => {
      if (n.tickGen !== gen || !n.engine || n.paused) return;
      this.step(n, { type: 'tick', now: this.now });
    });
  }

  private send(from: NodeId, to: NodeId, message: unknown): void {
    if (this.cuts.has(`${from}>${to}`)) return;
    const text = JSON.stringify(message);
    this.q.push(this.now + this.delayMs, () => {
      const n = this.nodes.get(to)!;
      if (!n.engine || this.cuts.has(`${from}>${to}`)) return;
      if (n.paused) n.queued.push({ from, message: JSON.parse(text) });
      else this.step(n, { type: 'receive', now: this.now, from, message: JSON.parse(text) });
    });
  }

  private check(): void {
    const quorate: { id: NodeId; leader: NodeId | null; members: NodeId[] }[] = [];
    for (const [id, n] of this.nodes) {
      if (!n.engine || id === ARBITER) continue;
      const v = n.engine.view(this.now);
      if (this.lastQuorate.get(id) !== v.quorate) {
        this.lastQuorate.set(id, v.quorate);
        this.quorumLog.push({ at: this.now, node: id, quorate: v.quorate });
      }
      if (v.quorate) quorate.push({ id, leader: v.leader, members: v.membership?.members ?? [] });
    }
    for (const a of quorate) {
      if (a.leader === null || !a.members.includes(a.leader) || !a.members.includes(a.id)) this.violations.push(`${this.now}: node ${a.id} quorate with leader ${a.leader} and members [${a.members}]`);
      for (const b of quorate) {
        if (a.leader === b.leader) continue;
        if (this.twoNodeSplit && !a.members.some((m) => b.members.includes(m))) continue;
        this.violations.push(`${this.now}: node ${a.id} (leader ${a.leader}) and node ${b.id} (leader ${b.leader}) are quorate at once`);
      }
    }
  }
}
