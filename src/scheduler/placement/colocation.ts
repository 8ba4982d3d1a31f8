// Colocation constraints resolved to resource pairs.
import type { Role } from '../cib/model.js';
import type { GroupRsc, Rsc, WorkingSet } from '../working-set.js';

export interface Colocation {
  readonly id: string;
  readonly dependent: Rsc;
  readonly primary: Rsc;
  readonly score: number;
  readonly dependentRole?: Role;
  readonly primaryRole?: Role;
  readonly nodeAttribute: string;
  readonly influence: boolean;
  /** Set when the primary is a clone: `primary` is then its first instance, and the clone's instances count. */
  readonly primaryClone?: GroupRsc;
}

function roleFilter(r: Role | undefined): Role | undefined {
  return r === 'Started' ? undefined : r;
}

export function resolveColocations(ws: WorkingSet): Colocation[] {
  const byId = new Map(ws.rscs.map((r) => [r.id, r]));
  // A group stands for its first member as a dependent and its last member as a primary.
  const asDependent = new Map<string, Rsc>(), asPrimary = new Map<string, Rsc>();
  for (const g of ws.groups) {
    if (g.children.length === 0) continue;
    asDependent.set(g.id, g.children[0]!);
    asPrimary.set(g.id, g.children[g.children.length - 1]!);
  }
  const out: Colocation[] = [];
  for (const g of ws.groups) {
    for (let i = 1; i < g.children.length; i++) {
      out.push({ id: `${g.id}:internal_colocation`, dependent: g.children[i]!, primary: g.children[i - 1]!, score: 1_000_000, nodeAttribute: '#uname', influence: true });
    }
  }
  for (const c of ws.config.colocations) {
    const base = { id: c.id, nodeAttribute: c.nodeAttribute, influence: c.influence };
    if (c.sets.length === 0) {
      const depClone = ws.clones.find((x) => x.id === c.rsc), priClone = ws.clones.find((x) => x.id === c.withRsc);
      if (depClone || priClone) {
        // A clone as dependent stands for each of its instances; as primary, for all of them.
        const deps = depClone ? depClone.children : [c.rsc !== undefined ? byId.get(c.rsc) ?? asDependent.get(c.rsc) : undefined, ...pastUnmanaged(ws, c.rsc, c.score)];
        const pri = priClone ? priClone.children[0] : c.withRsc !== undefined ? byId.get(c.withRsc) ?? asPrimary.get(c.withRsc) : undefined;
        for (const dep of deps) {
          if (!dep || !pri || dep === pri || (priClone && dep.cloneOf === priClone)) continue;
          out.push({ ...base, dependent: dep, primary: pri, primaryClone: priClone, score: c.score, dependentRole: roleFilter(c.rscRole), primaryRole: roleFilter(c.withRscRole) });
        }
        continue;
      }
      const dep = c.rsc !== undefined ? byId.get(c.rsc) ?? asDependent.get(c.rsc) : undefined;
      const pri = c.withRsc !== undefined ? byId.get(c.withRsc) ?? asPrimary.get(c.withRsc) : undefined;
      if (!dep || !pri || dep === pri) continue;
      for (const d of [dep, ...pastUnmanaged(ws, c.rsc, c.score)]) {
        out.push({ ...base, dependent: d, primary: pri, score: c.score, dependentRole: roleFilter(c.rscRole), primaryRole: roleFilter(c.withRscRole) });
      }
      continue;
    }
    // Within a sequential set each member goes with the one before it; between
    // sets, members of an earlier set go with members of the later set.
    for (const set of c.sets) {
      const members = set.resources.map((id) => byId.get(id)).filter((r): r is Rsc => r !== undefined);
      const score = set.score ?? c.score;
      const role = roleFilter(set.role);
      if (score < 0) {
        // Anti-colocation: every member against every member before it.
        for (let i = 1; i < members.length; i++) {
          for (let j = 0; j < i; j++) out.push({ ...base, dependent: members[i]!, primary: members[j]!, score, dependentRole: role, primaryRole: role });
        }
      } else if (score > 0 && set.sequential) {
        const listed = set.ordering === 'listed';
        for (let i = 1; i < members.length; i++) {
          const [dependent, primary] = listed ? [members[i - 1]!, members[i]!] : [members[i]!, members[i - 1]!];
          out.push({ ...base, dependent, primary, score, dependentRole: role, primaryRole: role });
        }
      }
    }
    for (let s = 0; s + 1 < c.sets.length; s++) {
      const a = c.sets[s]!, b = c.sets[s + 1]!;
      const am = a.resources.map((id) => byId.get(id)).filter((r): r is Rsc => r !== undefined);
      const bm = b.resources.map((id) => byId.get(id)).filter((r): r is Rsc => r !== undefined);
      const deps = a.sequential ? am.slice(0, 1) : am;
      const pris = b.sequential ? bm.slice(-1) : bm;
      for (const d of deps) for (const p of pris) {
        if (d !== p) out.push({ ...base, dependent: d, primary: p, score: c.score, dependentRole: roleFilter(a.role), primaryRole: roleFilter(b.role) });
      }
    }
  }
  return out;
}

/**
 * A group's mandatory colocation reaches its first member, and the rest follow through the
 * internal colocations; but once a member is unmanaged (and so stays where it is), every member
 * after it gets the colocation too (Pacemaker's expand_group_colocations).
 */
function pastUnmanaged(ws: WorkingSet, groupId: string | undefined, score: number): Rsc[] {
  const g = groupId !== undefined && score >= 1_000_000 ? ws.groups.find((x) => x.id === groupId && !x.cloneOf) : undefined;
  if (!g || g.children.length === 0) return [];
  const out: Rsc[] = [];
  let anyUnmanaged = !g.children[0]!.managed;
  for (const m of g.children.slice(1)) {
    if (anyUnmanaged) out.push(m);
    else if (!m.managed) anyUnmanaged = true;
  }
  return out;
}
