// Operation digests: our pure MD5 against node:crypto, our parameter digests
// against Pacemaker's own `crm_resource --digests`, and the scheduling that
// follows a changed digest (restart, reload, rescheduled monitor) against
// Debian's crm_simulate 2.1.5. The oracles are skipped when not installed.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { md5Hex } from '../../src/scheduler/digest/md5.js';
import { digestOf, parametersText } from '../../src/scheduler/digest/op-digest.js';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

const CRM_RESOURCE = '/usr/sbin/crm_resource';
const NOW = SIMULATE_NOW;

test('md5Hex equals node:crypto MD5 for any text', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
    assert.equal(md5Hex(s), createHash('md5').update(s, 'utf8').digest('hex'));
  }), { numRuns: 300, seed: 5 });
  assert.equal(md5Hex(''), 'd41d8cd98f00b204e9800998ecf8427e');
});

test('parametersText sorts attributes by name and escapes values', () => {
  assert.equal(parametersText({ b: '1', a: 'x"<&>' }), ' <parameters a="x&quot;&lt;&amp;&gt;" b="1"/>\n');
  assert.equal(parametersText({}), ' <parameters/>\n');
});

const nameArb = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);
const valueArb = fc.stringMatching(/^[A-Za-z0-9 .:/&<>"-]{0,12}$/);
const paramsArb = fc.dictionary(nameArb, valueArb, { minKeys: 0, maxKeys: 5 });

function nvpairs(id: string, params: Record<string, string>): string {
  const esc = (v: string): string => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const pairs = Object.entries(params).map(([k, v], i) => `<nvpair id="${id}-${i}" name="${k}" value="${esc(v)}"/>`).join('');
  return `<instance_attributes id="${id}">${pairs}</instance_attributes>`;
}

interface HistoryOp { task: string; interval: number; callId: number; extra: string }

function cib(params: Record<string, string>, history: HistoryOp[], monitorTimeout = '20s'): string {
  const ops = history.map((o) => `<lrm_rsc_op id="r_${o.task}_${o.interval}" operation_key="r_${o.task}_${o.interval}" operation="${o.task}" interval="${o.interval}" call-id="${o.callId}" rc-code="0" op-status="0" crm_feature_set="3.16.2" transition-key="1:1:0:x" transition-magic="0:0;1:1:0:x" ${o.extra}/>`).join('');
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${NOW}"><configuration><crm_config><cluster_property_set id="o"><nvpair id="o-s" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>` +
    `<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes><resources><primitive id="r" class="ocf" provider="heartbeat" type="Dummy">${nvpairs('r-ia', params)}` +
    `<operations><op id="r-mon" name="monitor" interval="10s" timeout="${monitorTimeout}"/></operations></primitive></resources><constraints/></configuration>` +
    `<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="1"><lrm_resources><lrm_resource id="r" class="ocf" provider="heartbeat" type="Dummy">${ops}</lrm_resource></lrm_resources></lrm></node_state>` +
    `<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"><lrm id="2"><lrm_resources><lrm_resource id="r" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="r_last_0" operation_key="r_monitor_0" operation="monitor" interval="0" call-id="1" rc-code="7" op-status="0" transition-key="1:1:7:x" transition-magic="0:7;1:1:7:x"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>`;
}

test('digestOf matches crm_resource --digests for generated parameters', { skip: !existsSync(CRM_RESOURCE) && 'crm_resource not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sched-digest-'));
  try {
    let n = 0;
    fc.assert(fc.property(paramsArb, (params) => {
      const file = join(dir, `cib-${n++}.xml`);
      writeFileSync(file, cib(params, [{ task: 'start', interval: 0, callId: 2, extra: 'op-digest="0"' }]));
      const out = execFileSync(CRM_RESOURCE, ['--digests', '-r', 'r', '-N', 'n1', '--output-as=xml'], {
        env: { ...process.env, LC_ALL: 'C', CIB_file: file }, encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'],
      });
      const m = /<digest type="all" hash="([0-9a-f]{32})"/.exec(out);
      assert.ok(m, `no digest in:\n${out}`);
      assert.equal(digestOf(params), m[1], JSON.stringify(params));
    }), { numRuns: 15, seed: 11 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});


test('changed parameters: restart, reload and rescheduled monitors as crm_simulate schedules them', { skip: crmSimulateSkip }, () => {
  const old = { ip: '10.0.0.1', port: '80' };
  const now = { ip: '10.0.0.2', port: '80' };
  const monDigest = (p: Record<string, string>, timeout: string): string => digestOf({ ...p, CRM_meta_timeout: timeout });
  const cases: { name: string; xml: string }[] = [
    { name: 'unchanged', xml: cib(now, [{ task: 'start', interval: 0, callId: 2, extra: `op-digest="${digestOf(now)}"` }, { task: 'monitor', interval: 10000, callId: 3, extra: `op-digest="${monDigest(now, '20000')}"` }]) },
    { name: 'changed, no reload support', xml: cib(now, [{ task: 'start', interval: 0, callId: 2, extra: `op-digest="${digestOf(old)}"` }, { task: 'monitor', interval: 10000, callId: 3, extra: `op-digest="${monDigest(old, '20000')}"` }]) },
    { name: 'reloadable change', xml: cib(now, [{ task: 'start', interval: 0, callId: 2, extra: `op-digest="${digestOf(old)}" op-force-restart=" port " op-restart-digest="${digestOf({ port: '80' })}"` }, { task: 'monitor', interval: 10000, callId: 3, extra: `op-digest="${monDigest(old, '20000')}"` }]) },
    { name: 'non-reloadable change', xml: cib(now, [{ task: 'start', interval: 0, callId: 2, extra: `op-digest="${digestOf(old)}" op-force-restart=" ip " op-restart-digest="${digestOf({ ip: '10.0.0.1' })}"` }]) },
    { name: 'monitor timeout changed', xml: cib(now, [{ task: 'start', interval: 0, callId: 2, extra: `op-digest="${digestOf(now)}"` }, { task: 'monitor', interval: 10000, callId: 3, extra: `op-digest="${monDigest(now, '20000')}"` }], '30s') },
  ];
  withCrmSimulate((expectSame) => {
    for (const c of cases) expectSame(c.name, c.xml);
  });
});
