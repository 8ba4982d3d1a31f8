// Runs the pure cluster engine for one node (or the arbiter): feeds it the monotonic
// clock, received packets and local group calls; carries out its effects (send,
// persist, deliver) and keeps what `safeside members/quorum/group log` show.

import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { createEngine } from '../../cluster/engine.js';
import type { Engine, EngineEffect, EngineEvent, EngineView, PersistentState } from '../../cluster/engine-api.js';
import type { ClusterConfig, Membership, NodeId } from '../../cluster/types.js';
import { ClusterTransport } from './transport.js';

/** One line of a group's delivery log, in the order this node delivered it. */
export type GroupLogEntry =
  | { kind: 'message'; seq: number; ringId: string; from: string; payload: string }
  | { kind: 'change'; members: string[]; joined: string[]; left: string[] };

export interface MembershipEvent {
  /** Milliseconds on this node's monotonic clock. */
  at: number;
  membership: Membership;
  joined: NodeId[];
  left: NodeId[];
  reason: string;
}

export interface ClusterNodeOptions {
  config: ClusterConfig;
  self: NodeId;
  key: Buffer;
  /** Where term and vote are kept across restarts; null for the diskless arbiter. */
  stateFile: string | null;
  log: Logger;
}

/** Bounds on what is kept for the CLI, so memory stays flat on a busy cluster. */
const groupLogMax = 10_000;
const membershipHistoryMax = 200;

export class ClusterNode {
  private readonly engine: Engine;
  private readonly transport: ClusterTransport;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly groupLogs = new Map<string, GroupLogEntry[]>();
  readonly membershipHistory: MembershipEvent[] = [];
  private readonly names: Map<NodeId, string>;

  constructor(private readonly opts: ClusterNodeOptions) {
    this.names = new Map(opts.config.nodes.map((n) => [n.nodeId, n.name]));
    this.names.set(0, 'arbiter');
    this.engine = createEngine({
      self: opts.self,
      config: opts.config,
      random: Math.random,
      persisted: opts.stateFile ? readPersisted(opts.stateFile) : null,
    });
    this.transport = new ClusterTransport({ config: opts.config, self: opts.self, key: opts.key, log: opts.log });
  }

  get selfId(): NodeId {
    return this.opts.self;
  }

  static now(): number {
    return performance.now();
  }

  nameOf(id: NodeId): string {
    return this.names.get(id) ?? `node${id}`;
  }

  async start(): Promise<void> {
    this.transport.onMessage(({ from, message }) => this.dispatch({ type: 'receive', now: ClusterNode.now(), from, message }));
    await this.transport.start();
    this.dispatch({ type: 'start', now: ClusterNode.now() });
  }

  view(): EngineView {
    return this.engine.view(ClusterNode.now());
  }

  transportStatus(): ReturnType<ClusterTransport['status']> {
    return this.transport.status();
  }

  joinGroup(group: string): void {
    this.dispatch({ type: 'group-join', now: ClusterNode.now(), group });
  }

  leaveGroup(group: string): void {
    this.dispatch({ type: 'group-leave', now: ClusterNode.now(), group });
  }

  sendToGroup(group: string, payload: string): void {
    this.dispatch({ type: 'group-send', now: ClusterNode.now(), group, payload });
  }

  groupLog(group: string): GroupLogEntry[] {
    return this.groupLogs.get(group) ?? [];
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.transport.close();
  }

  private dispatch(event: EngineEvent): void {
    if (this.closed) return;
    let effects: EngineEffect[];
    try {
      effects = this.engine.step(event);
    } catch (err) {
      // The engine validates its input; an exception here is our bug, and the node
      // must stay up rather than die from one packet.
      this.opts.log.error({ err, event: event.type }, 'cluster engine failed on an event; event dropped');
      effects = [];
    }
    for (const e of effects) this.apply(e);
    this.schedule();
  }

  private apply(e: EngineEffect): void {
    switch (e.type) {
      case 'send':
        try {
          this.transport.send(e.to, e.message);
        } catch (err) {
          // Too large or unknown node: the engine resends what matters; the node stays up.
          this.opts.log.error({ err, to: e.to, kind: e.message.kind }, 'cluster message not sent');
        }
        return;
      case 'persist':
        if (this.opts.stateFile) writePersisted(this.opts.stateFile, e.state);
        return;
      case 'membership': {
        this.membershipHistory.push({ at: ClusterNode.now(), membership: e.membership, joined: e.joined, left: e.left, reason: e.reason });
        if (this.membershipHistory.length > membershipHistoryMax) this.membershipHistory.shift();
        const names = (ids: NodeId[]): string => ids.map((id) => this.nameOf(id)).join(' ') || '-';
        this.opts.log.info(
          { ringId: e.membership.ringId, members: e.membership.members, reason: e.reason },
          `A new membership (${e.membership.ringId.rep.toString(16)}.${e.membership.ringId.seq.toString(16)}) was formed. Members joined: ${names(e.joined)} left: ${names(e.left)}`,
        );
        return;
      }
      case 'deliver':
        this.appendGroupLog(e.group, {
          kind: 'message',
          seq: e.seq,
          ringId: `${e.ringId.rep.toString(16)}.${e.ringId.seq.toString(16)}`,
          from: this.nameOf(e.from),
          payload: e.payload,
        });
        return;
      case 'group-change':
        this.appendGroupLog(e.group, {
          kind: 'change',
          members: e.members.map((id) => this.nameOf(id)),
          joined: e.joined.map((j) => `${this.nameOf(j.node)}(${j.reason})`),
          left: e.left.map((l) => `${this.nameOf(l.node)}(${l.reason})`),
        });
        return;
      case 'quorum':
        this.opts.log.info({ quorum: e.status }, e.status.quorate ? 'This node is within the primary component and will provide service.' : 'This node is within the non-primary component and will NOT provide any services.');
        return;
      case 'log':
        this.opts.log[e.level](e.fields ?? {}, e.msg);
        return;
    }
  }

  private appendGroupLog(group: string, entry: GroupLogEntry): void {
    let log = this.groupLogs.get(group);
    if (!log) this.groupLogs.set(group, (log = []));
    log.push(entry);
    if (log.length > groupLogMax) log.splice(0, log.length - groupLogMax);
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(this.engine.nextWakeup() - ClusterNode.now(), 1000));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dispatch({ type: 'tick', now: ClusterNode.now() });
    }, delay);
  }
}

function readPersisted(file: string): PersistentState | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const v = JSON.parse(text) as Partial<PersistentState>;
  if (typeof v.term !== 'number' || !(v.votedFor === null || typeof v.votedFor === 'number')) {
    throw new Error(`${file}: expected {"term": N, "votedFor": N|null}, found ${text.slice(0, 80)}`);
  }
  return { term: v.term, votedFor: v.votedFor };
}

/** Term and vote must be on disk before any message that depends on them leaves. */
function writePersisted(file: string, state: PersistentState): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify(state) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
