// The mutable state one scheduling run works on: nodes, resources, actions.
import type { CibConfig, OpDef, PrimitiveDef, Role } from './cib/model.js';
import type { NodeInfo, OnFail, OpRecord } from './status/model.js';
import type { NotifyData } from './transition/notify.js';

/** A group: its members are placed together, in order, and started in order. */
export interface GroupRsc {
  readonly id: string;
  readonly priority: number;
  readonly index: number;
  readonly children: Rsc[];
  readonly actions: Action[];
  readonly allowed: Map<string, number>;
  /** Score lines printed when the group's assignment begins. */
  assignScores?: string[];
  /** Set when this is a clone: its instances are the children, placed apart, started in any order. */
  clone?: CloneInfo;
  /** Promotable clones: instances by promotion priority, highest first, and the "promotion score" lines. */
  promotionOrder?: Rsc[];
  promotionScores?: string[];
  /** A clone's instances in the order they were assigned (Pacemaker re-sorts its children so). */
  instanceOrder?: Rsc[];
  /** A clone's notification rounds (meta notify=true), expanded once the flags have settled. */
  notifications?: NotifyData[];
  /** A clone of a group: its instances (groups grp:0, grp:1, ...); `children` are then all their members. */
  instances?: GroupRsc[];
  /** A group that is an instance of a clone. */
  cloneOf?: GroupRsc;
  /** Bans recorded during unpack for an anonymous clone as a whole (e.g. a probe found the agent missing). */
  bans?: { nodeId?: string; score: number; why: string }[];
}

/** A clone's own settings (clone-max, clone-node-max, globally-unique, interleave). */
export interface CloneInfo {
  readonly childId: string;
  /** A clone of a group: the ids of the group's members (instances are named member:N). */
  readonly members?: readonly string[];
  readonly max: number;
  readonly nodeMax: number;
  readonly unique: boolean;
  readonly interleave: boolean;
  /** clone-min: how many instances must be runnable before orders after the clone may go ahead (0 = all). */
  readonly min: number;
  /** ordered=true: instances start one after another in instance-number order, and stop in reverse. */
  readonly ordered: boolean;
  readonly targetRole?: string;
  /** Promotable clones: instances may be promoted, at most promotedMax in all and promotedNodeMax per node. */
  readonly promotable: boolean;
  readonly promotedMax: number;
  readonly promotedNodeMax: number;
  /** meta notify=true: instances are told before and after their peers start, stop, promote or demote. */
  readonly notify: boolean;
}

export interface Action {
  readonly id: number;
  readonly rsc?: Rsc;
  /** Set on a group's own pseudo actions (start, running, stop, stopped). */
  readonly group?: GroupRsc;
  readonly task: string;
  readonly key: string;
  /** Unset only for a start forced before placement; bound to a node when the start is created there. */
  node?: NodeInfo;
  readonly intervalMs: number;
  optional: boolean;
  runnable: boolean;
  pseudo: boolean;
  reason?: string;
  /** Shown in the executed-actions list, e.g. "cancel=10000" or "monitor=10000". */
  readonly label: string;
  /** Expected rc for injected results (probes expect 7 unless running). */
  expectedRc: number;
  fenceAction?: string;
  /** A "one-or-more" pseudo action: runnable when any action ordered before it is. */
  requiresAny?: boolean;
  /** How many "first" actions of a requiresAny action must be runnable (clone-min); default 1. */
  requiredRunnable?: number;
  /** In the graph even when optional (a required action is ordered before or after it). */
  printAlways?: boolean;
  fenceTarget?: NodeInfo;
}

export interface Ordering {
  readonly first: Action;
  readonly then: Action;
  readonly impliesThen: boolean;
  readonly impliesFirst: boolean;
  readonly runnableLeft: boolean;
  readonly restart: boolean;
  /** A mandatory but asymmetrical order: only keeps a stopped "then" from starting. */
  readonly asymmetric: boolean;
  /** A required "then" makes a pseudo "first" required (one-or-more sets). */
  readonly requiredThenFirst: boolean;
  /** A runnable required "first" puts "then" in the graph without making it required. */
  readonly impliesThenPrinted?: boolean;
  /** Counts toward a requiresAny "then" (one instance of a clone-min set). */
  readonly oneOrMore?: boolean;
  /** Flags only, no graph edge: a clone-level order applied to an instance's action while that is runnable. */
  readonly instanceOnly?: boolean;
  /** Flags only, no graph edge: an order on a group's start or stop applied to a member's. */
  readonly memberOnly?: boolean;
  /** On an order whose "then" is a group's start or stop: the same order applied to each member, in member order. */
  memberOrders?: Ordering[];
  /** Graph edge only, no flags: an interleaved clone-level order (its instances are paired instead). */
  readonly graphOnly?: boolean;
  /** Pacemaker's anti-colocation ordering: in the graph only when "first" is required and both are on one node (or either has none). */
  readonly antiColocation?: boolean;
  /** The inverse of an order constraint: keeps impliesFirst for blocked stops, but a required "then" does not make "first" required. */
  readonly impliesFirstInert?: boolean;
}

