// Builds the working set from the CIB: node states and each resource's state
// per node, replayed from its operation history (Pacemaker's unpack.c rules).
import type { CibConfig, PrimitiveDef, Role } from '../cib/model.js';
import { flattenSets } from '../cib/parse.js';
import { INFINITY, isTrue, parseDurationMs, parseScore } from '../score.js';
import { customAction, effectiveNoQuorumPolicy, opKey, type CloneInfo, type GroupRsc, type Rsc, type WorkingSet } from '../working-set.js';
import { fenceOp } from '../transition/fencing.js';
import { compareDigests, olderFeatureSet } from '../digest/op-digest.js';
import { clearFailCount, digestInput } from '../digest/rsc-digest.js';
import { groupInstanceMember } from './cloned-groups.js';
import { roleRank, worseOnFail, type NodeInfo, type NodeStateRecord, type OnFail, type OpRecord, type ResourceHistory } from './model.js';

const EXEC_DONE = 0, EXEC_PENDING = -1, EXEC_ERROR = 4, EXEC_ERROR_HARD = 5, EXEC_ERROR_FATAL = 6, EXEC_NOT_INSTALLED = 7;

interface Member {
  def: PrimitiveDef; groupId?: string; groupMeta?: Readonly<Record<string, string>>; cloneId?: string; clone?: CloneInfo;
  cloneMeta?: Readonly<Record<string, string>>;
  /** clone-max=0: the one instance made anyway, to take the history, is an orphan. */
  orphan?: boolean;
}

function primitivesOf(config: CibConfig): Member[] {
  const out: Member[] = [];
  for (const r of config.resources) {
    if (r.kind === 'primitive') out.push({ def: r });
    else if (r.kind === 'group') for (const c of r.children) out.push({ def: c, groupId: r.id, groupMeta: r.meta });
    else if (r.kind === 'clone' && r.child.kind === 'primitive') {
      // Instances child:0 .. child:N-1; the clone's meta attributes apply to each of them.
      const info = cloneInfo(config, r.meta, r.child.id, r.promotable, [r.child.class]);
      // Even with clone-max=0 there is an instance :0 (an orphan) for history to go to.
      for (let i = 0; i < Math.max(info.max, 1); i++) {
        out.push({ def: { ...r.child, id: `${r.child.id}:${i}` }, groupMeta: r.meta, cloneId: r.id, clone: info, cloneMeta: r.meta, orphan: i >= info.max });
      }
    } else if (r.kind === 'clone' && r.child.kind === 'group') {
      // Instances grp:0 .. grp:N-1, each with members member:N; meta attributes pass clone -> group -> member.
      const g = r.child;
      const info = { ...cloneInfo(config, r.meta, g.id, r.promotable, g.children.map((c) => c.class)), members: g.children.map((c) => c.id) };
      for (let i = 0; i < info.max; i++) {
        for (const c of g.children) {
          out.push({ def: { ...c, id: `${c.id}:${i}` }, groupId: `${g.id}:${i}`, groupMeta: { ...r.meta, ...g.meta }, cloneId: r.id, clone: info, cloneMeta: r.meta });
        }
      }
    }
  }
  return out;
}

/** Agent standards whose resources can only be anonymous clones (no globally-unique support). */
const ANONYMOUS_ONLY_CLASSES = new Set(['lsb', 'service', 'systemd', 'upstart', 'nagios']);

function cloneInfo(config: CibConfig, meta: Readonly<Record<string, string>>, childId: string, promotable: boolean,
  classes: readonly string[]): CloneInfo {
  const int = (v: string | undefined, d: number): number => {
    const n = v === undefined ? NaN : parseInt(v, 10);
    return Number.isFinite(n) && n >= 0 ? n : d;
  };
  let max = int(meta['clone-max'] ?? meta['clone_max'], config.nodes.length);
  let nodeMax = int(meta['clone-node-max'] ?? meta['clone_node_max'], 1);
  let unique = isTrue(meta['globally-unique'] ?? 'false');
  if (unique && classes.some((c) => ANONYMOUS_ONLY_CLASSES.has(c.toLowerCase()))) {
    // globally-unique is ignored for such agents, one instance per node at most (pe__force_anon).
    unique = false;
    nodeMax = 1;
    max = Math.min(max, config.nodes.length);
  }
  return {
    childId, max, nodeMax,
    unique, interleave: isTrue(meta['interleave'] ?? 'false'),
    min: int(meta['clone-min'] ?? meta['clone_min'], 0),
    ordered: isTrue(meta['ordered'] ?? 'false'),
    targetRole: meta['target-role'], promotable, notify: isTrue(meta['notify'] ?? 'false'),
    promotedMax: int(meta['promoted-max'] ?? meta['master-max'] ?? meta['master_max'], 1),
    promotedNodeMax: int(meta['promoted-node-max'] ?? meta['master-node-max'] ?? meta['master_node_max'], 1),
  };
}

