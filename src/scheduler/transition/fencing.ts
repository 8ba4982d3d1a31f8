// Fencing of unclean nodes: the fence action, stops it implies, and starts that must wait for it.
import type { NodeInfo } from '../status/model.js';
import { customAction, order, type Action, type WorkingSet } from '../working-set.js';
import { isTrue } from '../score.js';

export function canFence(ws: WorkingSet, node: NodeInfo): boolean {
  const o = ws.config.options;
  if (!o.stonithEnabled || !ws.haveStonithResource) return false;
  if (ws.haveQuorum || o.noQuorumPolicy === 'ignore') return true;
  return node.online;
}

/** Pacemaker's pe_fence_op: one fence action per node, the first reason sticks. */
export function fenceOp(ws: WorkingSet, node: NodeInfo, optional: boolean, reason: string): Action {
  const action = ws.config.options.stonithAction;
  const a = customAction(ws, undefined, 'stonith', node, optional, { key: `stonith-${node.uname}-${action}` });
  a.fenceAction = action;
  a.fenceTarget = node;
  a.reason ??= reason;
  return a;
}


function orderVsFence(ws: WorkingSet, stonith: Action): void {
  const target = stonith.node!;
  for (const rsc of ws.rscs) {
    const needsFencing = rsc.requires === 'fencing' || rsc.requires === 'unfencing';
    for (const a of rsc.actions) {
      if (a.task !== 'start' && a.task !== 'promote') continue;
      if (needsFencing) order(ws, stonith, a, {});
      else if (a.task === 'start' && rsc.requires === 'quorum' && rsc.allowed.has(target.id) && !rsc.knownOn.has(target.id)) {
        order(ws, stonith, a, { runnableLeft: true });
      }
    }
    let impliedStop = false;
    for (const a of rsc.actions) {
      if ((a.task !== 'stop' && a.task !== 'demote') || a.node !== target) continue;
      // The stop would never complete: fencing does it.
      a.pseudo = true;
      a.runnable = true;
      if (needsFencing) order(ws, stonith, a, {});
      if (a.task === 'stop') impliedStop = true;
    }
    // The stop of the outermost collective (group or clone) waits for the fencing too.
    const top = rsc.cloneOf ?? rsc.group;
    const topStop = impliedStop && needsFencing ? top?.actions.find((a) => a.task === 'stop') : undefined;
    if (topStop) order(ws, stonith, topStop, {});
  }
}

export function scheduleFencing(ws: WorkingSet): void {
  const haveManaged = ws.rscs.some((r) => r.managed);
  let previous: Action | undefined;
  let dcFence: Action | undefined;
  const others: Action[] = [];
  const concurrent = isTrue(ws.config.options.raw['concurrent-fencing']);
  for (const node of ws.nodes) {
    if (!(haveManaged && node.unclean && canFence(ws, node))) continue;
    const f = fenceOp(ws, node, false, 'node is unclean');
    orderVsFence(ws, f);
    if (ws.config.dcUuid === node.id) {
      dcFence = f;
      continue;
    }
    if (!concurrent && previous) order(ws, previous, f, {});
    previous = f;
    others.push(f);
  }
  // The DC is fenced after every other node.
  if (dcFence) for (const f of others) order(ws, f, dcFence, {});
}
