// Promotable clones scheduled by our scheduler and by Debian's crm_simulate 2.1.5
// on the same small CIBs: promotion scores from node attributes and role-limited
// locations, promoted-max, demotion for standby and target-role, colocation with the
// promoted role. The `-S` outputs must match. Skipped when crm_simulate is not installed.
import { test } from 'node:test';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

type State = 'none' | 'probed' | 'unpromoted' | 'promoted';

interface NodeSpec { name: string; state: State; score?: number; standby?: boolean }

const op = (id: string, task: string, call: number, rc: number, interval = 0): string =>
  `<lrm_rsc_op id="${id}" operation="${task}" call-id="${call}" rc-code="${rc}" op-status="0" interval="${interval}" crm_feature_set="3.16.2" transition-key="1:1:${rc}:x" transition-magic="0:${rc};1:1:${rc}:x"/>`;

/** The stateful instance's history on a node: probed, started, or started and promoted. */
function history(state: State): string {
  if (state === 'none') return '';
  const ops = state === 'probed' ? [op('s_monitor_0', 'monitor', 1, 7)]
    : state === 'unpromoted' ? [op('s_last_0', 'start', 2, 0), op('s_monitor_11000', 'monitor', 3, 0, 11000)]
      : [op('s_last_0', 'promote', 4, 0), op('s_monitor_10000', 'monitor', 5, 8, 10000)];
  return `<lrm_resources><lrm_resource id="s" class="ocf" provider="pacemaker" type="Stateful">${ops.join('')}</lrm_resource></lrm_resources>`;
}

function cib(meta: Record<string, string>, nodes: NodeSpec[], extra = { resources: '', constraints: '' }): string {
  const nv = Object.entries({ promotable: 'true', ...meta }).map(([k, v]) => `<nvpair id="c-${k}" name="${k}" value="${v}"/>`).join('');
  const nodeDefs = nodes.map((n) => `<node id="${n.name.slice(1)}" uname="${n.name}">${n.standby ? `<instance_attributes id="${n.name}-a"><nvpair id="${n.name}-sb" name="standby" value="on"/></instance_attributes>` : ''}</node>`).join('');
  const states = nodes.map((n) => {
    const attrs = n.score === undefined ? '' :
      `<transient_attributes id="${n.name}-t"><instance_attributes id="${n.name}-ta"><nvpair id="${n.name}-m" name="master-s" value="${n.score}"/></instance_attributes></transient_attributes>`;
    return `<node_state id="${n.name.slice(1)}" uname="${n.name}" in_ccm="true" crmd="online" join="member" expected="member">${attrs}<lrm id="${n.name.slice(1)}">${history(n.state)}</lrm></node_state>`;
  }).join('');
  return `<cib validate-with="pacemaker-3.7" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1">
<configuration><crm_config><cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes>${nodeDefs}</nodes>
<resources>${extra.resources}<clone id="ms"><meta_attributes id="c-meta">${nv}</meta_attributes>
<primitive id="s" class="ocf" provider="pacemaker" type="Stateful"><operations>
<op id="s-mon-p" name="monitor" interval="10s" role="Promoted"/><op id="s-mon-u" name="monitor" interval="11s" role="Unpromoted"/>
</operations></primitive></clone></resources>
<constraints>${extra.constraints}</constraints></configuration>
<status>${states}</status></cib>`;
}

const dummy = '<primitive id="ip" class="ocf" provider="pacemaker" type="Dummy"/>';

test('promotable clones: promotion choice, promote/demote actions and status as crm_simulate', { skip: crmSimulateSkip }, () => {
  const cases: { name: string; xml: string }[] = [
    { name: 'fresh clone, promoted by a role-limited location rule', xml: cib({}, [{ name: 'n1', state: 'none' }, { name: 'n2', state: 'none' }], {
      resources: '', constraints: '<rsc_location id="pref" rsc="ms" role="Promoted" node="n2" score="50"/>' }) },
    { name: 'the higher promotion score wins', xml: cib({}, [
      { name: 'n1', state: 'unpromoted', score: 5 }, { name: 'n2', state: 'unpromoted', score: 10 }, { name: 'n3', state: 'probed' }]) },
    { name: 'no promotion score, no promotion', xml: cib({}, [{ name: 'n1', state: 'unpromoted' }, { name: 'n2', state: 'unpromoted' }]) },
    { name: 'standby node is demoted and stopped, the other promoted', xml: cib({}, [
      { name: 'n1', state: 'promoted', score: 10, standby: true }, { name: 'n2', state: 'unpromoted', score: 5 }]) },
    { name: 'target-role Unpromoted demotes', xml: cib({ 'target-role': 'Unpromoted' }, [
      { name: 'n1', state: 'promoted', score: 10 }, { name: 'n2', state: 'unpromoted', score: 5 }]) },
    { name: 'promoted-max 2 over three nodes', xml: cib({ 'promoted-max': '2' }, [
      { name: 'n1', state: 'unpromoted', score: 5 }, { name: 'n2', state: 'unpromoted', score: 10 }, { name: 'n3', state: 'unpromoted', score: 7 }]) },
    { name: 'a primitive follows the promoted instance', xml: cib({}, [
      { name: 'n1', state: 'unpromoted', score: 5 }, { name: 'n2', state: 'unpromoted', score: 10 }], {
      resources: dummy, constraints: '<rsc_colocation id="ip-with-promoted" rsc="ip" with-rsc="ms" with-rsc-role="Promoted" score="INFINITY"/>' }) },
  ];
  withCrmSimulate((expectSame) => {
    for (const c of cases) expectSame(c.name, c.xml);
  });
});

void SIMULATE_NOW;
