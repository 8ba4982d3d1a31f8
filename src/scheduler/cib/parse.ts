// Parses the configuration section of a CIB into the typed model.
import { CibError, child, childrenOf, describe, parseXml, type XmlElement } from '../xml.js';
import { collectReferences, expandConstraint, expandTemplates } from './references.js';
import { INFINITY, isTrue, parseDurationMs, parseScore } from '../score.js';
import {
  normalizeRole,
  type CibConfig, type ClusterOptions, type CloneDef, type ColocationConstraint, type DateExpression,
  type Expression, type GroupDef, type LocationConstraint, type NodeDef, type NvSet, type OpDef,
  type OrderConstraint, type OrderKind, type OtherExpression, type PrimitiveDef, type ResourceDef,
  type ResourceSet, type Rule, type TicketConstraint, type TicketLossPolicy, type TicketState,
} from './model.js';

/** Index of every element with an id, for id-ref lookups. */
type IdIndex = Map<string, XmlElement>;

function indexIds(root: XmlElement, idx: IdIndex): void {
  const id = root.attrs['id'];
  if (id !== undefined && root.attrs['id-ref'] === undefined && !idx.has(id)) idx.set(id, root);
  for (const c of root.children) indexIds(c, idx);
}

function deref(el: XmlElement, idx: IdIndex): XmlElement {
  const ref = el.attrs['id-ref'];
  if (ref === undefined) return el;
  const target = idx.get(ref);
  if (!target) throw new CibError(`${describe(el)}: id-ref "${ref}" names no element`);
  return target;
}

function need(el: XmlElement, attr: string): string {
  const v = el.attrs[attr];
  if (v === undefined || v === '') throw new CibError(`${describe(el)}: missing required attribute "${attr}"`);
  return v;
}

export function parseRule(el0: XmlElement, idx: IdIndex): Rule {
  const el = deref(el0, idx);
  const parts: (Expression | DateExpression | OtherExpression | Rule)[] = [];
  for (const c0 of el.children) {
    const c = deref(c0, idx);
    if (c.tag === 'expression') {
      parts.push({
        kind: 'expression', id: c.attrs['id'] ?? '', attribute: need(c, 'attribute'),
        operation: need(c, 'operation'), value: c.attrs['value'], type: c.attrs['type'],
        valueSource: c.attrs['value-source'],
      });
    } else if (c.tag === 'date_expression') {
      parts.push({ kind: 'date', id: c.attrs['id'] ?? '', operation: c.attrs['operation'] ?? 'in_range', start: c.attrs['start'], end: c.attrs['end'] });
    } else if (c.tag === 'rule') {
      parts.push(parseRule(c, idx));
    } else {
      parts.push({ kind: 'other', id: c.attrs['id'] ?? '', tag: c.tag });
    }
  }
  const score = parseScore(el.attrs['score']);
  const op = (el.attrs['boolean-op'] ?? 'and').toLowerCase();
  if (op !== 'and' && op !== 'or') throw new CibError(`${describe(el)}: boolean-op "${op}" is not "and" or "or"`);
  return {
    kind: 'rule', id: el.attrs['id'] ?? '', score, scoreAttribute: el.attrs['score-attribute'],
    role: normalizeRole(el.attrs['role']), booleanOp: op, parts,
  };
}

function parseNvSet(el0: XmlElement, idx: IdIndex): NvSet {
  const el = deref(el0, idx);
  const pairs: { name: string; value: string }[] = [];
  let rule: Rule | undefined;
  for (const c0 of el.children) {
    if (c0.tag === 'rule') { rule = parseRule(c0, idx); continue; }
    if (c0.tag !== 'nvpair') continue;
    const c = c0.attrs['id-ref'] !== undefined ? deref(c0, idx) : c0;
    const name = c0.attrs['name'] ?? c.attrs['name'];
    if (name === undefined) throw new CibError(`${describe(c0)}: nvpair has no name`);
    pairs.push({ name, value: c.attrs['value'] ?? '' });
  }
  return { id: el.attrs['id'] ?? '', score: parseScore(el.attrs['score']) ?? 0, rule, pairs };
}

