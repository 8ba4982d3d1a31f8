// rsc_ticket constraints: a resource that depends on a ticket may run only while the ticket
// is granted and not in standby. Losing it applies the constraint's loss-policy to the
// resources that are active: stop (ban everywhere), demote, fence their nodes, or freeze them.
import type { Role, TicketConstraint, TicketLossPolicy } from '../cib/model.js';
import { INFINITY } from '../score.js';
import { fenceNode } from '../status/unpack.js';
import type { Rsc, WorkingSet } from '../working-set.js';

/** The primitives a constraint's resource id stands for (a group's members, a clone's instances). */
function leaves(ws: WorkingSet, id: string): Rsc[] {
  const direct = ws.rscs.filter((r) => r.id === id);
  if (direct.length > 0) return direct;
  const parent = [...ws.groups, ...ws.clones].find((g) => g.id === id || g.clone?.childId === id);
  if (!parent) return [];
  return ws.rscs.filter((r) => r.group === parent || r.cloneOf === parent || (r.group !== undefined && r.group.id === id));
}

function lossPolicy(ws: WorkingSet, t: TicketConstraint, role: Role | undefined): TicketLossPolicy {
  // Without fencing there is nothing to fence with: Pacemaker resets the policy to stop.
  if (t.lossPolicy === 'fence' && !ws.config.options.stonithEnabled) return 'stop';
  return t.lossPolicy ?? (role === 'Promoted' ? 'demote' : 'stop');
}

function ban(rsc: Rsc, why: string): void {
  rsc.bans.push({ score: -INFINITY, why });
}

function applyToResource(ws: WorkingSet, rsc: Rsc, t: TicketConstraint, role: Role | undefined, granted: boolean, standby: boolean): void {
  const policy = lossPolicy(ws, t, role);
  // "Started" (or no role) matches any role.
  const roleMatches = role === undefined || role === 'Started' || role === rsc.role;
  const what = `ticket ${t.ticket} (${t.id})`;
  if (!granted && rsc.runningOn.length > 0) {
    switch (policy) {
      case 'stop':
        ban(rsc, `${what} was lost (loss-policy stop)`);
        break;
      case 'demote':
        // For the Promoted role only the promotion is taken away.
        if (role !== 'Promoted') ban(rsc, `${what} was lost (loss-policy demote)`);
        break;
      case 'fence':
        if (!roleMatches) return;
        ban(rsc, `${what} was lost (loss-policy fence)`);
        for (const node of rsc.runningOn) fenceNode(ws, node, 'deadman ticket was lost');
        break;
      case 'freeze':
        if (!roleMatches) return;
        rsc.managed = false;
        rsc.blocked = true;
        break;
    }
  } else if (!granted || standby) {
    if (role !== 'Promoted' || policy === 'stop') ban(rsc, `${what} is ${granted ? 'in standby' : 'not granted'}`);
  }
}

export function applyTicketConstraints(ws: WorkingSet): void {
  for (const t of ws.config.tickets) {
    const state = ws.config.ticketStates.get(t.ticket);
    const granted = state?.granted ?? false;
    const standby = state?.standby ?? false;
    if (granted && !standby) continue;
    const targets: { id: string; role: Role | undefined }[] = t.rsc !== undefined
      ? [{ id: t.rsc, role: t.rscRole }]
      : t.sets.flatMap((s) => s.resources.map((id) => ({ id, role: s.role })));
    for (const { id, role } of targets) {
      for (const rsc of leaves(ws, id)) applyToResource(ws, rsc, t, role, granted, standby);
    }
  }
}

/** Whether a ticket constraint takes the Promoted role away from a resource (used by promotion). */
export function ticketForbidsPromotion(ws: WorkingSet, rscId: string): boolean {
  return ws.config.tickets.some((t) => {
    const st = ws.config.ticketStates.get(t.ticket);
    if (st?.granted && !st.standby) return false;
    const roles = t.rsc === rscId ? [t.rscRole] : t.sets.filter((s) => s.resources.includes(rscId)).map((s) => s.role);
    return roles.some((r) => r === 'Promoted');
  });
}