export interface Rsc {
  readonly def: PrimitiveDef;
  readonly id: string;
  group?: GroupRsc;
  /** The clone this is an instance of. */
  cloneOf?: GroupRsc;
  /** The name an anonymous instance's history was recorded under, which the executor keeps using. */
  cloneName?: string;
  readonly index: number;
  readonly priority: number;
  readonly stickiness: number;
  readonly migrationThreshold: number;
  readonly failureTimeoutMs: number;
  readonly isStonith: boolean;
  readonly multipleActive: string;
  /** What starting needs: nothing, quorum, fencing or unfencing. */
  readonly requires: string;
  readonly targetRole?: Role;
  readonly orphan: boolean;
  readonly ops: readonly OpDef[];
  managed: boolean;
  role: Role;
  nextRole: Role;
  nextRoleReason?: string;
  runningOn: NodeInfo[];
  knownOn: Set<string>;
  failed: boolean;
  stopNeeded: boolean;
  blocked: boolean;
  failureIgnored: boolean;
  startPending: boolean;
  pendingTask?: string;
  /** Where a non-probe operation is pending (Pacemaker's pending_node). */
  pendingNode?: NodeInfo;
  allowed: Map<string, number>;
  /** The node scores as printed, when placement changed them afterwards (capacity bans). */
  printedScores?: Map<string, number>;
  provisional: boolean;
  assigning: boolean;
  merging: boolean;
  allocatedTo?: NodeInfo;
  actions: Action[];
  /** Failed history entries per node id, for failcount-based display and on-fail=block checks. */
  failedOps: { node: NodeInfo; op: OpRecord }[];
  notInstalledOn: Set<string>;
  /** The history name each node's not-installed probe was recorded under. */
  notInstalledAs?: Map<string, string>;
  /** Rsc-level "fatal" / "hard" bans recorded during unpack, applied before placement. */
  bans: { nodeId?: string; score: number; why: string }[];
  /** Where each score change came from, for explanations. */
  scoreLog: { node: string; delta: number; why: string }[];
  /** Operation history per node id, in call order. */
  history: Map<string, OpRecord[]>;
  /** "nodeId:key" of recurring monitors whose expired failure means they must be started again. */
  reschedule: Set<string>;
  /** meta maintenance=true: unmanaged, recurring monitors cancelled. */
  maintenance?: boolean;
  /** A promotable instance's highest promotion score, before roles are chosen. */
  promotionPriority?: number;
  /** The agent (class:provider:type) each node's history was recorded with. */
  historyAgent?: Map<string, string>;
  /** The name each node's history was recorded under (an anonymous instance may differ from its id). */
  historyName?: Map<string, string>;
}

export interface WorkingSet {
  readonly config: CibConfig;
  readonly now: number;
  readonly nodes: NodeInfo[];
  readonly rscs: Rsc[];
  readonly groups: GroupRsc[];
  readonly clones: GroupRsc[];
  haveQuorum: boolean;
  readonly actions: Action[];
  readonly orderings: Ordering[];
  nextActionId: number;
  readonly haveStonithResource: boolean;
  /** Nodes to fence, in the order they were found unclean. */
  readonly warnings: string[];
  readonly onFailCache: Map<string, OnFail>;
}

export function findAction(rsc: Rsc, key: string, node: NodeInfo | undefined): Action | undefined {
  return rsc.actions.find((a) => a.key === key && a.node === node);
}

export function opKey(rscId: string, task: string, intervalMs: number): string {
  return `${rscId}_${task}_${intervalMs}`;
}