/**
 * Attribute sets in precedence order, as Pacemaker reads them: higher score first; among equal
 * scores the set that comes later in the document wins; a set with the id `firstId`
 * (cib-bootstrap-options for cluster options) always comes first.
 */
function nvSets(parent: XmlElement | undefined, tag: string, idx: IdIndex, firstId?: string): NvSet[] {
  if (!parent) return [];
  const sets = childrenOf(parent, tag).map((s) => parseNvSet(s, idx));
  const first = (s: NvSet): number => (firstId !== undefined && s.id === firstId ? 0 : 1);
  return sets.map((s, i) => ({ s, i })).sort((a, b) => first(a.s) - first(b.s) || b.s.score - a.s.score || b.i - a.i).map((x) => x.s);
}

/** Flattens sets without rules into name -> value; the first set naming an attribute wins. */
export function flattenSets(sets: readonly NvSet[], into: Record<string, string> = {}): Record<string, string> {
  for (const s of sets) {
    if (s.rule) continue;
    for (const p of s.pairs) {
      // "#default" asks for the default: it drops a value an earlier set gave (Pacemaker's populate_hash).
      if (p.value.toLowerCase() === '#default') delete into[p.name];
      else if (!(p.name in into)) into[p.name] = p.value;
    }
  }
  return into;
}

function parseOps(el: XmlElement, idx: IdIndex): OpDef[] {
  const ops = child(el, 'operations');
  if (!ops) return [];
  const opsEl = deref(ops, idx);
  return childrenOf(opsEl, 'op').map((o0) => {
    const o = deref(o0, idx);
    const meta = flattenSets(nvSets(o, 'meta_attributes', idx), {});
    const name = need(o, 'name');
    const intervalText = o.attrs['interval'] ?? meta['interval'] ?? '0';
    const intervalMs = parseDurationMs(intervalText);
    if (intervalMs === undefined) throw new CibError(`${describe(o)}: interval "${intervalText}" is not a duration`);
    const enabled = o.attrs['enabled'] ?? meta['enabled'];
    return {
      id: o.attrs['id'] ?? '', name, intervalMs,
      role: normalizeRole(o.attrs['role'] ?? meta['role']),
      onFail: o.attrs['on-fail'] ?? meta['on-fail'],
      enabled: enabled === undefined ? true : isTrue(enabled),
      meta: { ...meta, ...Object.fromEntries(Object.entries(o.attrs).filter(([k]) => k !== 'id')) },
      params: flattenSets(nvSets(o, 'instance_attributes', idx), {}),
    };
  });
}

function parsePrimitive(el: XmlElement, idx: IdIndex): PrimitiveDef {
  const metaSets = nvSets(el, 'meta_attributes', idx);
  return {
    kind: 'primitive', id: need(el, 'id'), class: el.attrs['class'] ?? '', provider: el.attrs['provider'],
    type: el.attrs['type'] ?? '', metaSets, meta: flattenSets(metaSets),
    params: flattenSets(nvSets(el, 'instance_attributes', idx)), ops: parseOps(el, idx),
    utilization: flattenSets(nvSets(el, 'utilization', idx)),
  };
}

function withParentParams<T extends PrimitiveDef | GroupDef>(def: T, params: Readonly<Record<string, string>>): T {
  if (Object.keys(params).length === 0) return def;
  if (def.kind === 'primitive') return { ...def, params: { ...params, ...def.params } };
  return { ...def, children: def.children.map((c) => ({ ...c, params: { ...params, ...c.params } })) };
}

