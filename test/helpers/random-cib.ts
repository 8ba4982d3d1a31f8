// Random but valid CIBs for differential testing against crm_simulate: nodes (up, down,
// standby), primitives, groups, anonymous clones and promotable clones, location /
// colocation / order constraints, and a status section with running, stopped, failed and
// unprobed resources, fail counts and migration-threshold.
import fc from 'fast-check';

export type Feature = 'groups' | 'clones' | 'promotable' | 'failures';

export interface NodeSpec { up: boolean; standby: boolean }

/** Per node: 0 unprobed, 1 running, 2 probed stopped, 3 monitor failed (still running), 4 start failed. */
export type History = 0 | 1 | 2 | 3 | 4;

export interface TopSpec {
  kind: 'primitive' | 'group' | 'clone' | 'promotable';
  members: number;
  stickiness: number;
  migrationThreshold?: number;
  cloneMax?: number;
  loc?: { node: number; score: string };
  coloc?: { with: number; score: string };
  after?: number;
  hist: History[];
}

export interface CibSpec { nodes: NodeSpec[]; tops: TopSpec[] }

const score = fc.constantFrom('100', '-100', 'INFINITY', '-INFINITY', '50');

export function cibSpecArb(features: readonly Feature[]): fc.Arbitrary<CibSpec> {
  const kinds: TopSpec['kind'][] = ['primitive', 'primitive'];
  if (features.includes('groups')) kinds.push('group');
  if (features.includes('clones')) kinds.push('clone');
  if (features.includes('promotable')) kinds.push('promotable');
  const hist: History[] = features.includes('failures') ? [0, 1, 1, 2, 3, 4] : [0, 1, 2];
  return fc.record({
    nodes: fc.array(fc.record({ up: fc.constantFrom(true, true, true, false), standby: fc.constantFrom(false, false, false, false, true) }), { minLength: 2, maxLength: 4 }),
    tops: fc.array(fc.record({
      kind: fc.constantFrom(...kinds),
      members: fc.integer({ min: 2, max: 3 }),
      stickiness: fc.constantFrom(0, 50, 100),
      migrationThreshold: features.includes('failures') ? fc.option(fc.constantFrom(1, 2, 3), { nil: undefined }) : fc.constant(undefined),
      cloneMax: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      loc: fc.option(fc.record({ node: fc.nat(3), score }), { nil: undefined }),
      coloc: fc.option(fc.record({ with: fc.nat(5), score }), { nil: undefined }),
      after: fc.option(fc.nat(5), { nil: undefined }),
      hist: fc.array(fc.constantFrom(...hist), { minLength: 1, maxLength: 4 }),
    }), { minLength: 1, maxLength: 5 }),
  });
}

const DIGEST = 'f2317cad3d54cec5d7d7aa7d0bf35cf8'; // a parameterless Dummy

function topId(t: TopSpec, i: number): string {
  return t.kind === 'primitive' ? `r${i}` : t.kind === 'group' ? `g${i}` : `c${i}`;
}

/** The primitives a top-level resource is made of, as their history is recorded. */
function primitiveIds(t: TopSpec, i: number): string[] {
  if (t.kind === 'group') return Array.from({ length: t.members }, (_, m) => `g${i}m${m}`);
  if (t.kind === 'clone' || t.kind === 'promotable') return [`c${i}r`];
  return [`r${i}`];
}

function primitiveXml(id: string, type: string, monitors: string): string {
  return `<primitive id="${id}" class="ocf" provider="pacemaker" type="${type}"><operations>${monitors}</operations></primitive>`;
}

// Recurring ops carry no digest (Pacemaker then treats the digest as unknown, not changed).
function opXml(rsc: string, type: string, task: string, intervalMs: number, rc: number, callId: number): string {
  const key = `${rsc}_${task}_${intervalMs}`;
  const id = intervalMs > 0 ? key : `${rsc}_last_0`;
  return `<lrm_rsc_op id="${id}" operation_key="${key}" operation="${task}" interval="${intervalMs}" call-id="${callId}" rc-code="${rc}" op-status="0" ` +
    `transition-key="1:1:0:x" transition-magic="0:${rc};1:1:0:x"${intervalMs === 0 ? ` op-digest="${DIGEST}"` : ''} last-rc-change="${1_600_000_000 - 3600}" crm_feature_set="3.16.2" type="${type}"/>`;
}

