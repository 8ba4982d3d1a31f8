// Orderings that involve clones, after Pacemaker's clone handling of orderings:
// - a clone's own start/running/stop/stopped actions summarize its instances'
//   (required when any instance's action is, runnable while any instance's is);
// - an order whose "then" is a clone also applies to each instance's action
//   (non-interleaved), or pairs each instance with the "first" clone's instance
//   on the same node (interleave=true); an instance with no partner may not run;
// - clone-min (or require-all=false) puts a "clone-one-or-more:ORDER" pseudo
//   action between the instances and the "then" action: it is runnable once
//   that many instances' actions are.
import type { NodeInfo } from '../status/model.js';
import { customAction, order, type Action, type GroupRsc, type Ordering, type Rsc, type WorkingSet } from '../working-set.js';

type OrderFlags = Partial<Omit<Ordering, 'first' | 'then'>>;

/** The instance task a clone-level task stands for ("running" is the instances' "start"). */
export function instanceTask(task: string): string {
  return task === 'running' ? 'start' : task === 'stopped' ? 'stop' : task === 'promoted' ? 'promote' : task === 'demoted' ? 'demote' : task;
}

function isClone(r: Rsc | GroupRsc | undefined): r is GroupRsc {
  return r !== undefined && 'children' in r && r.clone !== undefined;
}

/** An instance's first action for a task (Pacemaker's find_first_action without a node). */
function instanceAction(c: Rsc, task: string): Action | undefined {
  return c.actions.find((a) => a.task === task && a.intervalMs === 0);
}

/**
 * A clone's pseudo actions take their flags from the instances' actions:
 * required once any of those is required, unrunnable when none is runnable.
 * Returns whether anything changed.
 */
export function applyCloneSummaries(ws: WorkingSet): boolean {
  let changed = false;
  for (const cl of ws.clones) {
    for (const a of cl.actions) {
      if (!a.pseudo || a.rsc) continue;
      // A notification pseudo action summarises the instances' actions for the task it notifies about.
      const notified = a.task === 'notify' || a.task === 'notified' ? /_([a-z]+)_0$/.exec(a.key)?.[1] : undefined;
      const task = instanceTask(notified ?? a.task);
      if (task !== 'start' && task !== 'stop' && task !== 'promote' && task !== 'demote') continue;
      const kids = cl.children.map((c) => instanceAction(c, task)).filter((x): x is Action => x !== undefined);
      // An unmanaged instance's actions are optional in Pacemaker, so they make nothing required.
      if (a.optional && kids.some((k) => !k.optional && k.rsc?.managed !== false)) {
        a.optional = false;
        changed = true;
      }
      if (a.runnable && !kids.some((k) => k.runnable)) {
        a.runnable = false;
        changed = true;
      }
    }
  }
  return changed;
}

/** "running" can only happen when some instance is active or starting (Pacemaker creates it unrunnable otherwise). */
export function initCloneRunning(cl: GroupRsc, running: Action): void {
  const active = cl.children.some((c) => c.runningOn.length > 0);
  const starting = cl.children.some((c) => c.actions.some((a) => a.task === 'start' && !a.optional && a.runnable));
  if (!active && !starting) running.runnable = false;
}

/** Whether an order between two clones pairs their instances: the "then" clone's interleave, or the "first" one's for stops and demotes. */
function interleaved(f: Rsc | GroupRsc | undefined, t: GroupRsc, thenTask: string): f is GroupRsc {
  if (!isClone(f) || f === t) return false;
  const decider = thenTask === 'stop' || thenTask === 'demote' ? f : t;
  return decider.clone!.interleave;
}

function locationOf(r: Rsc, current: boolean): NodeInfo | undefined {
  if (current) return r.runningOn.length === 1 ? r.runningOn[0] : undefined;
  return r.allocatedTo;
}

/** The "first" clone's instance on the node of a "then" instance (or on its best allowed node when it has none). */
function compatibleInstance(ws: WorkingSet, thenChild: Rsc, first: GroupRsc, current: boolean): Rsc | undefined {
  const byNode = (node: NodeInfo): Rsc | undefined => first.children.find((c) => !c.blocked && locationOf(c, current) === node);
  const own = locationOf(thenChild, current);
  if (own) return byNode(own);
  const candidates = [...thenChild.allowed.entries()]
    .map(([id, w]) => ({ node: ws.nodes.find((n) => n.id === id)!, w }))
    .sort((a, b) => b.w - a.w || (a.node.uname < b.node.uname ? -1 : a.node.uname > b.node.uname ? 1 : 0));
  for (const { node } of candidates) {
    const match = byNode(node);
    if (match) return match;
  }
  return undefined;
}