function parseResource(el: XmlElement, idx: IdIndex, warnings: string[]): ResourceDef | undefined {
  switch (el.tag) {
    case 'primitive':
      return parsePrimitive(el, idx);
    case 'group': {
      const metaSets = nvSets(el, 'meta_attributes', idx);
      // Members inherit the group's instance attributes (their own win), as Pacemaker's resource parameters do.
      const params = flattenSets(nvSets(el, 'instance_attributes', idx));
      const children = childrenOf(el, 'primitive').map((p) => withParentParams(parsePrimitive(p, idx), params));
      const g: GroupDef = { kind: 'group', id: need(el, 'id'), metaSets, meta: flattenSets(metaSets), children };
      return g;
    }
    case 'clone':
    case 'master': {
      const metaSets = nvSets(el, 'meta_attributes', idx);
      const meta = flattenSets(metaSets);
      const inner = el.children.find((c) => c.tag === 'primitive' || c.tag === 'group');
      if (!inner) throw new CibError(`${describe(el)}: clone has no primitive or group inside`);
      const c = withParentParams(parseResource(inner, idx, warnings) as PrimitiveDef | GroupDef, flattenSets(nvSets(el, 'instance_attributes', idx)));
      const cl: CloneDef = {
        kind: 'clone', id: need(el, 'id'), metaSets, meta,
        promotable: el.tag === 'master' || isTrue(meta['promotable']), child: c,
      };
      return cl;
    }
    case 'bundle':
      warnings.push(`${describe(el)}: ${el.tag} is not supported; ignored`);
      return undefined;
    default:
      throw new CibError(`${describe(el)}: unknown resource element <${el.tag}>`);
  }
}

function parseSets(el: XmlElement, idx: IdIndex): ResourceSet[] {
  return childrenOf(el, 'resource_set').map((s0) => {
    const s = deref(s0, idx);
    return {
      id: s.attrs['id'] ?? '',
      resources: childrenOf(s, 'resource_ref').map((r) => need(r, 'id')),
      sequential: s.attrs['sequential'] === undefined ? true : isTrue(s.attrs['sequential']),
      requireAll: s.attrs['require-all'] === undefined ? true : isTrue(s.attrs['require-all']),
      ordered: s.attrs['ordered'] === undefined ? undefined : isTrue(s.attrs['ordered']),
      action: s.attrs['action'],
      role: normalizeRole(s.attrs['role']),
      score: parseScore(s.attrs['score']),
      kind: s.attrs['kind'],
      ordering: s.attrs['ordering'],
    };
  });
}

const LOSS_POLICIES: readonly TicketLossPolicy[] = ['stop', 'demote', 'fence', 'freeze'];

function parseTicketConstraint(c: XmlElement, idx: IdIndex): TicketConstraint {
  const ticket = c.attrs['ticket'];
  if (ticket === undefined || ticket === '') throw new CibError(`${describe(c)}: rsc_ticket needs a ticket`);
  const loss = c.attrs['loss-policy']?.toLowerCase();
  if (loss !== undefined && !LOSS_POLICIES.includes(loss as TicketLossPolicy)) {
    throw new CibError(`${describe(c)}: loss-policy "${c.attrs['loss-policy']}" is not one of ${LOSS_POLICIES.join(', ')}`);
  }
  const sets = parseSets(c, idx);
  if (c.attrs['rsc'] === undefined && sets.length === 0) throw new CibError(`${describe(c)}: rsc_ticket needs rsc or a resource_set`);
  return {
    id: need(c, 'id'), ticket, rsc: c.attrs['rsc'], rscRole: normalizeRole(c.attrs['rsc-role']),
    lossPolicy: loss as TicketLossPolicy | undefined, sets,
  };
}

function parseTicketStates(root: XmlElement): Map<string, TicketState> {
  const states = new Map<string, TicketState>();
  const holder = child(child(root, 'status') ?? root, 'tickets');
  for (const t of holder ? childrenOf(holder, 'ticket_state') : []) {
    const id = t.attrs['id'];
    if (id !== undefined) states.set(id, { granted: isTrue(t.attrs['granted']), standby: isTrue(t.attrs['standby']) });
  }
  return states;
}

