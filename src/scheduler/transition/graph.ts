// The transition graph and the order in which a simulated run fires it:
// repeated passes over synapses in id order, each firing whatever is ready,
// with every fired action confirmed at once (as crm_simulate does).
import type { Action, WorkingSet } from '../working-set.js';
import { inGraph } from './actions.js';

export interface Synapse {
  readonly action: Action;
  readonly inputs: Action[];
}

export function buildGraph(ws: WorkingSet): Synapse[] {
  const synapses: Synapse[] = [];
  const index = new Map<Action, Synapse>();
  const add = (a: Action): void => {
    if (!inGraph(a) || index.has(a)) return;
    const s: Synapse = { action: a, inputs: [] };
    index.set(a, s);
    synapses.push(s);
  };
  for (const rsc of ws.rscs) {
    const g = rsc.group;
    if (g && g.children[0] === rsc) for (const a of [...g.actions].sort((x, y) => y.id - x.id)) add(a);
    for (const a of [...rsc.actions].sort((x, y) => y.id - x.id)) add(a);
    // A clone's own actions follow its instances'.
    const cl = rsc.cloneOf;
    if (cl && cl.children[cl.children.length - 1] === rsc) for (const a of [...cl.actions].sort((x, y) => y.id - x.id)) add(a);
  }
  for (const a of [...ws.actions].reverse()) if (!a.rsc && !a.group) add(a);
  for (const o of ws.orderings) {
    if (o.instanceOnly || o.memberOnly) continue;
    const s = index.get(o.then);
    if (!s || !index.has(o.first) || o.first === o.then) continue;
    if (o.antiColocation && (o.first.optional || (o.first.node && o.then.node && o.first.node !== o.then.node))) continue;
    if (!s.inputs.includes(o.first)) s.inputs.push(o.first);
  }
  return synapses;
}

export function executionOrder(synapses: Synapse[]): Action[] {
  const done = new Set<Action>();
  const out: Action[] = [];
  for (let pass = 0; pass <= synapses.length; pass++) {
    // Readiness is decided at the start of a pass, and again as actions confirm.
    let fired = false;
    for (const s of synapses) {
      if (done.has(s.action)) continue;
      if (s.inputs.every((i) => done.has(i))) {
        done.add(s.action);
        out.push(s.action);
        fired = true;
      }
    }
    if (!fired) break;
  }
  return out;
}