/** The instance an operation history belongs to: unique clones by name, anonymous ones by what is free. */
function cloneInstanceFor(ws: WorkingSet, node: NodeInfo, rscId: string): Rsc | undefined {
  const base = rscId.replace(/:\d+$/, '');
  const clone = ws.clones.find((c) => c.clone!.childId === base || c.clone!.members?.includes(base));
  if (!clone) return undefined;
  if (clone.clone!.unique) return clone.children.find((c) => c.id === rscId);
  if (clone.instances) return groupInstanceMember(clone, node, base) ?? anonymousGroupOrphan(ws, clone, base);
  // Pacemaker's find_anonymous_clone: the instance already located (running or pending) on this
  // node, else the first one located nowhere (whatever the history says); a second history on a
  // node where an instance already runs belongs to a new orphan instance.
  let found: Rsc | undefined;
  let inactive: Rsc | undefined;
  let skipInactive = false;
  for (const c of clone.children) {
    const where = c.runningOn[0] ?? c.pendingNode;
    if (where) {
      if (where !== node) continue;
      // Already active here under another history entry: this one is an orphan.
      if (c.runningOn.length > 0) skipInactive = true;
      else { found = c; break; }
    } else if (!skipInactive && !inactive && !c.blocked) {
      inactive = c;
    }
  }
  if (!found && !skipInactive) found = inactive;
  // Without fencing, an instance on an unclean or offline node does not use up a number.
  if (found && found.requires !== 'fencing' && found.requires !== 'unfencing' && (!node.online || node.unclean) &&
    clone.clone!.max !== ws.nodes.length) found = undefined;
  return found ?? anonymousOrphan(ws, clone);
}

/** A new instance beyond clone-max for history no configured instance can take (stopped wherever it runs). */
function anonymousOrphan(ws: WorkingSet, clone: GroupRsc): Rsc {
  const first = clone.children[0]!;
  const def = { ...first.def, id: `${clone.clone!.childId}:${clone.children.length}` };
  const cloneDef = ws.config.resources.find((r) => r.id === clone.id);
  const rsc = makeRsc(ws.config, def, first.index, true, cloneDef?.meta, true, clone.clone!.promotable);
  rsc.cloneOf = clone;
  const last = clone.children[clone.children.length - 1]!;
  clone.children.push(rsc);
  // It follows its siblings, so the clone's actions still come after all of them.
  (ws.rscs as Rsc[]).splice(ws.rscs.indexOf(last) + 1, 0, rsc);
  return rsc;
}

/**
 * A new group instance beyond clone-max for a cloned group's history no instance can take:
 * every member is an orphan (stopped wherever it runs); returns the member the history is for.
 */
function anonymousGroupOrphan(ws: WorkingSet, clone: GroupRsc, base: string): Rsc | undefined {
  const instances = clone.instances!;
  const first = instances[0];
  if (!first) return undefined;
  const n = instances.length;
  const cloneDef = ws.config.resources.find((r) => r.id === clone.id);
  const groupDef = cloneDef?.kind === 'clone' && cloneDef.child.kind === 'group' ? cloneDef.child : undefined;
  const inst: GroupRsc = { id: `${clone.clone!.childId}:${n}`, priority: first.priority, index: first.index, children: [], actions: [], allowed: new Map(), cloneOf: clone };
  const last = clone.children[clone.children.length - 1]!;
  let at = ws.rscs.indexOf(last) + 1;
  for (const m of first.children) {
    const def = { ...m.def, id: `${m.id.replace(/:\d+$/, '')}:${n}` };
    const rsc = makeRsc(ws.config, def, m.index, true, { ...(cloneDef?.meta ?? {}), ...(groupDef?.meta ?? {}) }, true, clone.clone!.promotable);
    rsc.cloneOf = clone;
    rsc.group = inst;
    inst.children.push(rsc);
    clone.children.push(rsc);
    (ws.rscs as Rsc[]).splice(at++, 0, rsc);
  }
  instances.push(inst);
  (ws.groups as GroupRsc[]).push(inst);
  return inst.children.find((c) => c.id.replace(/:\d+$/, '') === base);
}

