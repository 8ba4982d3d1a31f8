// "Current cluster status" / "Revised Cluster Status" blocks as crm_simulate prints them.
import { flattenSets } from '../cib/parse.js';
import type { NodeInfo } from '../status/model.js';
import { nodeHealth } from '../placement/health.js';
import type { GroupRsc, Rsc, WorkingSet } from '../working-set.js';

function nodeLine(n: NodeInfo, ws: WorkingSet): string | undefined {
  const active = ws.rscs.some((r) => r.runningOn.includes(n));
  if (n.unclean) return `Node ${n.uname}: UNCLEAN (${n.online ? 'online' : 'offline'})`;
  if (!n.online) {
    if (n.pending) return `Node ${n.uname}: pending`;
    if (n.standby) return `Node ${n.uname}: OFFLINE (standby)`;
    if (n.maintenance) return `Node ${n.uname}: OFFLINE (maintenance)`;
    return undefined;
  }
  if (n.pending) return `Node ${n.uname}: pending`;
  if (n.standby) return `Node ${n.uname}: standby${active ? ' (with active resources)' : ''}`;
  if (n.maintenance) return `Node ${n.uname}: maintenance`;
  const health = nodeHealth(ws, n);
  if (health < 1) return `Node ${n.uname}: online (health is ${health < 0 ? 'RED' : 'YELLOW'})`;
  return undefined;
}

export function formatNodeList(ws: WorkingSet): string[] {
  const lines: string[] = ['  * Node List:'];
  const online: string[] = [];
  const offline: string[] = [];
  for (const n of ws.nodes) {
    const l = nodeLine(n, ws);
    if (l !== undefined) lines.push(`    * ${l}`);
    else if (n.online) online.push(n.uname);
    else offline.push(n.uname);
  }
  if (online.length) lines.push(`    * Online: [ ${online.join(' ')} ]`);
  if (offline.length) lines.push(`    * OFFLINE: [ ${offline.join(' ')} ]`);
  return lines;
}

function agent(r: Rsc): string {
  const d = r.def;
  return d.provider ? `${d.class}:${d.provider}:${d.type}` : `${d.class}:${d.type}`;
}

/** What a pending operation shows instead of the role (crm_mon's pending states). */
const PENDING_STATES: Readonly<Record<string, string>> = {
  start: 'Starting', stop: 'Stopping', migrate_to: 'Migrating', migrate_from: 'Migrating', promote: 'Promoting', demote: 'Demoting',
};

export function resourceLine(r: Rsc, indent = '    ', name = r.id, pending = false): string {
  let state: string;
  const pendingState = pending && r.pendingTask !== undefined ? PENDING_STATES[r.pendingTask] : undefined;
  if (r.runningOn.length > 0 && r.failed && !r.failureIgnored) state = r.role === 'Promoted' ? 'FAILED Promoted' : 'FAILED';
  else if (pendingState) state = pendingState;
  else if (r.runningOn.length === 0) state = 'Stopped';
  else state = r.role === 'Unknown' ? 'Started' : r.role;
  // A promotable clone's instance that is merely started is its unpromoted role.
  if (state === 'Started' && r.cloneOf?.clone?.promotable) state = 'Unpromoted';
  // One parenthesis, in crm_mon's order: UNCLEAN, disabled, blocked or unmanaged, failure ignored.
  const flags: string[] = [];
  if (r.runningOn.length === 1 && r.runningOn[0]!.unclean && !r.runningOn[0]!.online) flags.push('UNCLEAN');
  if (pending && r.pendingTask === 'monitor') flags.push('Monitoring');
  if (isDisabled(r)) flags.push('disabled');
  if (r.blocked && r.runningOn.length > 0) flags.push('blocked');
  else if (!r.managed) flags.push('unmanaged');
  if (r.failureIgnored) flags.push('failure ignored');
  let f = flags.length ? ` (${flags.join(', ')})` : '';
  if (r.runningOn.length === 0 && r.notInstalledOn.size > 0) f += ' (not installed)';
  if (r.orphan) state = `ORPHANED ${state}`;
  if (r.runningOn.length > 1) return `${indent}* ${name}\t(${agent(r)}):\t ${state}${f} [ ${r.runningOn.map((n) => n.uname).join(' ')} ]`;
  const where = r.runningOn.length === 1 ? ` ${r.runningOn[0]!.uname}` : '';
  return `${indent}* ${name}\t(${agent(r)}):\t ${state}${where}${f}`;
}

/** Disabled: target-role Stopped, or Unpromoted for a promotable clone's instance. */
function isDisabled(r: Rsc): boolean {
  return r.targetRole === 'Stopped' || (r.targetRole === 'Unpromoted' && r.cloneOf?.clone?.promotable === true);
}