function parseOptions(crm: XmlElement | undefined, idx: IdIndex): ClusterOptions {
  const raw = flattenSets(nvSets(crm, 'cluster_property_set', idx, 'cib-bootstrap-options'));
  const get = (...names: string[]): string | undefined => {
    for (const n of names) {
      if (raw[n] !== undefined) return raw[n];
      const alt = n.includes('-') ? n.replace(/-/g, '_') : n;
      if (raw[alt] !== undefined) return raw[alt];
    }
    return undefined;
  };
  const nqp = (get('no-quorum-policy') ?? 'stop').toLowerCase();
  const policy = (['stop', 'freeze', 'ignore', 'demote', 'suicide'] as const).find((p) => p === nqp) ?? (nqp === 'fence' ? 'suicide' : 'stop');
  return {
    raw,
    stonithEnabled: get('stonith-enabled', 'fencing-enabled') === undefined ? true : isTrue(get('stonith-enabled', 'fencing-enabled')),
    symmetricCluster: get('symmetric-cluster') === undefined ? true : isTrue(get('symmetric-cluster')),
    noQuorumPolicy: policy,
    stonithAction: (get('stonith-action', 'fencing-action') ?? 'reboot') === 'poweroff' ? 'off' : (get('stonith-action', 'fencing-action') ?? 'reboot'),
    startFailureIsFatal: get('start-failure-is-fatal') === undefined ? true : isTrue(get('start-failure-is-fatal')),
    maintenanceMode: isTrue(get('maintenance-mode')),
    stopAllResources: isTrue(get('stop-all-resources')),
    stopOrphanResources: get('stop-orphan-resources') === undefined ? true : isTrue(get('stop-orphan-resources')),
    stopOrphanActions: get('stop-orphan-actions') === undefined ? true : isTrue(get('stop-orphan-actions')),
    placementStrategy: get('placement-strategy') ?? 'default',
    defaultStickiness: parseScore(get('default-resource-stickiness')) ?? 0,
    defaultMigrationThreshold: get('default-migration-threshold'),
    nodeHealthBase: parseScore(get('node-health-base')) ?? 0,
  };
}

function parseOrderKind(el: XmlElement, warnings?: string[]): OrderKind {
  const kind = el.attrs['kind'];
  if (kind !== undefined) {
    const k = kind.toLowerCase();
    if (k === 'mandatory') return 'Mandatory';
    if (k === 'optional') return 'Optional';
    if (k === 'serialize') return 'Serialize';
    const msg = `${describe(el)}: kind "${kind}" is not Mandatory, Optional or Serialize; treating it as Mandatory`;
    if (!warnings) throw new CibError(msg);
    warnings.push(msg);
    return 'Mandatory';
  }
  const score = parseScore(el.attrs['score']);
  if (score === 0) return 'Optional';
  return 'Mandatory';
}