/** Creates or finds an action, as Pacemaker's custom_action does; new actions take the next id. */
export function customAction(ws: WorkingSet, rsc: Rsc | undefined, task: string, node: NodeInfo | undefined,
  optional: boolean, opts: { intervalMs?: number; key?: string; label?: string; pseudo?: boolean; group?: GroupRsc; reuseIdOf?: Action } = {}): Action {
  const intervalMs = opts.intervalMs ?? 0;
  const key = opts.key ?? (rsc ? opKey(rsc.id, task, intervalMs) : opts.group ? opKey(opts.group.id, task, 0) : task);
  if (opts.group) {
    const existing = opts.group.actions.find((a) => a.key === key);
    if (existing) {
      if (!optional) existing.optional = false;
      return existing;
    }
  } else if (rsc) {
    const existing = findAction(rsc, key, node);
    if (existing) {
      if (!optional) existing.optional = false;
      return existing;
    }
    // As Pacemaker's find_actions: an action made without a node takes the first node asked for.
    const unbound = node ? rsc.actions.find((a) => a.key === key && a.node === undefined) : undefined;
    if (unbound) {
      unbound.node = node;
      unbound.runnable = true;
      updateRunnable(ws, unbound, rsc);
      if (!optional) unbound.optional = false;
      return unbound;
    }
  } else {
    const existing = ws.actions.find((a) => a.rsc === undefined && a.key === key && a.node === node);
    if (existing) {
      if (!optional) existing.optional = false;
      return existing;
    }
  }
  const a: Action = {
    // A cancel takes over the id of the running operation it stops, as Pacemaker turns that action into the cancel.
    id: opts.reuseIdOf?.id ?? ws.nextActionId++, rsc, group: opts.group, task, key, node, intervalMs, optional, runnable: true, pseudo: opts.pseudo ?? false,
    label: opts.label ?? (task === 'monitor' && intervalMs > 0 ? `monitor=${intervalMs}` : task),
    expectedRc: 0,
  };
  if (rsc) updateRunnable(ws, a, rsc);
  ws.actions.push(a);
  rsc?.actions.push(a);
  opts.group?.actions.push(a);
  return a;
}

function updateRunnable(ws: WorkingSet, a: Action, rsc: Rsc): void {
  if (a.pseudo) return;
  if (a.node === undefined) {
    a.runnable = false;
    return;
  }
  if (!a.node.online) {
    a.runnable = false;
    return;
  }
  if (a.node.pending) {
    a.runnable = false;
    return;
  }
  const needsQuorum = (a.task === 'start' || a.task === 'promote') && rsc.requires !== 'nothing';
  if (!needsQuorum) return;
  const policy = effectiveNoQuorumPolicy(ws);
  if (!ws.haveQuorum && policy === 'stop') {
    a.runnable = false;
    a.reason = 'no quorum';
  } else if (!ws.haveQuorum && policy === 'freeze') {
    const active = rsc.runningOn.some((n) => n.unclean || n.online || !rsc.managed);
    if (!active || rankRole(rsc.nextRole) > rankRole(rsc.role)) {
      a.runnable = false;
      a.reason = 'quorum freeze';
    }
  }
}

function rankRole(r: Role): number {
  return r === 'Unknown' ? 0 : r === 'Stopped' ? 1 : r === 'Started' ? 2 : r === 'Unpromoted' ? 3 : 4;
}

export function order(ws: WorkingSet, first: Action, then: Action, flags: Partial<Omit<Ordering, 'first' | 'then'>> = {}): void {
  ws.orderings.push({
    first, then, impliesThen: flags.impliesThen ?? false, impliesFirst: flags.impliesFirst ?? false,
    runnableLeft: flags.runnableLeft ?? false, restart: flags.restart ?? false, asymmetric: flags.asymmetric ?? false, requiredThenFirst: flags.requiredThenFirst ?? false,
    ...(flags.impliesThenPrinted ? { impliesThenPrinted: true } : {}), ...(flags.oneOrMore ? { oneOrMore: true } : {}),
    ...(flags.instanceOnly ? { instanceOnly: true } : {}), ...(flags.memberOnly ? { memberOnly: true } : {}), ...(flags.graphOnly ? { graphOnly: true } : {}), ...(flags.antiColocation ? { antiColocation: true } : {}),
    ...(flags.impliesFirstInert ? { impliesFirstInert: true } : {}),
  });
}

/** Orders by key: every matching action of the first resource before every matching one of the second. */
export function orderKeys(ws: WorkingSet, firstRsc: Rsc, firstKey: string, thenRsc: Rsc, thenKey: string,
  flags: Partial<Omit<Ordering, 'first' | 'then'>> = {}): void {
  for (const f of firstRsc.actions.filter((a) => a.key === firstKey)) {
    for (const t of thenRsc.actions.filter((a) => a.key === thenKey)) order(ws, f, t, flags);
  }
}

/** no-quorum-policy after Pacemaker's corrections: "suicide" needs fencing and past quorum. */
export function effectiveNoQuorumPolicy(ws: WorkingSet): string {
  const p = ws.config.options.noQuorumPolicy;
  if (p !== 'suicide') return p;
  if (!ws.config.options.stonithEnabled) return 'stop';
  return ws.haveQuorum || ws.config.noQuorumPanic ? 'suicide' : 'stop';
}