/** crm_mon's header count of disabled and blocked resources, printed only when non-zero. */
export function formatBlockedHeader(ws: WorkingSet): string[] {
  const shown = ws.rscs.filter((r) => !(r.orphan && r.runningOn.length === 0));
  const disabled = shown.filter(isDisabled).length;
  const blocked = shown.filter((r) => r.blocked).length;
  if (disabled === 0 && blocked === 0) return [];
  return [`${disabled} of ${shown.length} resource instances DISABLED and ${blocked} BLOCKED from further action due to failure`, ''];
}

/** The group's own flags, from its meta attributes: " (unmanaged, disabled)". */
function groupFlags(ws: WorkingSet, id: string): string {
  const def = ws.config.resources.find((d) => d.id === id);
  if (!def) return '';
  // rsc_defaults apply to groups and clones too.
  const meta = flattenSets(ws.config.rscDefaults, def.meta);
  const truthy = (v: string | undefined): boolean => v !== undefined && /^(true|yes|on|y|1)$/i.test(v);
  const managedDefault = ws.config.options.raw['is-managed-default'];
  const managed = (meta['is-managed'] === undefined ? managedDefault === undefined || truthy(managedDefault) : truthy(meta['is-managed'])) &&
    !ws.config.options.maintenanceMode && !truthy(meta['maintenance']);
  const flags: string[] = [];
  if (!managed) flags.push('unmanaged');
  const tr = meta['target-role']?.toLowerCase();
  const promotable = def.kind === 'clone' && def.promotable;
  if (tr === 'stopped' || (promotable && (tr === 'unpromoted' || tr === 'slave'))) flags.push('disabled');
  return flags.length ? ` (${flags.join(', ')})` : '';
}

/** A clone block: unique clones list every instance; anonymous ones summarise healthy instances by node. */
function cloneLines(ws: WorkingSet, cl: GroupRsc, pending: boolean): string[] {
  const info = cl.clone!;
  const flags: string[] = [];
  if (info.promotable) flags.push('promotable');
  if (info.unique) flags.push('unique');
  const own = groupFlags(ws, cl.id).replace(/^ \((.*)\)$/, '$1');
  // crm_mon's order: unique, disabled, unmanaged.
  if (/disabled/.test(own)) flags.push('disabled');
  if (/unmanaged/.test(own)) flags.push('unmanaged');
  const out = [`    * Clone Set: ${cl.id} [${info.childId}]${flags.length ? ` (${flags.join(', ')})` : ''}:`];
  if (cl.instances) return [...out, ...groupInstanceLines(ws, cl, pending)];
  if (info.unique) {
    for (const r of cl.children) out.push(resourceLine(r, '      ', r.id, pending));
    return out;
  }
  const started: NodeInfo[] = [];
  const promoted: NodeInfo[] = [];
  for (const r of cl.children) {
    if (r.runningOn.length === 0) continue;
    const plain = r.runningOn.length === 1 && !(r.runningOn[0]!.unclean && !r.runningOn[0]!.online) && r.managed && !r.failed && !r.orphan &&
      !(pending && r.pendingTask !== undefined);
    if (plain && (r.role === 'Started' || r.role === 'Unknown' || r.role === 'Unpromoted')) started.push(r.runningOn[0]!);
    else if (plain && r.role === 'Promoted' && info.promotable) promoted.push(r.runningOn[0]!);
    // An anonymous instance goes by its primitive's name.
    else out.push(resourceLine(r, '      ', info.childId, pending));
  }
  const byName = (a: NodeInfo, b: NodeInfo): number => ws.nodes.indexOf(a) - ws.nodes.indexOf(b);
  const list = (ns: NodeInfo[]): string => [...new Set(ns)].sort(byName).map((n) => n.uname).join(' ');
  if (promoted.length) out.push(`      * Promoted: [ ${list(promoted)} ]`);
  const limited = info.promotable && /^(unpromoted|slave)$/i.test(info.targetRole ?? '');
  if (started.length) out.push(`      * ${info.promotable ? 'Unpromoted' : 'Started'}${limited ? ' (target-role)' : ''}: [ ${list(started)} ]`);
  // Only the instances summed up in the lists count as active here (crm_mon's active_instances).
  if (started.length + promoted.length < info.max) out.push(...stoppedLines(ws, cl));
  return out;
}

/**
 * A clone's Stopped lines: nodes without an instance, by state ("Stopped", or "Stopped (not
 * installed)" where a probe recorded under the configured name found the agent missing).
 */
