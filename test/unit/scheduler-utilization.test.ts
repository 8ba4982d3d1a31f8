// Utilization-aware placement: every placement strategy, node capacities that hold one, two or
// no resources, running resources with stickiness, a standby node and a mandatory colocation,
// scheduled by our scheduler and by Debian's crm_simulate 2.1.5; the `-S` outputs must match.
import { test } from 'node:test';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

const start = (id: string): string =>
  `<lrm_resource id="${id}" class="ocf" provider="pacemaker" type="Dummy"><lrm_rsc_op id="${id}_start_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x"/></lrm_resource>`;
const util = (id: string, cpu: number, mem?: number): string =>
  `<utilization id="${id}-u"><nvpair id="${id}-u-cpu" name="cpu" value="${cpu}"/>${mem === undefined ? '' : `<nvpair id="${id}-u-mem" name="mem" value="${mem}"/>`}</utilization>`;

interface Spec {
  strategy: string;
  nodeCpu: [number, number, number];
  running: Record<string, 1 | 2 | 3>;
  standby3: boolean;
  colocate: boolean;
  stickiness: number;
}

function cib(s: Spec): string {
  const rscs = ['a', 'b', 'c', 'd'];
  const nodes = [1, 2, 3].map((i) => `<node id="${i}" uname="n${i}">${util(`n${i}`, s.nodeCpu[i - 1]!, 4)}${i === 3 && s.standby3 ? '<instance_attributes id="n3-a"><nvpair id="n3-sb" name="standby" value="on"/></instance_attributes>' : ''}</node>`).join('');
  const prims = rscs.map((r, i) => `<primitive id="${r}" class="ocf" provider="pacemaker" type="Dummy">${util(r, 1 + (i % 2), i === 3 ? 3 : undefined)}</primitive>`).join('');
  const states = [1, 2, 3].map((i) => {
    const here = rscs.filter((r) => s.running[r] === i).map(start).join('');
    return `<node_state id="${i}" uname="n${i}" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="${i}"><lrm_resources>${here}</lrm_resources></lrm></node_state>`;
  }).join('');
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${SIMULATE_NOW}">
<configuration><crm_config><cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/><nvpair id="o-p" name="placement-strategy" value="${s.strategy}"/></cluster_property_set></crm_config>
<nodes>${nodes}</nodes><resources>${prims}</resources>
<constraints>${s.colocate ? '<rsc_colocation id="c-with-b" rsc="c" with-rsc="b" score="INFINITY"/>' : ''}</constraints>
<rsc_defaults><meta_attributes id="rd"><nvpair id="rd-s" name="resource-stickiness" value="${s.stickiness}"/></meta_attributes></rsc_defaults></configuration>
<status>${states}</status></cib>`;
}

test('utilization: placement strategies and capacities as crm_simulate', { skip: crmSimulateSkip }, () => {
  const capacities: [number, number, number][] = [[2, 2, 2], [1, 3, 2], [4, 1, 0], [1, 1, 1]];
  const runnings: Record<string, 1 | 2 | 3>[] = [{}, { a: 1, b: 1 }, { b: 2, d: 3 }];
  withCrmSimulate((expectSame) => {
    for (const strategy of ['default', 'utilization', 'minimal', 'balanced']) {
      for (const nodeCpu of capacities) {
        for (const running of runnings) {
          for (const [standby3, colocate, stickiness] of [[false, false, 0], [true, true, 100]] as const) {
            const s: Spec = { strategy, nodeCpu, running, standby3, colocate, stickiness };
            expectSame(`utilization ${JSON.stringify(s)}`, cib(s));
          }
        }
      }
    }
  });
});