/** An instance that cannot be paired may not be active: it stops, and its start cannot run. */
function inhibit(rsc: Rsc): void {
  if (rsc.allocatedTo) rsc.allocatedTo.numResources--;
  rsc.allocatedTo = undefined;
  rsc.nextRole = 'Stopped';
  rsc.nextRoleReason ??= 'unable to allocate';
  for (const a of rsc.actions) {
    if (a.task === 'stop') a.optional = false;
    else if (a.task === 'start') a.runnable = false;
    else if (a.intervalMs > 0 && a.expectedRc !== 7) a.runnable = false;
  }
}

/**
 * Orders "first" actions before a clone's own "then" actions, and applies the
 * order to the clone's instances (paired by node when interleaved).
 */
export function orderIntoClone(ws: WorkingSet, f: Rsc | GroupRsc | undefined, firsts: readonly Action[], t: GroupRsc,
  thenTask: string, flags: OrderFlags): void {
  const thens = t.actions.filter((a) => a.task === thenTask && a.intervalMs === 0);
  const pair = firsts.length > 0 && interleaved(f, t, thenTask);
  for (const a of firsts) for (const b of thens) order(ws, a, b, pair ? { ...flags, graphOnly: true } : flags);
  if (!pair) {
    // Non-interleaved: the whole clone follows the "first" action.
    for (const a of firsts) {
      for (const c of t.children) {
        const b = instanceAction(c, thenTask);
        if (b) order(ws, a, b, { ...flags, instanceOnly: true });
      }
    }
    return;
  }
  for (const a of firsts) {
    // A clone with notifications is done at its confirmed post-notification of the task.
    const notified = a.task === 'notify' || a.task === 'notified' ? /_notify_([a-z]+)_0$/.exec(a.key)?.[1] : undefined;
    const done = notified ?? a.task;
    const current = done === 'stopped' || done === 'demoted';
    const firstTask = instanceTask(done);
    for (const c of t.children) {
      const partner = compatibleInstance(ws, c, f, current);
      if (!partner) {
        if (!current && (flags.runnableLeft || flags.impliesThen)) inhibit(c);
        continue;
      }
      const fa = instanceAction(partner, firstTask);
      const ta = instanceAction(c, thenTask);
      if (fa && ta) order(ws, fa, ta, flags);
    }
  }
}

/**
 * An order after a clone with clone-min (or require-all=false): the "then"
 * actions wait for a pseudo action that needs `min` runnable instance actions.
 * Returns the pseudo action, which the caller orders before the "then" side.
 */
export function cloneMinPseudo(ws: WorkingSet, orderId: string, first: GroupRsc, firstTask: string, min: number): Action {
  const key = `clone-one-or-more:${orderId}`;
  const pseudo = customAction(ws, undefined, key, undefined, true, { key, pseudo: true });
  pseudo.requiresAny = true;
  pseudo.requiredRunnable = min;
  for (const c of first.children) {
    let acts = c.actions.filter((a) => a.task === firstTask && a.intervalMs === 0);
    if (acts.length === 0) {
      // As for any order, a missing "first" action is created without a node (so unrunnable).
      if ((firstTask === 'stop' && c.role === 'Stopped') || (firstTask === 'demote' && c.role !== 'Promoted')) continue;
      const made = customAction(ws, c, firstTask, undefined, true);
      acts = [made];
      // The instance's own stop-before-start applies to it too (a required stop makes it required).
      if (firstTask === 'start') {
        for (const stop of c.actions.filter((a) => a.task === 'stop')) order(ws, stop, made, { impliesThen: true, restart: true });
      }
    }
    for (const a of acts) order(ws, a, pseudo, { oneOrMore: true, impliesThenPrinted: true });
  }
  return pseudo;
}

/** clone-min of a "first" clone, or 1 for require-all=false; 0 when every instance counts. */
export function minimumFirstInstances(first: Rsc | GroupRsc | undefined, requireAll: boolean | undefined): number {
  if (!isClone(first)) return 0;
  if (first.clone!.min > 0) return first.clone!.min;
  return requireAll === false ? 1 : 0;
}

/** ordered=true: each instance starts after the one numbered before it and stops before it. */
export function orderInstancesInSequence(ws: WorkingSet, cl: GroupRsc): void {
  const byNumber = [...cl.children].sort((a, b) => a.index - b.index);
  const of = (r: Rsc, task: string): Action[] => r.actions.filter((a) => a.task === task && a.intervalMs === 0);
  for (let i = 1; i < byNumber.length; i++) {
    const prev = byNumber[i - 1]!, cur = byNumber[i]!;
    for (const a of of(prev, 'start')) for (const b of of(cur, 'start')) order(ws, a, b, {});
    for (const a of of(cur, 'stop')) for (const b of of(prev, 'stop')) order(ws, a, b, {});
  }
}
