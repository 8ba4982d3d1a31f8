// Node health strategies: "#health-*" node attributes (red, yellow, green, numbers), each
// strategy and its score options, allow-unhealthy-nodes, scheduled by our scheduler and by
// Debian's crm_simulate 2.1.5 on the same CIB; the `-S` outputs must match.
import { test } from 'node:test';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

const startOp = (id: string): string =>
  `<lrm_rsc_op id="${id}_start_0" operation="start" call-id="3" rc-code="0" op-status="0" interval="0" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x"/>`;
const probeOp = (id: string): string =>
  `<lrm_rsc_op id="${id}_monitor_0" operation="monitor" call-id="1" rc-code="7" op-status="0" interval="0" crm_feature_set="3.16.2" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x"/>`;
const lrm = (id: string, running: boolean): string =>
  `<lrm_resource id="${id}" class="ocf" provider="pacemaker" type="Dummy">${running ? startOp(id) : probeOp(id)}</lrm_resource>`;

interface Case {
  strategy: string;
  /** Health attribute values on n1 (where the resources run); n2 is healthy. */
  n1: string[];
  options: Record<string, string>;
  allowUnhealthy: boolean;
}

function cib(c: Case): string {
  const opts = Object.entries({ 'stonith-enabled': 'false', 'node-health-strategy': c.strategy, ...c.options })
    .map(([k, v]) => `<nvpair id="o-${k}" name="${k}" value="${v}"/>`).join('');
  const prim = (id: string, meta = ''): string =>
    `<primitive id="${id}" class="ocf" provider="pacemaker" type="Dummy">${meta}<operations><op id="${id}-mon" name="monitor" interval="10s"/></operations></primitive>`;
  const allow = c.allowUnhealthy ? '<meta_attributes id="b-meta"><nvpair id="b-allow" name="allow-unhealthy-nodes" value="true"/></meta_attributes>' : '';
  const attrs = c.n1.map((v, i) => `<nvpair id="h${i}" name="#health-${i}" value="${v}"/>`).join('');
  const state = (id: string, body: string, transient: string): string =>
    `<node_state id="${id}" uname="n${id}" in_ccm="true" crmd="online" join="member" expected="member">` +
    `<transient_attributes id="${id}"><instance_attributes id="ta${id}">${transient}</instance_attributes></transient_attributes>` +
    `<lrm id="${id}"><lrm_resources>${body}</lrm_resources></lrm></node_state>`;
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${SIMULATE_NOW}">
<configuration><crm_config><cluster_property_set id="o">${opts}</cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources>${prim('a')}${prim('b', allow)}<group id="g">${prim('c')}${prim('d')}</group></resources>
<constraints><rsc_location id="prefer-n1" rsc="a" node="n1" score="200"/></constraints></configuration>
<status>${state('1', ['a', 'b', 'c', 'd'].map((r) => lrm(r, true)).join(''), attrs)}${state('2', ['a', 'b', 'c', 'd'].map((r) => lrm(r, false)).join(''), '')}</status></cib>`;
}

test('node health strategies as crm_simulate', { skip: crmSimulateSkip }, () => {
  const values: string[][] = [[], ['green'], ['yellow'], ['red'], ['yellow', 'green'], ['-150'], ['-50', '-60'], ['300'], ['yellow', 'red']];
  const optionSets: Record<string, string>[] = [{}, { 'node-health-red': '-300', 'node-health-yellow': '-100', 'node-health-green': '10' }];
  withCrmSimulate((expectSame) => {
    for (const strategy of ['none', 'migrate-on-red', 'only-green', 'progressive', 'custom']) {
      for (const n1 of values) {
        for (const options of strategy === 'progressive' || strategy === 'custom' ? [...optionSets, { ...optionSets[1], 'node-health-base': '100' }] : [{}]) {
          for (const allowUnhealthy of [false, true]) {
            const c: Case = { strategy, n1, options, allowUnhealthy };
            expectSame(`health ${JSON.stringify(c)}`, cib(c));
          }
        }
      }
    }
  });
});