/** Parses CIB XML text (the whole document) into the configuration model. */
export function parseCibConfig(root: XmlElement): CibConfig {
  if (root.tag !== 'cib') throw new CibError(`root element is <${root.tag}>, expected <cib>`);
  const configuration = child(root, 'configuration');
  if (!configuration) throw new CibError('<cib>: missing <configuration>');
  const idx: IdIndex = new Map();
  indexIds(configuration, idx);
  const warnings: string[] = [];

  const nodes: NodeDef[] = childrenOf(child(configuration, 'nodes') ?? { tag: 'nodes', attrs: {}, children: [] }, 'node').map((n) => ({
    id: need(n, 'id'), uname: n.attrs['uname'] ?? need(n, 'id'), type: n.attrs['type'] ?? 'member', score: parseScore(n.attrs['score']) ?? 0,
    attrSets: nvSets(n, 'instance_attributes', idx),
    utilization: flattenSets(nvSets(n, 'utilization', idx)),
  }));

  const resourcesEl = child(configuration, 'resources');
  const refs = collectReferences(configuration, resourcesEl);
  const resources: ResourceDef[] = [];
  for (const r of (resourcesEl ? expandTemplates(resourcesEl, refs).children : [])) {
    const def = parseResource(r, idx, warnings);
    if (def) resources.push(def);
  }

  const locations: LocationConstraint[] = [];
  const colocations: ColocationConstraint[] = [];
  const orders: OrderConstraint[] = [];
  const tickets: TicketConstraint[] = [];
  for (const c0 of child(configuration, 'constraints')?.children ?? []) {
    const c = expandConstraint(deref(c0, idx), refs, warnings);
    if (!c) continue;
    if (c.tag === 'rsc_location') {
      const score = parseScore(c.attrs['score']);
      const rules = childrenOf(c, 'rule').map((r) => parseRule(r, idx));
      if (c.attrs['node'] !== undefined && score === undefined) {
        throw new CibError(`${describe(c)}: location with node "${c.attrs['node']}" needs a score`);
      }
      locations.push({
        id: need(c, 'id'), rsc: c.attrs['rsc'], rscPattern: c.attrs['rsc-pattern'], role: normalizeRole(c.attrs['role']),
        node: c.attrs['node'], score, rules, resourceDiscovery: c.attrs['resource-discovery'], resourceSets: parseSets(c, idx),
      });
    } else if (c.tag === 'rsc_colocation') {
      const score = parseScore(c.attrs['score']);
      const sets = parseSets(c, idx);
      if (score === undefined && sets.every((st) => st.score === undefined)) {
        warnings.push(`${describe(c)}: colocation has no score; ignored`);
        continue;
      }
      colocations.push({
        id: need(c, 'id'), rsc: c.attrs['rsc'], withRsc: c.attrs['with-rsc'], score: score ?? 0,
        rscRole: normalizeRole(c.attrs['rsc-role']), withRscRole: normalizeRole(c.attrs['with-rsc-role']),
        nodeAttribute: c.attrs['node-attribute'] ?? '#uname',
        influence: c.attrs['influence'] === undefined ? true : isTrue(c.attrs['influence']), sets,
      });
    } else if (c.tag === 'rsc_order') {
      const sets = parseSets(c, idx);
      orders.push({
        id: need(c, 'id'), first: c.attrs['first'], then: c.attrs['then'],
        firstAction: c.attrs['first-action'] ?? 'start', thenAction: c.attrs['then-action'] ?? c.attrs['first-action'] ?? 'start',
        kind: parseOrderKind(c, warnings),
        symmetrical: c.attrs['symmetrical'] === undefined ? parseOrderKind(c, []) !== 'Serialize' : isTrue(c.attrs['symmetrical']),
        sets,
        ...(c.attrs['require-all'] !== undefined ? { requireAll: isTrue(c.attrs['require-all']) } : {}),
      });
    } else if (c.tag === 'rsc_ticket') {
      tickets.push(parseTicketConstraint(c, idx));
    } else {
      warnings.push(`${describe(c)}: constraint type <${c.tag}> is not supported; ignored`);
    }
  }

  const exec = root.attrs['execution-date'];
  const hq = root.attrs['have-quorum'];
  return {
    options: parseOptions(child(configuration, 'crm_config'), idx),
    haveQuorum: hq === undefined ? false : isTrue(hq),
    dcUuid: root.attrs['dc-uuid'],
    validateWith: root.attrs['validate-with'],
    featureSet: root.attrs['crm_feature_set'],
    noQuorumPanic: isTrue(root.attrs['no-quorum-panic']),
    executionDate: exec !== undefined && /^\d+$/.test(exec) ? parseInt(exec, 10) : undefined,
    nodes, resources, locations, colocations, orders, tickets, ticketStates: parseTicketStates(root),
    rscDefaults: nvSets(child(configuration, 'rsc_defaults'), 'meta_attributes', idx),
    opDefaults: nvSets(child(configuration, 'op_defaults'), 'meta_attributes', idx),
    warnings,
  };
}

export function parseCib(text: string, source = 'CIB'): { root: XmlElement; config: CibConfig } {
  const root = parseXml(text, source);
  return { root, config: parseCibConfig(root) };
}

export { INFINITY };