export function cibFromSpec(spec: CibSpec, now: number): string {
  const nn = spec.nodes.length;
  const nodes = spec.nodes.map((n, i) =>
    `<node id="n${i}" uname="n${i}" type="member">${n.standby ? `<instance_attributes id="n${i}-a"><nvpair id="n${i}-sb" name="standby" value="on"/></instance_attributes>` : ''}</node>`).join('');
  const resources = spec.tops.map((t, i) => {
    const nv: string[] = [`<nvpair id="m${i}-s" name="resource-stickiness" value="${t.stickiness}"/>`];
    if (t.migrationThreshold !== undefined) nv.push(`<nvpair id="m${i}-mt" name="migration-threshold" value="${t.migrationThreshold}"/>`);
    if ((t.kind === 'clone' || t.kind === 'promotable') && t.cloneMax !== undefined) nv.push(`<nvpair id="m${i}-cm" name="clone-max" value="${t.cloneMax}"/>`);
    if (t.kind === 'promotable') nv.push(`<nvpair id="m${i}-p" name="promotable" value="true"/>`);
    const metaXml = `<meta_attributes id="m${i}">${nv.join('')}</meta_attributes>`;
    const mon = (id: string): string => `<op id="${id}-mon" name="monitor" interval="10s"/>`;
    if (t.kind === 'primitive') return primitiveXml(`r${i}`, 'Dummy', mon(`r${i}`)).replace('<operations>', `${metaXml}<operations>`);
    if (t.kind === 'group') return `<group id="g${i}">${metaXml}${primitiveIds(t, i).map((id) => primitiveXml(id, 'Dummy', mon(id))).join('')}</group>`;
    const type = t.kind === 'promotable' ? 'Stateful' : 'Dummy';
    const monitors = t.kind === 'promotable'
      ? `<op id="c${i}r-mon-p" name="monitor" interval="10s" role="Master"/><op id="c${i}r-mon-u" name="monitor" interval="11s" role="Slave"/>`
      : mon(`c${i}r`);
    return `<clone id="c${i}">${metaXml}${primitiveXml(`c${i}r`, type, monitors)}</clone>`;
  }).join('');
  let cons = '';
  spec.tops.forEach((t, i) => {
    const id = topId(t, i);
    if (t.loc) cons += `<rsc_location id="loc-${i}" rsc="${id}" node="n${t.loc.node % nn}" score="${t.loc.score}"/>`;
    if (t.coloc && i > 0) cons += `<rsc_colocation id="col-${i}" rsc="${id}" with-rsc="${topId(spec.tops[t.coloc.with % i]!, t.coloc.with % i)}" score="${t.coloc.score}"/>`;
    if (t.after !== undefined && i > 0) cons += `<rsc_order id="ord-${i}" first="${topId(spec.tops[t.after % i]!, t.after % i)}" then="${id}"/>`;
  });
  // A primitive or group runs on one node at most, as in a healthy cluster (multiply-active
  // resources are covered by Pacemaker's own cases); clone instances run wherever drawn.
  const runs = (k: History): boolean => k === 1 || k === 3;
  const home = spec.tops.map((t) => spec.nodes.findIndex((n, ni) => n.up && runs(t.hist[ni % t.hist.length]!)));
  const states = spec.nodes.map((n, ni) => {
    const fails: string[] = [];
    let call = 10;
    const hist = spec.tops.flatMap((t, ti) => primitiveIds(t, ti).map((rid) => {
      let kind = t.hist[ni % t.hist.length]!;
      if (runs(kind) && (t.kind === 'primitive' || t.kind === 'group') && home[ti] !== ni) kind = 2;
      const type = t.kind === 'promotable' ? 'Stateful' : 'Dummy';
      const monInterval = t.kind === 'promotable' ? 11000 : 10000;
      let ops = '';
      if (kind === 1 || kind === 3) {
        ops = opXml(rid, type, 'start', 0, 0, call++) + opXml(rid, type, 'monitor', monInterval, kind === 3 ? 1 : 0, call++);
        if (kind === 3) fails.push(`<nvpair id="f-${rid}-${ni}" name="fail-count-${rid}#monitor_${monInterval}" value="1"/><nvpair id="l-${rid}-${ni}" name="last-failure-${rid}#monitor_${monInterval}" value="${now - 60}"/>`);
      } else if (kind === 2) {
        ops = opXml(rid, type, 'monitor', 0, 7, call++);
      } else if (kind === 4) {
        ops = opXml(rid, type, 'start', 0, 1, call++);
        fails.push(`<nvpair id="f-${rid}-${ni}" name="fail-count-${rid}#start_0" value="INFINITY"/><nvpair id="l-${rid}-${ni}" name="last-failure-${rid}#start_0" value="${now - 60}"/>`);
      }
      return ops ? `<lrm_resource id="${rid}" class="ocf" provider="pacemaker" type="${type}">${ops}</lrm_resource>` : '';
    })).join('');
    const up = n.up;
    const attrs = fails.length ? `<transient_attributes id="n${ni}"><instance_attributes id="n${ni}-t">${fails.join('')}</instance_attributes></transient_attributes>` : '';
    return `<node_state id="n${ni}" uname="n${ni}" in_ccm="${up}" crmd="${up ? 'online' : 'offline'}" join="${up ? 'member' : 'down'}" expected="${up ? 'member' : 'down'}">${attrs}<lrm id="n${ni}"><lrm_resources>${up ? hist : ''}</lrm_resources></lrm></node_state>`;
  }).join('');
  return `<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${now}"><configuration><crm_config><cluster_property_set id="opts"><nvpair id="opts-stonith" name="stonith-enabled" value="false"/></cluster_property_set></crm_config><nodes>${nodes}</nodes><resources>${resources}</resources><constraints>${cons}</constraints></configuration><status>${states}</status></cib>`;
}