function stoppedLines(ws: WorkingSet, cl: GroupRsc): string[] {
  const info = cl.clone!;
  const disabled = info.targetRole !== undefined && info.targetRole.toLowerCase() === 'stopped';
  const byState = new Map<string, string[]>();
  for (const n of stoppedCandidates(ws, cl)) {
    // The clone does not count as running on an offline node where only unmanaged instances are.
    if (cl.children.some((r) => r.runningOn.includes(n) && (r.managed || n.online))) continue;
    // (For a cloned group the configured name is the group's, which no history carries.)
    const missing = !cl.instances && cl.children.some((r) => {
      const as = r.notInstalledAs?.get(n.id);
      return as !== undefined && as === r.id.replace(/:\d+$/, '');
    });
    const state = missing ? 'Stopped (not installed)' : disabled ? 'Stopped (disabled)' : 'Stopped';
    byState.set(state, [...(byState.get(state) ?? []), n.uname]);
  }
  return [...byState.keys()].sort().map((state) => `      * ${state}: [ ${byState.get(state)!.join(' ')} ]`);
}

/** Nodes a clone can be listed as stopped on: all of them, or where it was probed when the cluster is not symmetric. */
function stoppedCandidates(ws: WorkingSet, cl: GroupRsc): NodeInfo[] {
  if (ws.config.options.symmetricCluster) return ws.nodes;
  return ws.nodes.filter((n) => cl.children.some((r) => r.knownOn.has(n.id)));
}

/** A healthy active member: on one clean node, managed, not failed, orphaned or starting. */
function plainStarted(r: Rsc, pending: boolean, anyRole = false): boolean {
  return r.runningOn.length === 1 && !r.runningOn[0]!.unclean && r.managed && !r.failed && !r.orphan && !(pending && r.pendingTask !== undefined) &&
    (r.role === 'Started' || r.role === 'Unknown' || (anyRole && (r.role === 'Unpromoted' || r.role === 'Promoted')));
}

/**
 * A clone of a group: fully and cleanly active anonymous instances are summed up by
 * node; partly active or troubled ones (and every unique one) get a group block.
 */
function groupInstanceLines(ws: WorkingSet, cl: GroupRsc, pending: boolean): string[] {
  const info = cl.clone!;
  const out: string[] = [];
  const started: NodeInfo[] = [];
  const promoted: NodeInfo[] = [];
  const base = (id: string): string => id.replace(/:\d+$/, '');
  // A promotable group instance is listed by its highest member role.
  const plain = (r: Rsc): boolean => plainStarted(r, pending, info.promotable);
  for (const g of cl.instances ?? []) {
    const active = g.children.filter((r) => r.runningOn.length > 0);
    if (!info.unique && active.length === 0) continue;
    const nodes = new Set(g.children.flatMap((r) => r.runningOn));
    if (!info.unique && active.length === g.children.length && nodes.size === 1 && g.children.every(plain)) {
      (info.promotable && g.children.some((r) => r.role === 'Promoted') ? promoted : started).push([...nodes][0]!);
      continue;
    }
    out.push(`      * Resource Group: ${g.id}:`);
    for (const r of g.children) out.push(resourceLine(r, '        ', info.unique ? r.id : base(r.id), pending));
  }
  if (info.unique) return out;
  const byName = (a: NodeInfo, b: NodeInfo): number => ws.nodes.indexOf(a) - ws.nodes.indexOf(b);
  const list = (ns: NodeInfo[]): string => [...new Set(ns)].sort(byName).map((n) => n.uname).join(' ');
  if (promoted.length) out.push(`      * Promoted: [ ${list(promoted)} ]`);
  if (started.length) out.push(`      * ${info.promotable ? 'Unpromoted' : 'Started'}: [ ${list(started)} ]`);
  if (started.length + promoted.length < info.max) out.push(...stoppedLines(ws, cl));
  return out;
}

/** The resource list; `pending` shows pending operations (as crm_simulate does for the current status). */
export function formatStatus(ws: WorkingSet, pending = false): string[] {
  const lines = formatNodeList(ws);
  lines.push('');
  lines.push('  * Full List of Resources:');
  const shown = ws.rscs.filter((r) => !(r.orphan && r.runningOn.length === 0));
  if (shown.length === 0) lines.push('    * No resources');
  for (const r of ws.rscs) {
    // A clone's block is shown even when its only instance is an inactive orphan (clone-max=0).
    if (r.cloneOf) {
      if (r.cloneOf.children[0] === r) lines.push(...cloneLines(ws, r.cloneOf, pending));
    } else if (!shown.includes(r)) {
      continue;
    } else if (r.group) {
      if (r.group.children[0] === r) lines.push(`    * Resource Group: ${r.group.id}${groupFlags(ws, r.group.id)}:`);
      lines.push(resourceLine(r, '      ', r.id, pending));
    } else {
      lines.push(resourceLine(r, '    ', r.id, pending));
    }
  }
  return lines;
}
