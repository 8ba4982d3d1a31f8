// Clone notifications (meta notify=true): the clone's pre/post notify pseudo
// actions around its start, stop, promote and demote, and the per-instance
// "notify" operations the agent receives (Pacemaker's pcmk_sched_notif.c).
import type { NodeInfo } from '../status/model.js';
import { customAction, order, type Action, type GroupRsc, type Rsc, type WorkingSet } from '../working-set.js';

/** One notification round of a clone: pre- and post-notify pseudo actions for one task. */
export interface NotifyData {
  /** The clone-level task being notified about: start, stop, promote or demote. */
  readonly task: string;
  readonly pre?: Action;
  readonly preDone?: Action;
  readonly post?: Action;
  readonly postDone?: Action;
}

/** The primitives that receive notifications: every instance (every member of a group instance). */
export function notifyTargets(clone: GroupRsc): Rsc[] {
  return clone.children;
}

/** Whether any instance is active, starting or stopping (clone_update_pseudo_status). */
export function instanceActivity(clone: GroupRsc): { active: boolean; starting: boolean; stopping: boolean } {
  let active = false, starting = false, stopping = false;
  for (const r of notifyTargets(clone)) {
    if (r.runningOn.length > 0) active = true;
    for (const a of r.actions) {
      if (a.optional || (!a.pseudo && !a.runnable)) continue;
      if (a.task === 'stop') stopping = true;
      else if (a.task === 'start' && a.runnable) starting = true;
    }
  }
  return { active, starting, stopping };
}

function pseudo(ws: WorkingSet, clone: GroupRsc, type: string, of: Action, task: 'notify' | 'notified', optional: boolean): Action {
  const a = customAction(ws, undefined, task, undefined, optional, { group: clone, pseudo: true, key: `${clone.id}_${type}_notify_${of.task}_0` });
  a.optional = optional;
  return a;
}

/**
 * Creates the pseudo actions that wrap a clone action with notifications:
 * pre-notify -> confirmed-pre -> action, and complete -> post-notify -> confirmed-post.
 * `optional` and `runnable` are what the clone's action and its completion are at creation.
 */
export function cloneNotifyPseudoOps(ws: WorkingSet, clone: GroupRsc, task: string,
  action: { a: Action; optional: boolean } | undefined, complete: { a: Action; optional: boolean; runnable: boolean } | undefined): NotifyData | undefined {
  if (!clone.clone?.notify) return undefined;
  let pre: Action | undefined, preDone: Action | undefined, post: Action | undefined, postDone: Action | undefined;
  if (action) {
    pre = pseudo(ws, clone, 'pre', action.a, 'notify', action.optional);
    preDone = pseudo(ws, clone, 'confirmed-pre', action.a, 'notified', action.optional);
    order(ws, pre, preDone, {});
    order(ws, preDone, action.a, {});
  }
  if (complete) {
    post = pseudo(ws, clone, 'post', complete.a, 'notify', complete.optional);
    post.runnable = complete.runnable;
    postDone = pseudo(ws, clone, 'confirmed-post', complete.a, 'notified', complete.optional);
    postDone.runnable = complete.runnable;
    order(ws, complete.a, post, { impliesThen: true });
    order(ws, post, postDone, { impliesThen: true });
  }
  if (preDone && post) order(ws, preDone, post, {});
  const data: NotifyData = { task, pre, preDone, post, postDone };
  (clone.notifications ??= []).push(data);
  return data;
}

/**
 * What an order "after" a clone's action waits for: with notifications, the
 * confirmation of the post-notifications (running -> confirmed-post_notify_running).
 */
export function notifiedCompletion(clone: GroupRsc, done: Action): Action {
  if (!clone.clone?.notify) return done;
  return clone.actions.find((a) => a.key === `${clone.id}_confirmed-post_notify_${done.task}_0`) ?? done;
}

/** The instance actions a notification round reports (non-optional, on a node, runnable or a stop on an unclean node). */
function collect(targets: Rsc[], task: string): Action[] {
  const out: Action[] = [];
  for (const r of targets) {
    for (const a of r.actions) {
      if (a.optional || !a.node || a.task !== task || a.intervalMs !== 0) continue;
      if (!(a.runnable || (task === 'stop' && a.node.unclean))) continue;
      out.push(a);
    }
  }
  return out;
}

function notifyAction(ws: WorkingSet, rsc: Rsc, node: NodeInfo, type: 'pre' | 'post', op: Action | undefined, done: Action | undefined, n: NotifyData): Action | undefined {
  if (!op || !done || !node.online || !op.runnable) return undefined;
  const a = customAction(ws, rsc, 'notify', node, op.optional, { key: `${rsc.id}_${type}_notify_${n.task}_0` });
  order(ws, op, a, {});
  order(ws, a, done, {});
  return a;
}

function postNotify(ws: WorkingSet, rsc: Rsc, node: NodeInfo, n: NotifyData): void {
  notifyAction(ws, rsc, node, 'post', n.post, n.postDone, n);
  if (!n.postDone) return;
  // Recurring monitors wait until every post-notification is confirmed.
  for (const mon of rsc.actions) {
    if (mon.intervalMs > 0 && mon.task !== 'cancel') order(ws, n.postDone, mon, {});
  }
}

/**
 * After the flags have settled: makes the round required when the instances do
 * the notified task, and creates each instance's notify operations.
 */
export function createNotifications(ws: WorkingSet): void {
  for (const clone of ws.clones) {
    for (const n of clone.notifications ?? []) expand(ws, clone, n);
  }
}

function expand(ws: WorkingSet, clone: GroupRsc, n: NotifyData): void {
  const targets = notifyTargets(clone);
  const doing = collect(targets, n.task);
  if (doing.length > 0) {
    for (const a of [n.pre, n.preDone, n.post, n.postDone]) if (a) a.optional = false;
  }
  // With nothing to start, promote or demote there is nothing to notify (a stop may be implied by fencing).
  if (doing.length === 0 && n.task !== 'stop') return;
  for (const rsc of targets) {
    const stop = [...rsc.actions].reverse().find((a) => a.task === 'stop');
    const start = [...rsc.actions].reverse().find((a) => a.task === 'start');
    if (rsc.role !== 'Stopped' && (n.task === 'stop' || n.task === 'demote')) {
      for (const node of rsc.runningOn) {
        // A stop implied by fencing is not notified to the node being fenced.
        if (stop && stop.pseudo && node.unclean) continue;
        notifyAction(ws, rsc, node, 'pre', n.pre, n.preDone, n);
        if (n.task === 'demote' || !stop || stop.optional) postNotify(ws, rsc, node, n);
      }
    }
    if (rsc.nextRole !== 'Stopped' && (n.task === 'start' || n.task === 'promote') && rsc.allocatedTo) {
      if (n.task !== 'start' || !start || start.optional) notifyAction(ws, rsc, rsc.allocatedTo, 'pre', n.pre, n.preDone, n);
      postNotify(ws, rsc, rsc.allocatedTo, n);
    }
  }
}
