// Resource templates and tags, resolved before the configuration is read:
// - a primitive with template="T" becomes the template's definition under the primitive's id,
//   with the primitive's own children added after the template's; when both have operations,
//   the template's operations fill in only names (and roles) the primitive does not define;
// - a constraint naming a template or a tag (rsc, with-rsc, first, then) is rewritten the way
//   Pacemaker does it: the reference becomes a resource set of the members, unordered
//   (sequential=false); the other side of a colocation or order becomes a one-member set, and
//   roles and actions move into the sets; tags inside resource sets are replaced in place.
import { CibError, childrenOf, describe, type XmlElement } from '../xml.js';

export interface References {
  /** Template or tag id -> the ids of its members, in document order. */
  readonly members: ReadonlyMap<string, readonly string[]>;
  readonly templates: ReadonlyMap<string, XmlElement>;
}

const el = (tag: string, attrs: Record<string, string>, children: XmlElement[] = []): XmlElement => ({ tag, attrs, children });

function without(attrs: Readonly<Record<string, string>>, ...names: string[]): Record<string, string> {
  const out: Record<string, string> = { ...attrs };
  for (const n of names) delete out[n];
  return out;
}

export function collectReferences(configuration: XmlElement, resources: XmlElement | undefined): References {
  const templates = new Map<string, XmlElement>();
  const members = new Map<string, string[]>();
  for (const t of resources ? childrenOf(resources, 'template') : []) {
    const id = t.attrs['id'];
    if (id === undefined) throw new CibError(`${describe(t)}: template has no id`);
    templates.set(id, t);
    members.set(id, []);
  }
  const walk = (e: XmlElement): void => {
    if (e.tag === 'primitive' && e.attrs['template'] !== undefined && e.attrs['id'] !== undefined) {
      members.get(e.attrs['template'])?.push(e.attrs['id']);
    }
    for (const c of e.children) walk(c);
  };
  if (resources) walk(resources);
  const tags = configuration.children.find((c) => c.tag === 'tags');
  for (const tag of tags ? childrenOf(tags, 'tag') : []) {
    const id = tag.attrs['id'];
    if (id === undefined) throw new CibError(`${describe(tag)}: tag has no id`);
    members.set(id, childrenOf(tag, 'obj_ref').map((r) => r.attrs['id'] ?? '').filter(Boolean));
  }
  return { members, templates };
}

// Operations are matched by name and role; Started and Unpromoted count as no role.
function opKey(op: XmlElement): string {
  const role = op.attrs['role'];
  const r = role === undefined || ['Started', 'Unpromoted', 'Slave'].includes(role) ? 'Unknown' : role;
  return `${op.attrs['name'] ?? ''}-${r}`;
}

function expandPrimitive(p: XmlElement, refs: References): XmlElement {
  const tid = p.attrs['template'];
  if (tid === undefined) return p;
  const template = refs.templates.get(tid);
  if (!template) throw new CibError(`${describe(p)}: template "${tid}" does not exist`);
  const own = p.children;
  const ownOps = own.find((c) => c.tag === 'operations');
  const templateOps = template.children.find((c) => c.tag === 'operations');
  let children: XmlElement[];
  if (ownOps && templateOps) {
    const defined = new Set(childrenOf(ownOps, 'op').map(opKey));
    const merged = el('operations', ownOps.attrs, [...ownOps.children, ...childrenOf(templateOps, 'op').filter((o) => !defined.has(opKey(o)))]);
    children = [...template.children.filter((c) => c !== templateOps), ...own.map((c) => (c === ownOps ? merged : c))];
  } else {
    children = [...template.children, ...own];
  }
  return el('primitive', { ...template.attrs, id: p.attrs['id'] ?? '' }, children);
}

/** The resources section with every templated primitive expanded and the templates themselves dropped. */
export function expandTemplates(resources: XmlElement, refs: References): XmlElement {
  const expand = (e: XmlElement): XmlElement =>
    e.tag === 'primitive' ? expandPrimitive(e, refs) : el(e.tag, e.attrs, e.children.map(expand));
  return el(resources.tag, resources.attrs, resources.children.filter((c) => c.tag !== 'template').map(expand));
}

function expandSets(c: XmlElement, refs: References): XmlElement[] {
  return c.children.map((s) => {
    if (s.tag !== 'resource_set') return s;
    const rscRefs = s.children.flatMap((r) => {
      const ids = r.tag === 'resource_ref' ? refs.members.get(r.attrs['id'] ?? '') : undefined;
      return ids ? ids.map((id) => el('resource_ref', { id })) : [r];
    });
    return el(s.tag, s.attrs, rscRefs);
  });
}

/** A reference turned into a set: a template's or tag's members unordered, a resource alone. */
function toSet(id: string, refs: References, extra: Record<string, string | undefined>): XmlElement {
  const ids = refs.members.get(id);
  const attrs: Record<string, string> = { id };
  if (ids) attrs['sequential'] = 'false';
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) attrs[k] = v;
  return el('resource_set', attrs, (ids ?? [id]).map((m) => el('resource_ref', { id: m })));
}

/** The constraint with template and tag references resolved; undefined when it must be ignored. */
export function expandConstraint(c: XmlElement, refs: References, warnings: string[]): XmlElement | undefined {
  const isRef = (id: string | undefined): boolean => id !== undefined && refs.members.has(id);
  const children = expandSets(c, refs);
  const a = c.attrs;
  switch (c.tag) {
    case 'rsc_location':
    case 'rsc_ticket': {
      if (!isRef(a['rsc'])) return el(c.tag, a, children);
      const roleAttr = c.tag === 'rsc_location' ? 'role' : 'rsc-role';
      return el(c.tag, without(a, 'rsc', roleAttr), [...children, toSet(a['rsc']!, refs, { role: a[roleAttr] })]);
    }
    case 'rsc_colocation': {
      if (!isRef(a['rsc']) && !isRef(a['with-rsc'])) return el(c.tag, a, children);
      if (isRef(a['rsc']) && isRef(a['with-rsc'])) {
        warnings.push(`${describe(c)}: two templates or tags cannot be colocated; ignored`);
        return undefined;
      }
      const sets = [
        toSet(a['rsc'] ?? '', refs, { role: a['rsc-role'] }),
        toSet(a['with-rsc'] ?? '', refs, { role: a['with-rsc-role'] }),
      ];
      return el(c.tag, without(a, 'rsc', 'with-rsc', 'rsc-role', 'with-rsc-role'), [...children, ...sets]);
    }
    case 'rsc_order': {
      if (!isRef(a['first']) && !isRef(a['then'])) return el(c.tag, a, children);
      const sets = [
        toSet(a['first'] ?? '', refs, { action: a['first-action'] }),
        toSet(a['then'] ?? '', refs, { action: a['then-action'] }),
      ];
      return el(c.tag, without(a, 'first', 'then', 'first-action', 'then-action'), [...children, ...sets]);
    }
    default:
      return el(c.tag, a, children);
  }
}