function makeRsc(config: CibConfig, def: PrimitiveDef, index: number, orphan: boolean, groupMeta?: Readonly<Record<string, string>>, inClone = false,
  promotable = false): Rsc {
  // A member's own meta attributes win over its group's, which win over rsc_defaults.
  const meta = flattenSets(config.rscDefaults, { ...(groupMeta ?? {}), ...def.meta });
  const opts = config.options;
  // Clone instances stick to where they run unless told otherwise.
  const stick = parseScore(meta['resource-stickiness'] ?? meta['resource_stickiness']) ?? (inClone && opts.raw['default-resource-stickiness'] === undefined ? 1 : opts.defaultStickiness);
  const mt = meta['migration-threshold'] ?? opts.defaultMigrationThreshold;
  const managedDefault = opts.raw['is-managed-default'] === undefined ? true : isTrue(opts.raw['is-managed-default']);
  // A resource in maintenance is left alone, and its recurring monitors are cancelled.
  const maintenance = meta['maintenance'] !== undefined && isTrue(meta['maintenance']);
  const managed = (meta['is-managed'] === undefined ? managedDefault : isTrue(meta['is-managed'])) && !opts.maintenanceMode && !maintenance;
  const tr = meta['target-role'];
  let targetRole: Role | undefined;
  if (tr !== undefined && !/^(started|default)$/i.test(tr)) {
    const t = tr.toLowerCase();
    // Unpromoted/Promoted only mean something inside a promotable clone.
    if (t === 'stopped') targetRole = 'Stopped';
    // Promoted is what a promotable instance may become anyway: no limit.
    else if (promotable && (t === 'unpromoted' || t === 'slave')) targetRole = 'Unpromoted';
  }
  return {
    def, id: def.id, index, priority: parseScore(meta['priority']) ?? 0, stickiness: stick,
    migrationThreshold: mt === undefined ? INFINITY : (parseScore(mt) ?? INFINITY),
    failureTimeoutMs: parseDurationMs(meta['failure-timeout']) ?? 0,
    isStonith: def.class === 'stonith',
    requires: meta['requires'] ?? (def.class === 'stonith' ? 'quorum' : opts.stonithEnabled ? 'fencing' : 'quorum'),
    multipleActive: meta['multiple-active'] ?? 'stop_start', targetRole, orphan,
    ops: def.ops, managed, role: 'Stopped', nextRole: 'Unknown', runningOn: [], knownOn: new Set(), failed: false,
    stopNeeded: false, blocked: false, failureIgnored: false, startPending: false, allowed: new Map(), provisional: true,
    assigning: false, merging: false, actions: [], failedOps: [], notInstalledOn: new Set(), bans: [], scoreLog: [], history: new Map(), reschedule: new Set(),
    maintenance,
  };
}

function nodeAttrs(config: CibConfig, id: string, uname: string, sets: CibConfig['nodes'][number]['attrSets'] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  m.set('#uname', uname);
  m.set('#id', id);
  m.set('#kind', 'cluster');
  for (const [k, v] of Object.entries(flattenSets(sets ?? []))) m.set(k, v);
  if (config.dcUuid !== undefined) m.set('#is_dc', config.dcUuid === id ? 'true' : 'false');
  return m;
}

function determineOnline(ws: WorkingSet, node: NodeInfo, ns: NodeStateRecord): void {
  const shutdown = node.attrs.get('shutdown');
  node.shutdown = shutdown !== undefined && shutdown !== '0';
  node.expectedUp = !node.shutdown && ns.expected === 'member';
  const inCcm = ns.inCcm === undefined ? undefined : (isTrue(ns.inCcm) || /^[1-9]\d*$/.test(ns.inCcm));
  const crmdOnline = ns.crmd === 'online' || (ns.crmd !== undefined && /^[1-9]\d*$/.test(ns.crmd));
  let online = false;
  if (!ws.config.options.stonithEnabled) {
    if (!inCcm) {
      online = false;
    } else if (crmdOnline) {
      online = ns.join === 'member';
    } else if (node.expectedUp) {
      fenceNode(ws, node, 'peer is unexpectedly down');
    }
  } else {
    const term = node.attrs.get('terminate');
    const doTerminate = term !== undefined && (isTrue(term) || /^[1-9]/.test(term));
    online = inCcm === true;
    const exp = ns.expected ?? 'down';
    if (node.shutdown) {
      online = crmdOnline;
    } else if (ns.inCcm === undefined) {
      fenceNode(ws, node, 'peer has not been seen by the cluster');
    } else if (ns.join === 'banned') {
      // Pacemaker's CRMD_JOINSTATE_NACK
      fenceNode(ws, node, 'peer failed Pacemaker membership criteria');
    } else if (!doTerminate && exp === 'down') {
      if (inCcm || crmdOnline) {
        node.standby = true;
        node.pending = true;
      }
    } else if (doTerminate && ns.join === 'down' && !inCcm && !crmdOnline) {
      online = false;
    } else if (!inCcm) {
      fenceNode(ws, node, 'peer is no longer part of the cluster');
    } else if (!crmdOnline) {
      fenceNode(ws, node, 'peer process is no longer available');
    } else if (doTerminate) {
      fenceNode(ws, node, 'termination was requested');
    } else if (ns.join === 'member') {
      // active
    } else if (ns.join === 'pending' || ns.join === 'down') {
      node.standby = true;
      node.pending = true;
    } else {
      fenceNode(ws, node, 'peer was in an unknown state');
    }
  }
  node.online = online;
}

export function fenceNode(ws: WorkingSet, node: NodeInfo, reason: string): void {
  if (node.unclean) return;
  node.unclean = true;
  node.fenceReason = reason;
  // Pacemaker creates the (optional) fence action right away, so the first reason sticks.
  fenceOp(ws, node, true, reason);
}

function sortOps(ops: OpRecord[]): OpRecord[] {
  return ops.map((o, i) => ({ o, i })).sort((a, b) => {
    const ca = a.o.callId, cb = b.o.callId;
    if (ca >= 0 && cb >= 0 && ca !== cb) return ca - cb;
    if (ca < 0 && cb >= 0) return 1;
    if (cb < 0 && ca >= 0) return -1;
    const la = a.o.lastRcChange ?? 0, lb = b.o.lastRcChange ?? 0;
    if (la !== lb) return la - lb;
    return a.i - b.i;
  }).map((x) => x.o);
}

