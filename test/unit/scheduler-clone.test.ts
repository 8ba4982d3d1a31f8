// Clones of a primitive (anonymous and globally unique) scheduled by our
// scheduler and by Debian's crm_simulate 2.1.5 on the same small CIBs; the
// `-S` outputs must match (whitespace-insensitive). Skipped when not installed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

const NOW = SIMULATE_NOW;


interface NodeSpec { name: string; standby?: boolean; history: string }

/** One lrm_resource entry: a probe that found nothing, or a start (and monitor) that left it running. */
function hist(rscId: string, running: boolean, node: string): string {
  const ops = running
    ? `<lrm_rsc_op id="${rscId}_start_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x"/>`
    : `<lrm_rsc_op id="${rscId}_monitor_0" operation="monitor" call-id="1" rc-code="7" op-status="0" interval="0" crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x"/>`;
  return `<lrm_resource id="${rscId}" class="ocf" provider="pacemaker" type="Dummy">${ops}</lrm_resource>`;
}

function cib(meta: Record<string, string>, nodes: NodeSpec[], extra = ''): string {
  const nv = Object.entries(meta).map(([k, v]) => `<nvpair id="c-${k}" name="${k}" value="${v}"/>`).join('');
  const nodeDefs = nodes.map((n) => `<node id="${n.name.slice(1)}" uname="${n.name}">${n.standby ? `<instance_attributes id="${n.name}-a"><nvpair id="${n.name}-sb" name="standby" value="on"/></instance_attributes>` : ''}</node>`).join('');
  const states = nodes.map((n) => `<node_state id="${n.name.slice(1)}" uname="${n.name}" in_ccm="true" crmd="online" join="member" expected="member">${n.history ? `<lrm id="${n.name.slice(1)}"><lrm_resources>${n.history}</lrm_resources></lrm>` : ''}</node_state>`).join('');
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${NOW}">
<configuration><crm_config><cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes>${nodeDefs}</nodes>
<resources><clone id="d-clone"><meta_attributes id="c-meta">${nv}</meta_attributes>
<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="d-mon" name="monitor" interval="10s"/></operations></primitive></clone></resources>
<constraints>${extra}</constraints></configuration>
<status>${states}</status></cib>`;
}

test('anonymous and unique clones: instances, placement, status blocks and actions as crm_simulate', { skip: crmSimulateSkip }, () => {
  const cases: { name: string; xml: string }[] = [
    { name: 'fresh anonymous clone', xml: cib({}, [{ name: 'n1', history: '' }, { name: 'n2', history: '' }, { name: 'n3', history: '' }]) },
    { name: 'running on two, third node free', xml: cib({}, [
      { name: 'n1', history: hist('d', true, 'n1') }, { name: 'n2', history: hist('d', true, 'n2') }, { name: 'n3', history: hist('d', false, 'n3') }]) },
    { name: 'standby node loses its instance', xml: cib({ 'clone-max': '2' }, [
      { name: 'n1', history: hist('d', true, 'n1') }, { name: 'n2', standby: true, history: hist('d', true, 'n2') }, { name: 'n3', history: hist('d', false, 'n3') }]) },
    { name: 'banned from a node', xml: cib({}, [{ name: 'n1', history: '' }, { name: 'n2', history: '' }, { name: 'n3', history: '' }],
      '<rsc_location id="ban" rsc="d-clone" node="n2" score="-INFINITY"/>') },
    { name: 'unique clone, two per node', xml: cib({ 'globally-unique': 'true', 'clone-max': '3', 'clone-node-max': '2' }, [{ name: 'n1', history: '' }, { name: 'n2', history: '' }]) },
  ];
  withCrmSimulate((expectSame) => {
    for (const c of cases) expectSame(c.name, c.xml);
  });
});
