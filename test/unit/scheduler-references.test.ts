// Attribute-set precedence, resource templates and tags, checked against Debian's
// crm_simulate 2.1.5 on small CIBs (the `-S` outputs must match).
import { test } from 'node:test';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

const online = (id: string): string =>
  `<node_state id="${id}" uname="n${id}" in_ccm="true" crmd="online" join="member" expected="member"/>`;

function cib(o: { crmConfig?: string; nodeAttrs?: string; resources: string; constraints?: string; rscDefaults?: string; tags?: string }): string {
  const crm = o.crmConfig ?? '<cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/></cluster_property_set>';
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${SIMULATE_NOW}">
<configuration><crm_config>${crm}</crm_config>
<nodes><node id="1" uname="n1">${o.nodeAttrs ?? ''}</node><node id="2" uname="n2"/></nodes>
<resources>${o.resources}</resources><constraints>${o.constraints ?? ''}</constraints>
${o.rscDefaults ? `<rsc_defaults>${o.rscDefaults}</rsc_defaults>` : ''}${o.tags ? `<tags>${o.tags}</tags>` : ''}</configuration>
<status>${online('1')}${online('2')}</status></cib>`;
}

const dummy = (id: string, body = ''): string => `<primitive id="${id}" class="ocf" provider="pacemaker" type="Dummy">${body}</primitive>`;
const meta = (id: string, pairs: [string, string][], score?: number): string =>
  `<meta_attributes id="${id}"${score === undefined ? '' : ` score="${score}"`}>${pairs.map(([k, v], i) => `<nvpair id="${id}-${i}" name="${k}" value="${v}"/>`).join('')}</meta_attributes>`;
const props = (id: string, pairs: [string, string][]): string =>
  `<cluster_property_set id="${id}">${pairs.map(([k, v], i) => `<nvpair id="${id}-${i}" name="${k}" value="${v}"/>`).join('')}</cluster_property_set>`;

test('attribute sets: score first, then the later set wins; cib-bootstrap-options always first', { skip: crmSimulateSkip }, () => {
  withCrmSimulate((expectSame) => {
    for (const [first, second] of [['Stopped', 'Started'], ['Started', 'Stopped']]) {
      expectSame(`meta ${first}/${second}`, cib({ resources: dummy('a', meta('m1', [['target-role', first!]]) + meta('m2', [['target-role', second!]])) }));
      expectSame(`scored meta ${first}/${second}`, cib({ resources: dummy('a', meta('m1', [['target-role', first!]], 10) + meta('m2', [['target-role', second!]])) }));
      expectSame(`rsc_defaults ${first}/${second}`, cib({ resources: dummy('a'), rscDefaults: meta('d1', [['target-role', first!]]) + meta('d2', [['target-role', second!]]) }));
      expectSame(`one set, repeated name ${first}/${second}`, cib({ resources: dummy('a', meta('m', [['target-role', first!], ['target-role', second!]])) }));
    }
    for (const [first, second] of [['on', 'off'], ['off', 'on']]) {
      const attrs = `<instance_attributes id="na1"><nvpair id="na1-s" name="standby" value="${first}"/></instance_attributes>` +
        `<instance_attributes id="na2"><nvpair id="na2-s" name="standby" value="${second}"/></instance_attributes>`;
      expectSame(`node standby ${first}/${second}`, cib({ nodeAttrs: attrs, resources: dummy('a'), constraints: '<rsc_location id="l" rsc="a" node="n1" score="100"/>' }));
    }
    const stonithOff: [string, string] = ['stonith-enabled', 'false'];
    for (const [first, second] of [['false', 'true'], ['true', 'false']]) {
      expectSame(`cluster options ${first}/${second}`, cib({
        crmConfig: props('o', [stonithOff]) + props('p', [['symmetric-cluster', first!]]) + props('q', [['symmetric-cluster', second!]]), resources: dummy('a'),
      }));
      expectSame(`bootstrap set after another ${first}/${second}`, cib({
        crmConfig: props('p', [['symmetric-cluster', first!]]) + props('cib-bootstrap-options', [stonithOff, ['symmetric-cluster', second!]]), resources: dummy('a'),
      }));
    }
  });
});

test('templates and tags: definitions, operations merged by name and role, constraints through references', { skip: crmSimulateSkip }, () => {
  const template = `<template id="T" class="ocf" provider="pacemaker" type="Dummy">${meta('T-meta', [['resource-stickiness', '0']])}
<operations><op id="T-mon" name="monitor" interval="10s"/><op id="T-mon-p" name="monitor" interval="11s" role="Master"/><op id="T-start" name="start" interval="0" timeout="30s"/></operations></template>`;
  const uses = `<primitive id="r1" template="T"/><primitive id="r2" template="T"><operations><op id="r2-mon" name="monitor" interval="20s"/></operations></primitive>` +
    `<primitive id="r3" template="T">${meta('r3-meta', [['target-role', 'Stopped']])}</primitive>`;
  withCrmSimulate((expectSame) => {
    expectSame('template expansion', cib({ resources: template + uses }));
    expectSame('location on a template', cib({ resources: template + uses, constraints: '<rsc_location id="l" rsc="T" node="n2" score="INFINITY"/>' }));
    expectSame('colocation with a template', cib({ resources: template + uses + dummy('x'), constraints: '<rsc_colocation id="c" rsc="x" with-rsc="T" score="INFINITY"/><rsc_location id="l" rsc="r1" node="n2" score="50"/>' }));
    expectSame('order after a tag', cib({
      resources: dummy('x') + dummy('y') + dummy('z'), tags: '<tag id="tg"><obj_ref id="y"/><obj_ref id="z"/></tag>',
      constraints: '<rsc_order id="ord" first="x" then="tg"/>',
    }));
    expectSame('tag inside a resource set', cib({
      resources: dummy('x') + dummy('y') + dummy('z'), tags: '<tag id="tg"><obj_ref id="y"/><obj_ref id="z"/></tag>',
      constraints: '<rsc_location id="l" node="n2" score="INFINITY"><resource_set id="s"><resource_ref id="x"/><resource_ref id="tg"/></resource_set></rsc_location>',
    }));
    expectSame('two templates cannot be colocated (ignored)', cib({
      resources: template + uses + '<template id="U" class="ocf" provider="pacemaker" type="Dummy"/><primitive id="u1" template="U"/>',
      constraints: '<rsc_colocation id="c" rsc="T" with-rsc="U" score="-INFINITY"/>',
    }));
  });
});
