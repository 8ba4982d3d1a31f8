// Clone notifications (meta notify=true): pre/post notify pseudo actions and the
// instances' notify operations, compared with Debian's crm_simulate 2.1.5 on
// small CIBs (starts, stops, a move, a full stop). Skipped when not installed.
import { test } from 'node:test';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

interface NodeSpec { name: string; standby?: boolean; running?: boolean }

function hist(running: boolean): string {
  const ops = running
    ? `<lrm_rsc_op id="d_start_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x"/>`
    : `<lrm_rsc_op id="d_monitor_0" operation="monitor" call-id="1" rc-code="7" op-status="0" interval="0" crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x"/>`;
  return `<lrm_resource id="d" class="ocf" provider="pacemaker" type="Dummy">${ops}</lrm_resource>`;
}

function cib(meta: Record<string, string>, nodes: NodeSpec[], extra = ''): string {
  const nv = Object.entries({ notify: 'true', ...meta }).map(([k, v]) => `<nvpair id="c-${k}" name="${k}" value="${v}"/>`).join('');
  const nodeDefs = nodes.map((n) => `<node id="${n.name.slice(1)}" uname="${n.name}">${n.standby ? `<instance_attributes id="${n.name}-a"><nvpair id="${n.name}-sb" name="standby" value="on"/></instance_attributes>` : ''}</node>`).join('');
  const states = nodes.map((n) => `<node_state id="${n.name.slice(1)}" uname="${n.name}" in_ccm="true" crmd="online" join="member" expected="member">${n.running === undefined ? '' : `<lrm id="${n.name.slice(1)}"><lrm_resources>${hist(n.running)}</lrm_resources></lrm>`}</node_state>`).join('');
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${SIMULATE_NOW}">
<configuration><crm_config><cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes>${nodeDefs}</nodes>
<resources><clone id="d-clone"><meta_attributes id="c-meta">${nv}</meta_attributes>
<primitive id="d" class="ocf" provider="pacemaker" type="Dummy"><operations><op id="d-mon" name="monitor" interval="10s"/></operations></primitive></clone>
<primitive id="p" class="ocf" provider="pacemaker" type="Dummy"/></resources>
<constraints>${extra}</constraints></configuration>
<status>${states}</status></cib>`;
}

test('clone notifications: pre/post rounds around starts and stops as crm_simulate', { skip: crmSimulateSkip }, () => {
  const cases: { name: string; xml: string }[] = [
    // Only post-start notifications: no instance is running yet.
    { name: 'fresh clone starts everywhere', xml: cib({}, [{ name: 'n1' }, { name: 'n2' }, { name: 'n3' }]) },
    // Running instances hear of the start before and after; the new one only after.
    { name: 'third instance starts', xml: cib({}, [{ name: 'n1', running: true }, { name: 'n2', running: true }, { name: 'n3', running: false }]) },
    // A stop round (no post-stop notification for the stopping instance) then a start round.
    { name: 'standby node: stop one, start one', xml: cib({ 'clone-max': '2' }, [
      { name: 'n1', running: true }, { name: 'n2', standby: true, running: true }, { name: 'n3', running: false }]) },
    { name: 'whole clone stops', xml: cib({ 'target-role': 'Stopped' }, [{ name: 'n1', running: true }, { name: 'n2', running: true }]) },
    // Nothing changes: no notifications at all.
    { name: 'steady state', xml: cib({}, [{ name: 'n1', running: true }, { name: 'n2', running: true }]) },
    // An ordering on the clone waits for the last post-notification.
    { name: 'primitive ordered after the clone', xml: cib({}, [{ name: 'n1', running: false }, { name: 'n2', running: true }],
      '<rsc_order id="o1" first="d-clone" then="p" kind="Mandatory"/>') },
  ];
  withCrmSimulate((expectSame) => {
    for (const c of cases) expectSame(c.name, c.xml);
  });
});