/** Sum of fail counts for a resource on a node, and the latest failure time. */
export function failCount(ws: WorkingSet, rsc: Rsc, node: NodeInfo, effective: boolean): number {
  let count = 0;
  let last = 0;
  // Pacemaker reads "fail-count-RSC" in CIBs older than feature set 3.0.13 (or without one), and
  // only "fail-count-RSC#OP_INTERVAL" in newer ones.
  const legacy = olderFeatureSet(ws.config.featureSet, '3.0.13', true);
  // An anonymous clone instance counts the failures recorded under any instance number.
  const anonymous = rsc.cloneOf !== undefined && !rsc.cloneOf.clone!.unique && !rsc.orphan;
  const base = anonymous ? rsc.id.replace(/:\d+$/, '') : rsc.id;
  for (const [name, value] of node.attrs) {
    const m = /^(fail-count|last-failure)-(.+?)(#.+_\d+)?$/.exec(name);
    if (!m || (m[3] === undefined) !== legacy) continue;
    if (m[2] !== rsc.id && !(anonymous && m[2].replace(/:\d+$/, '') === base)) continue;
    const v = parseScore(value) ?? 0;
    if (m[1] === 'fail-count') count = Math.min(INFINITY, count + v);
    else last = Math.max(last, v);
  }
  if (effective && count > 0 && rsc.failureTimeoutMs > 0 && last > 0) {
    // A failure handled by on-fail=block never expires.
    const blocking = (rsc.history.get(node.id) ?? []).some((op) => op.expectedRc >= 0 && op.rc !== op.expectedRc &&
      !(isProbe(op) && op.rc === 7) && onFailFor(ws, rsc, op.task, op.intervalMs) === 'block');
    if (!blocking && ws.now >= last + rsc.failureTimeoutMs / 1000) count = 0;
  }
  return count;
}

/** The configured on-fail for an operation, with Pacemaker's defaults. */
export function onFailFor(ws: WorkingSet, rsc: Rsc, task: string, intervalMs: number): OnFail {
  const opDefaults = flattenSets(ws.config.opDefaults);
  const conf = rsc.ops.find((o) => o.name === task && o.intervalMs === intervalMs);
  let value = conf?.onFail ?? opDefaults['on-fail'];
  if (value !== undefined) value = value.toLowerCase();
  switch (value) {
    case 'block': return 'block';
    case 'fence': return ws.config.options.stonithEnabled ? 'fence' : 'stop';
    case 'standby': return 'standby';
    case 'ignore': return 'ignore';
    case 'stop': return 'stop';
    case 'demote': return 'demote';
    case 'restart': return 'restart';
    default: break;
  }
  if (task === 'stop') return ws.config.options.stonithEnabled ? 'fence' : 'block';
  return 'restart';
}

function setActive(rsc: Rsc): void {
  rsc.role = 'Started';
}

interface NodeReplay {
  onFail: OnFail;
  expiredMonitors: OpRecord[];
  lastFailure?: OpRecord;
}

function isProbe(op: OpRecord): boolean {
  return op.task === 'monitor' && op.intervalMs === 0;
}

function expired(ws: WorkingSet, rsc: Rsc, node: NodeInfo, op: OpRecord): boolean {
  const exp = failureExpired(ws, rsc, node, op);
  if (!exp && op.id.includes('last_failure') && (op.task === 'start' || op.task === 'monitor')) {
    // A failure under parameters that have changed since is not held against the new definition.
    const r = compareDigests(digestInput(ws, rsc, op.task, op.intervalMs), op);
    if (r === 'restart' || r === 'all') clearFailCount(ws, rsc, node, 'resource parameters have changed');
  }
  return exp;
}

function failureExpired(ws: WorkingSet, rsc: Rsc, node: NodeInfo, op: OpRecord): boolean {
  if (rsc.failureTimeoutMs <= 0 || op.lastRcChange === undefined) return false;
  let exp = ws.now >= op.lastRcChange + rsc.failureTimeoutMs / 1000;
  if (exp && failCount(ws, rsc, node, false) > 0) {
    if (failCount(ws, rsc, node, true) > 0) exp = false;
    else {
      const c = customAction(ws, rsc, 'clear_failcount', node, false, { key: `${rsc.id}_clear_failcount_0`, label: 'clear_failcount' });
      c.expectedRc = 0;
    }
  }
  if (exp && isProbe(op) && [0, 7, 8, 190, 191].includes(op.rc)) exp = false;
  return exp;
}

function updateState(ws: WorkingSet, rsc: Rsc, node: NodeInfo, op: OpRecord, rc: number, st: NodeReplay): void {
  let clearPast = false;
  if (rc === 7 && op.task === 'monitor') {
    rsc.role = 'Stopped';
    clearPast = true;
  } else if (op.task === 'start') {
    rsc.role = 'Started';
    clearPast = true;
  } else if (op.task === 'stop') {
    rsc.role = 'Stopped';
    clearPast = true;
  } else if (op.task === 'promote') {
    rsc.role = 'Promoted';
    clearPast = true;
  } else if (op.task === 'demote') {
    if (st.onFail === 'demote') clearPast = true;
    rsc.role = 'Unpromoted';
  } else if (op.task === 'migrate_from') {
    rsc.role = 'Started';
    clearPast = true;
  } else if (op.task === 'monitor' || op.task === 'migrate_to') {
    // A monitor that succeeds again after it failed clears the failure's handling.
    const lf = st.lastFailure;
    if (op.task === 'monitor' && lf && lf.task === op.task && lf.intervalMs === op.intervalMs) clearPast = true;
    if (roleRank(rsc.role) < roleRank('Started')) setActive(rsc);
    if (rc === 8) rsc.role = 'Promoted';
  }
  if (clearPast) {
    switch (st.onFail) {
      case 'block': case 'ignore': case 'restart': case 'demote':
        st.onFail = 'ignore';
        rsc.nextRole = 'Unknown';
        break;
      case 'stop': case 'migrate': case 'standby': case 'fence': break;
    }
  }
  void ws; void node;
}

/** A hard failure's ban: on an anonymous clone's instance it bans the clone as a whole (Pacemaker's uber_parent). */
function banTop(rsc: Rsc, ban: { nodeId?: string; score: number; why: string }): void {
  if (rsc.cloneOf && !rsc.cloneOf.clone!.unique) (rsc.cloneOf.bans ??= []).push(ban);
  else rsc.bans.push(ban);
}

function unpackFailure(ws: WorkingSet, rsc: Rsc, node: NodeInfo, op: OpRecord, rc: number, st: NodeReplay): void {
  st.lastFailure = op;
  rsc.failedOps.push({ node, op });
  const onFail = onFailFor(ws, rsc, op.task, op.intervalMs);
  st.onFail = worseOnFail(st.onFail, onFail);
  if (op.task === 'stop') rsc.bans.push({ nodeId: node.id, score: -INFINITY, why: `stop failed on ${node.uname}` });
  else if (op.task === 'promote') rsc.role = 'Promoted';
  else if (op.task === 'demote') rsc.role = onFail === 'block' ? 'Promoted' : rc === 7 ? 'Stopped' : 'Unpromoted';
  if (isProbe(op) && rc === 5) {
    rsc.role = 'Stopped';
  } else if (roleRank(rsc.role) < roleRank('Started')) {
    setActive(rsc);
  }
  if (onFail === 'stop') {
    rsc.nextRole = 'Stopped';
    for (const n of ws.nodes) rsc.bans.push({ nodeId: n.id, score: -INFINITY, why: `${op.task} failed with on-fail=stop` });
  }
}

function unpackOp(ws: WorkingSet, rsc: Rsc, node: NodeInfo, op: OpRecord, st: NodeReplay): void {
  if (op.task === 'notify' || op.task === 'meta-data') return;
  let status = op.opStatus;
  // Degraded results count as success for state (190 is "ok", 191 "promoted").
  let rc = op.rc === 190 ? 0 : op.rc === 191 ? 8 : op.rc;
  const probe = isProbe(op);
  const isExpired = expired(ws, rsc, node, op);
  if (isExpired && status !== EXEC_PENDING && (rc !== op.expectedRc || (status !== EXEC_DONE && status !== EXEC_ERROR))) {
    // An expired failure is forgotten; a recurring monitor is started again.
    if (op.intervalMs > 0 && op.task === 'monitor') st.expiredMonitors.push(op);
    return;
  }
  if (status !== EXEC_PENDING || op.task !== 'monitor') rsc.knownOn.add(node.id);
  // A probe that found the agent missing counts as "not running", but bans the node.
  if (probe && (status === EXEC_NOT_INSTALLED || (status !== EXEC_PENDING && rc === 5))) {
    rsc.notInstalledOn.add(node.id);
    banTop(rsc, { nodeId: node.id, score: -INFINITY, why: `probe found the agent not installed on ${node.uname}` });
    status = EXEC_DONE;
    rc = 7;
  }
  if (status === EXEC_DONE || status === EXEC_ERROR) {
    status = op.expectedRc >= 0 && rc !== op.expectedRc ? EXEC_ERROR : EXEC_DONE;
    switch (rc) {
      case 0:
        if (probe && op.expectedRc === 7) status = EXEC_DONE;
        break;
      case 7:
        if (probe || op.expectedRc === rc || !rsc.managed) {
          status = EXEC_DONE;
          rsc.role = 'Stopped';
          st.onFail = 'ignore';
          rsc.nextRole = 'Unknown';
        }
        break;
      case 8:
        if (probe && rc !== op.expectedRc) status = EXEC_DONE;
        rsc.role = 'Promoted';
        break;
      case 9:
        rsc.role = 'Promoted';
        status = EXEC_ERROR;
        break;
      case 6:
        status = EXEC_ERROR_FATAL;
        break;
      case 3:
        status = op.intervalMs === 0 ? EXEC_ERROR_HARD : 3;
        break;
      case 5: case 2: case 4:
        status = EXEC_ERROR_HARD;
        break;
      default:
        if (status === EXEC_DONE) status = EXEC_ERROR;
        break;
    }
  }
  if (isExpired && status !== EXEC_DONE && status !== EXEC_PENDING) {
    // An expired failure is forgotten; a recurring monitor is started again.
    if (op.intervalMs > 0 && op.task === 'monitor') st.expiredMonitors.push(op);
    return;
  }
  switch (status) {
    case EXEC_PENDING:
      // Pending probes are not remembered; other pending operations tie the resource to the node.
      if (rsc.pendingTask === undefined && (op.intervalMs !== 0 || op.task !== 'monitor')) {
        rsc.pendingTask = op.task;
        rsc.pendingNode = node;
      }
      if (op.task === 'start') {
        rsc.startPending = true;
        setActive(rsc);
      } else if (op.task === 'promote') {
        rsc.role = 'Promoted';
      }
      break;
    case EXEC_DONE:
      updateState(ws, rsc, node, op, rc, st);
      break;
    case EXEC_NOT_INSTALLED: {
      // The agent is missing: failures cannot be ignored, and the node is out.
      if (onFailFor(ws, rsc, op.task, op.intervalMs) === 'ignore') st.onFail = worseOnFail(st.onFail, 'migrate');
      banTop(rsc, { nodeId: node.id, score: -INFINITY, why: `agent not installed on ${node.uname}` });
      unpackFailure(ws, rsc, node, op, rc, st);
      break;
    }
    default: {
      const onFail = onFailFor(ws, rsc, op.task, op.intervalMs);
      if (onFail === 'ignore') {
        updateState(ws, rsc, node, op, op.expectedRc >= 0 ? op.expectedRc : 0, st);
        rsc.failureIgnored = true;
        rsc.failedOps.push({ node, op });
      } else {
        unpackFailure(ws, rsc, node, op, rc, st);
        if (status === EXEC_ERROR_HARD) banTop(rsc, { nodeId: node.id, score: -INFINITY, why: `hard error (rc ${op.rc}) from ${op.id}` });
        else if (status === EXEC_ERROR_FATAL) banTop(rsc, { score: -INFINITY, why: `fatal error (rc ${op.rc}) from ${op.id}` });
      }
    }
  }
}

export function activeOpIndexes(ops: OpRecord[]): { start: number; stop: number } {
  let start = -1, stop = -1, impliedMonitor = -1, impliedClone = -1;
  ops.forEach((op, i) => {
    if (op.task === 'stop' && op.opStatus === 0) stop = i;
    else if (op.task === 'start' || op.task === 'migrate_from') start = i;
    else if (impliedMonitor <= stop && op.task === 'monitor') {
      if (op.rc === 0 || op.rc === 8) impliedMonitor = i;
    } else if (op.task === 'promote' || op.task === 'demote') impliedClone = i;
  });
  if (start === -1) start = impliedClone !== -1 ? impliedClone : impliedMonitor;
  return { start, stop };
}

/** The recurring operations still active on a node after a resource's history. */
export function activeRecurring(ops: OpRecord[]): OpRecord[] {
  const { start, stop } = activeOpIndexes(ops);
  const out: OpRecord[] = [];
  ops.forEach((op, i) => {
    if (start < stop && i <= stop) return;
    if (i < start) return;
    if (op.intervalMs === 0 || op.opStatus === -1) return;
    out.push(op);
  });
  return out;
}

function unpackHistory(ws: WorkingSet, node: NodeInfo, h: ResourceHistory, byId: Map<string, Rsc>, orphanIndex: { n: number }): void {
  let rsc = byId.get(h.rscId);
  if (rsc?.cloneOf && !rsc.cloneOf.clone!.unique) rsc = undefined;
  rsc ??= cloneInstanceFor(ws, node, h.rscId);
  if (rsc?.cloneOf && !rsc.cloneOf.clone!.unique) {
    // The name of the last history entry recorded under another name than the instance's.
    const lower = h.rscId.toLowerCase();
    if (lower !== rsc.id.toLowerCase() && lower !== rsc.cloneName?.toLowerCase()) rsc.cloneName = h.rscId;
  }
  if (!rsc) {
    // An orphan: history for a resource no longer configured.
    const def: PrimitiveDef = {
      kind: 'primitive', id: h.rscId, class: h.class ?? '', provider: h.provider, type: h.type ?? '',
      meta: {}, metaSets: [], params: {}, ops: [], utilization: {},
    };
    rsc = makeRsc(ws.config, def, 100000 + orphanIndex.n++, true);
    rsc.managed = rsc.managed && ws.config.options.stopOrphanResources;
    byId.set(rsc.id, rsc);
    ws.rscs.push(rsc);
  }
  const ops = sortOps(h.ops);
  rsc.history.set(node.id, ops);
  (rsc.historyAgent ??= new Map()).set(node.id, `${h.class ?? ''}:${h.provider ?? ''}:${h.type ?? ''}`);
  (rsc.historyName ??= new Map()).set(node.id, h.rscId);
  const saved = rsc.role;
  rsc.role = 'Unknown';
  const st: NodeReplay = { onFail: 'ignore', expiredMonitors: [] };
  const wasNotInstalled = rsc.notInstalledOn.has(node.id);
  for (const op of ops) unpackOp(ws, rsc, node, op, st);
  if (!wasNotInstalled && rsc.notInstalledOn.has(node.id)) (rsc.notInstalledAs ??= new Map()).set(node.id, h.rscId);
  if (node.online) {
    for (const op of activeRecurring(ops)) {
      // Only a failure of a monitor that is still active gets it started again.
      if (st.expiredMonitors.includes(op)) rsc.reschedule.add(`${node.id}:${opKey(rsc.id, op.task, op.intervalMs)}`);
      const configured = rsc.ops.some((o) => o.name === op.task && o.intervalMs === op.intervalMs && o.enabled);
      if ((node.maintenance || rsc.maintenance || (!configured && ws.config.options.stopOrphanActions)) && !rsc.orphan) {
        const c = customAction(ws, rsc, 'cancel', node, false, { intervalMs: op.intervalMs, key: `cancel-${opKey(rsc.id, op.task, op.intervalMs)}`, label: `cancel=${op.intervalMs}` });
        c.expectedRc = 0;
      }
      const active = customAction(ws, rsc, op.task, node, true, { intervalMs: op.intervalMs });
      // A stopped-role monitor expects "not running".
      if (rsc.ops.some((o) => o.name === op.task && o.intervalMs === op.intervalMs && o.role === 'Stopped')) active.expectedRc = 7;
    }
  }
  processState(ws, rsc, node, st.onFail);
  if (rsc.targetRole !== undefined && (rsc.nextRole === 'Unknown' || roleRank(rsc.targetRole) < roleRank(rsc.nextRole))) {
    rsc.nextRole = rsc.targetRole;
  }
  if (roleRank(saved) > roleRank(rsc.role)) rsc.role = saved;
}

function processState(ws: WorkingSet, rsc: Rsc, node: NodeInfo, onFail0: OnFail): void {
  let onFail = onFail0;
  if (rsc.role === 'Unknown') rsc.role = 'Stopped';
  if (rsc.role !== 'Stopped' && !node.online && !node.maintenance && rsc.managed) {
    fenceNode(ws, node, `${rsc.id} is thought to be active on ${node.uname}`);
  }
  const saveOnFail = onFail;
  if (node.unclean) onFail = 'ignore';
  switch (onFail) {
    case 'ignore': break;
    case 'demote': rsc.failed = true; break;
    case 'fence': fenceNode(ws, node, `${rsc.id} failed there`); break;
    case 'standby': node.standby = true; node.standbyOnFail = true; break;
    case 'block': rsc.managed = false; rsc.blocked = true; break;
    case 'migrate': rsc.bans.push({ nodeId: node.id, score: -INFINITY, why: 'failure forces a move' }); break;
    case 'stop': rsc.nextRole = 'Stopped'; break;
    case 'restart':
      if (rsc.role !== 'Stopped') {
        rsc.failed = true;
        rsc.stopNeeded = true;
        customAction(ws, rsc, 'stop', node, true);
      }
      break;
  }
  if (rsc.role === 'Stopped' && rsc.cloneName?.includes(':')) {
    // A numbered instance name from an old status section is forgotten once stopped there.
    rsc.cloneName = undefined;
  }
  if (rsc.role !== 'Stopped') {
    addRunning(ws, rsc, node);
    if (onFail !== 'ignore') {
      rsc.failed = true;
      if (onFail !== 'demote' && onFail !== 'block') rsc.stopNeeded = true;
    }
  }
  void saveOnFail;
}

function addRunning(ws: WorkingSet, rsc: Rsc, node: NodeInfo): void {
  if (rsc.runningOn.includes(node)) return;
  rsc.runningOn.push(node);
  if (node.maintenance) rsc.managed = false;
  if (!rsc.managed) {
    // An unmanaged resource stays where it is active (Pacemaker's not_managed_default location).
    rsc.bans.push({ nodeId: node.id, score: INFINITY, why: 'unmanaged, pinned where it is active' });
    return;
  }
  if (rsc.runningOn.length > 1) {
    if (rsc.multipleActive === 'stop_only') {
      for (const n of ws.nodes) rsc.bans.push({ nodeId: n.id, score: -INFINITY, why: 'active on several nodes (multiple-active=stop_only)' });
    } else if (rsc.multipleActive === 'block') {
      // Blocking a group member blocks the whole group.
      for (const r of rsc.group ? rsc.group.children : [rsc]) {
        r.managed = false;
        r.blocked = true;
      }
    }
  }
}

export interface UnpackOptions {
  /** Epoch seconds used when the CIB has no execution-date. */
  readonly now: number;
}

export function unpack(config: CibConfig, states: NodeStateRecord[], opts: UnpackOptions): WorkingSet {
  const prims = primitivesOf(config);
  const rscs = prims.map((p, i) => makeRsc(config, p.def, i, p.orphan === true, p.groupMeta, p.cloneId !== undefined, p.clone?.promotable));
  const groups: GroupRsc[] = [];
  prims.forEach((p, i) => {
    if (!p.groupId) return;
    let g = groups.find((x) => x.id === p.groupId);
    if (!g) {
      g = { id: p.groupId, priority: parseScore(p.groupMeta?.['priority']) ?? 0, index: i, children: [], actions: [], allowed: new Map() };
      groups.push(g);
    }
    g.children.push(rscs[i]!);
    rscs[i]!.group = g;
  });
  const clones: GroupRsc[] = [];
  prims.forEach((p, i) => {
    if (!p.cloneId) return;
    let c = clones.find((x) => x.id === p.cloneId);
    if (!c) {
      c = { id: p.cloneId, priority: parseScore(p.cloneMeta?.['priority']) ?? 0, index: i, children: [], actions: [], allowed: new Map(), clone: p.clone };
      clones.push(c);
    }
    c.children.push(rscs[i]!);
    rscs[i]!.cloneOf = c;
    const g = rscs[i]!.group;
    if (g) {
      g.cloneOf = c;
      c.instances ??= [];
      if (!c.instances.includes(g)) c.instances.push(g);
    }
  });
  const nodes: NodeInfo[] = config.nodes.map((n, index) => ({
    id: n.id, uname: n.uname, index, attrs: nodeAttrs(config, n.id, n.uname, n.attrSets), baseScore: n.score,
    online: false, unclean: false, shutdown: false, standby: false, standbyOnFail: false, pending: false,
    maintenance: false, expectedUp: false, seen: false, numResources: 0,
  }));
  const ws: WorkingSet = {
    config, now: config.executionDate ?? opts.now, nodes, rscs, groups, clones, haveQuorum: config.haveQuorum, actions: [], orderings: [],
    nextActionId: 1, haveStonithResource: rscs.some((r) => r.isStonith), warnings: [...config.warnings], onFailCache: new Map(),
  };
  const startupFencing = config.options.raw['startup-fencing'] === undefined ? true : isTrue(config.options.raw['startup-fencing']);
  const byNodeId = new Map(nodes.map((n) => [n.id, n]));
  const seenStates: [NodeInfo, NodeStateRecord][] = [];
  for (const ns of states) {
    const node = byNodeId.get(ns.id);
    if (!node || ns.uname === undefined && false) continue;
    if (node.seen) continue;
    node.seen = true;
    for (const [k, v] of Object.entries(ns.transientAttrs)) node.attrs.set(k, v);
    if (isTrue(node.attrs.get('standby'))) node.standby = true;
    if (isTrue(node.attrs.get('maintenance'))) node.maintenance = true;
    determineOnline(ws, node, ns);
    if (node.online && !ws.haveQuorum && effectiveNoQuorumPolicy(ws) === 'suicide') {
      fenceNode(ws, node, 'cluster does not have quorum');
    }
    seenStates.push([node, ns]);
  }
  for (const node of nodes) {
    if (!node.seen && config.options.stonithEnabled && startupFencing) fenceNode(ws, node, 'node is unclean');
  }
  nodes.sort((a, b) => naturalCompare(a.uname, b.uname));
  // Stable sort of top-level resources by priority, highest first, as unpack_resources does;
  // group members stay together, in their order, at their group's place.
  const topPriority = (r: Rsc): number => (r.cloneOf ? r.cloneOf.priority : r.group ? r.group.priority : r.priority);
  const topIndex = (r: Rsc): number => (r.cloneOf ? r.cloneOf.index : r.group ? r.group.index : r.index);
  rscs.sort((a, b) => topPriority(b) - topPriority(a) || topIndex(a) - topIndex(b) || a.index - b.index);
  const byId = new Map(rscs.map((r) => [r.id, r]));
  const orphanIndex = { n: 0 };
  // Node histories in document order; without fencing, offline nodes' histories are not used at all.
  for (const [node, ns] of seenStates) {
    if (!node.online && !config.options.stonithEnabled) continue;
    for (const h of ns.history) unpackHistory(ws, node, h, byId, orphanIndex);
  }
  for (const rsc of ws.rscs) {
    if (rsc.nextRole === 'Unknown' && rsc.targetRole !== undefined) rsc.nextRole = rsc.targetRole;
    if (rsc.orphan) rsc.nextRole = 'Stopped';
  }
  return ws;
}

export { opKey };

/** Pacemaker's node-name order: case-insensitive, digit runs compared as numbers. */
export function naturalCompare(a: string, b: string): number {
  const ra = a.toLowerCase().match(/\d+|\D+/g) ?? [], rb = b.toLowerCase().match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i]!, y = rb[i]!;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const d = parseInt(x, 10) - parseInt(y, 10);
      if (d !== 0) return d;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return ra.length - rb.length;
}
