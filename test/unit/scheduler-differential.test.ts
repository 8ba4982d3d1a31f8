// Random primitive-only CIBs through our scheduler and Debian's crm_simulate 2.1.5:
// the whole -S output must match (whitespace-insensitive, as upstream compares).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { crmSimulateSkip, SIMULATE_NOW, withCrmSimulate } from '../helpers/crm-simulate.js';

const NOW = SIMULATE_NOW;

interface Spec {
  nodes: { up: boolean }[];
  rscs: { stickiness: number; loc?: { node: number; score: string }; coloc?: { with: number; score: string }; after?: number; hist: number[] }[];
}

function cibFor(spec: Spec): string {
  const nn = spec.nodes.length;
  const nodes = spec.nodes.map((_, i) => `<node id="n${i}" uname="n${i}" type="member"/>`).join('');
  const rscs = spec.rscs.map((r, i) => `<primitive id="r${i}" class="ocf" provider="heartbeat" type="Dummy"><meta_attributes id="m${i}"><nvpair id="m${i}-s" name="resource-stickiness" value="${r.stickiness}"/></meta_attributes><operations><op id="r${i}-mon" name="monitor" interval="10s"/></operations></primitive>`).join('');
  let cons = '';
  spec.rscs.forEach((r, i) => {
    if (r.loc) cons += `<rsc_location id="loc-${i}" rsc="r${i}" node="n${r.loc.node % nn}" score="${r.loc.score}"/>`;
    if (r.coloc && i > 0) cons += `<rsc_colocation id="col-${i}" rsc="r${i}" with-rsc="r${r.coloc.with % i}" score="${r.coloc.score}"/>`;
    if (r.after !== undefined && i > 0) cons += `<rsc_order id="ord-${i}" first="r${r.after % i}" then="r${i}"/>`;
  });
  const states = spec.nodes.map((n, ni) => {
    const hist = spec.rscs.map((r, ri) => {
      const kind = r.hist[ni % r.hist.length]!;
      const op = kind === 1 ? ['start', 0] as const : kind === 2 ? ['monitor', 7] as const : undefined;
      if (!op) return '';
      return `<lrm_resource id="r${ri}" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="r${ri}_last_0" operation_key="r${ri}_${op[0]}_0" operation="${op[0]}" interval="0" call-id="${ri + 2}" rc-code="${op[1]}" op-status="0" transition-key="1:1:${op[1]}:x" transition-magic="0:${op[1]};1:1:${op[1]}:x" op-digest="f2317cad3d54cec5d7d7aa7d0bf35cf8"/></lrm_resource>`;
    }).join('');
    const up = n.up;
    return `<node_state id="n${ni}" uname="n${ni}" in_ccm="${up}" crmd="${up ? 'online' : 'offline'}" join="${up ? 'member' : 'down'}" expected="${up ? 'member' : 'down'}"><lrm id="n${ni}"><lrm_resources>${hist}</lrm_resources></lrm></node_state>`;
  }).join('');
  return `<cib validate-with="pacemaker-3.0" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" execution-date="${NOW}"><configuration><crm_config><cluster_property_set id="opts"><nvpair id="opts-stonith" name="stonith-enabled" value="false"/></cluster_property_set></crm_config><nodes>${nodes}</nodes><resources>${rscs}</resources><constraints>${cons}</constraints></configuration><status>${states}</status></cib>`;
}

const score = fc.constantFrom('100', '-100', 'INFINITY', '-INFINITY', '50');
const specArb: fc.Arbitrary<Spec> = fc.record({
  nodes: fc.array(fc.record({ up: fc.boolean() }), { minLength: 2, maxLength: 4 }),
  rscs: fc.array(fc.record({
    stickiness: fc.constantFrom(0, 50, 100),
    loc: fc.option(fc.record({ node: fc.nat(3), score }), { nil: undefined }),
    coloc: fc.option(fc.record({ with: fc.nat(5), score }), { nil: undefined }),
    after: fc.option(fc.nat(5), { nil: undefined }),
    hist: fc.array(fc.constantFrom(0, 1, 2), { minLength: 1, maxLength: 4 }),
  }), { minLength: 1, maxLength: 5 }),
});

test('generated primitive CIBs: our -S output equals crm_simulate 2.1.5', { skip: crmSimulateSkip }, () => {
  withCrmSimulate((expectSame) => {
    let n = 0;
    fc.assert(
      fc.property(specArb, (spec) => {
        const xml = cibFor(spec);
        expectSame(`cib-${n++}`, xml, `CIB:\n${xml}`);
      }),
      { numRuns: 25, seed: 20261125 },
    );
  });
});
