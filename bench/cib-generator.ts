// Seeded generator of large, valid CIBs (configuration and status) for the scheduler
// benchmark: N nodes, P ocf:heartbeat:Dummy primitives with a 10 s monitor, location and
// colocation constraints, order constraints, most resources already running with history
// (start + monitor on their node, "not running" probes everywhere else), one failed monitor and
// one failed start with their fail counts, a standby node and, from 16 nodes on, a cleanly
// stopped node. Groups (optional) are small and only use what our scheduler places today.
// Same seed, same XML: the benchmark can be reproduced byte for byte.

export interface CibSpec {
  readonly nodes: number;
  readonly primitives: number;
  readonly seed: number;
  /** Put every 20th..22nd primitive into a 3-member group (our scheduler handles simple groups). */
  readonly groups?: boolean;
}

export interface GeneratedCib {
  readonly xml: string;
  readonly stats: {
    readonly nodes: number;
    readonly primitives: number;
    readonly groups: number;
    readonly locations: number;
    readonly colocations: number;
    readonly orders: number;
    readonly running: number;
    readonly historyEntries: number;
  };
}

// Pacemaker's digest of a Dummy with no parameters: with it, crm_simulate sees an unchanged
// definition (no "Restart ... due to resource definition change"). Recurring ops carry no
// digest, which Pacemaker treats as unknown, not changed.
const DUMMY_DIGEST = 'f2317cad3d54cec5d7d7aa7d0bf35cf8';

/** Fixed execution-date so that failure timestamps and "now" agree for both schedulers. */
export const BENCH_NOW = 1_760_000_000;

// mulberry32: small, fast, and the same in every Node version.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (i: number, width: number): string => String(i).padStart(width, '0');

export function generateCib(spec: CibSpec): GeneratedCib {
  if (!Number.isInteger(spec.nodes) || spec.nodes < 2) throw new Error(`nodes must be an integer >= 2, got ${spec.nodes}`);
  if (!Number.isInteger(spec.primitives) || spec.primitives < 1) throw new Error(`primitives must be an integer >= 1, got ${spec.primitives}`);
  const rand = rng(spec.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const nodeNames = Array.from({ length: spec.nodes }, (_, i) => `node${pad(i + 1, 2)}`);
  const rscNames = Array.from({ length: spec.primitives }, (_, i) => `rsc${pad(i + 1, String(spec.primitives).length)}`);

  // Node roles: the second node is in standby; from 16 nodes on the last one is cleanly down.
  const standby = new Set<number>([1]);
  const offline = new Set<number>(spec.nodes >= 16 ? [spec.nodes - 1] : []);
  const online = nodeNames.map((_, i) => i).filter((i) => !offline.has(i));

  // Groups: runs of three consecutive primitives, no constraints of their own on members.
  const groupOf = new Map<number, string>();
  const groups: { id: string; members: number[] }[] = [];
  if (spec.groups) {
    for (let i = 20; i + 2 < spec.primitives; i += 20) {
      const id = `grp${pad(groups.length + 1, 3)}`;
      groups.push({ id, members: [i, i + 1, i + 2] });
      for (const m of [i, i + 1, i + 2]) groupOf.set(m, id);
    }
  }

  // Where each resource runs now (undefined = stopped everywhere).
  // A steady cluster: 97 % running, the rest configured but stopped (probed, never started);
  // the standby node still runs three resources, which have to move.
  const placeable = online.filter((i) => !standby.has(i));
  const runningOn: (number | undefined)[] = rscNames.map((_, i) => (rand() < 0.03 ? undefined : i < 3 ? 1 : pick(placeable)));
  for (const g of groups) for (const m of g.members) runningOn[m] = runningOn[g.members[0]!];
  const failedMonitor = rscNames.findIndex((_, i) => i >= 3 && runningOn[i] !== undefined && !groupOf.has(i));
  const failedStart = rscNames.findIndex((_, i) => i > failedMonitor && runningOn[i] !== undefined && !groupOf.has(i));

  const nodesXml = nodeNames.map((n, i) => {
    const attrs = standby.has(i) ? `<instance_attributes id="${n}-attrs"><nvpair id="${n}-standby" name="standby" value="on"/></instance_attributes>` : '';
    return `<node id="${i + 1}" uname="${n}" type="member">${attrs}</node>`;
  }).join('\n');

  const primitive = (i: number): string => {
    const r = rscNames[i]!;
    const meta = rand() < 0.15 ? `<meta_attributes id="${r}-meta"><nvpair id="${r}-stickiness" name="resource-stickiness" value="${pick([0, 50, 200])}"/></meta_attributes>` : '';
    return `<primitive id="${r}" class="ocf" provider="heartbeat" type="Dummy">${meta}<operations><op id="${r}-monitor-10s" name="monitor" interval="10s"/></operations></primitive>`;
  };
  const resources: string[] = [];
  for (let i = 0; i < spec.primitives; i++) {
    const g = groups.find((x) => x.members[0] === i);
    if (g) resources.push(`<group id="${g.id}">${g.members.map(primitive).join('')}</group>`);
    else if (!groupOf.has(i)) resources.push(primitive(i));
  }

  // Constraints on primitives outside groups: 10 % locations, 5 % colocations with an
  // earlier resource, 5 % orders after an earlier resource.
  const cons: string[] = [];
  let locations = 0, colocations = 0, orders = 0;
  const free = rscNames.map((_, i) => i).filter((i) => !groupOf.has(i));
  for (const i of free) {
    const r = rscNames[i]!;
    if (rand() < 0.1) {
      cons.push(`<rsc_location id="loc-${r}" rsc="${r}" node="${pick(nodeNames)}" score="${pick(['100', '50', '-INFINITY', 'INFINITY', '-100'])}"/>`);
      locations++;
    }
    const earlier = free.filter((j) => j < i);
    if (earlier.length > 0 && rand() < 0.05) {
      cons.push(`<rsc_colocation id="col-${r}" rsc="${r}" with-rsc="${rscNames[pick(earlier.slice(-50))]}" score="${pick(['INFINITY', '100', '-100'])}"/>`);
      colocations++;
    }
    if (earlier.length > 0 && rand() < 0.05) {
      cons.push(`<rsc_order id="ord-${r}" first="${rscNames[pick(earlier.slice(-50))]}" then="${r}"/>`);
      orders++;
    }
  }

  // Status: every online node has probed every resource (a real cluster probes everything
  // everywhere), so the transition holds the changes and not thousands of probes.
  let historyEntries = 0;
  const opXml = (r: string, task: string, intervalMs: number, callId: number, rc: number): string => {
    const key = `${r}_${task}_${intervalMs}`;
    const id = intervalMs > 0 ? key : `${r}_last_0`;
    const tk = `1:1:${rc === 7 ? 7 : 0}:bench-0000`;
    return `<lrm_rsc_op id="${id}" operation_key="${key}" operation="${task}" crm_feature_set="3.16.2" transition-key="${tk}" transition-magic="0:${rc};${tk}" call-id="${callId}" rc-code="${rc}" op-status="0" interval="${intervalMs}" last-rc-change="${BENCH_NOW - 3600}" exec-time="10" queue-time="0"${intervalMs === 0 ? ` op-digest="${DUMMY_DIGEST}"` : ''}/>`;
  };
  const failId = (r: string, task: string): string => `${r}-${task}`;
  const states = nodeNames.map((n, ni) => {
    if (offline.has(ni)) return `<node_state id="${ni + 1}" uname="${n}" in_ccm="false" crmd="offline" join="down" expected="down"/>`;
    let callId = 1;
    const lrm: string[] = [];
    const transient: string[] = [];
    rscNames.forEach((r, ri) => {
      const on = runningOn[ri];
      let ops: string;
      if (on !== ni) {
        ops = opXml(r, 'monitor', 0, callId++, 7);
      } else if (ri === failedMonitor) {
        ops = opXml(r, 'start', 0, callId++, 0) + opXml(r, 'monitor', 10000, callId++, 1);
        transient.push(`<nvpair id="${failId(r, 'fc-mon')}" name="fail-count-${r}#monitor_10000" value="1"/><nvpair id="${failId(r, 'lf-mon')}" name="last-failure-${r}#monitor_10000" value="${BENCH_NOW - 60}"/>`);
      } else if (ri === failedStart) {
        ops = opXml(r, 'start', 0, callId++, 1);
        transient.push(`<nvpair id="${failId(r, 'fc-start')}" name="fail-count-${r}#start_0" value="INFINITY"/><nvpair id="${failId(r, 'lf-start')}" name="last-failure-${r}#start_0" value="${BENCH_NOW - 60}"/>`);
      } else {
        ops = opXml(r, 'start', 0, callId++, 0) + opXml(r, 'monitor', 10000, callId++, 0);
      }
      historyEntries++;
      lrm.push(`<lrm_resource id="${r}" class="ocf" provider="heartbeat" type="Dummy">${ops}</lrm_resource>`);
    });
    const ta = transient.length ? `<transient_attributes id="${ni + 1}"><instance_attributes id="status-${ni + 1}">${transient.join('')}</instance_attributes></transient_attributes>` : '';
    return `<node_state id="${ni + 1}" uname="${n}" in_ccm="true" crmd="online" join="member" expected="member">${ta}<lrm id="${ni + 1}"><lrm_resources>\n${lrm.join('\n')}\n</lrm_resources></lrm></node_state>`;
  }).join('\n');

  const xml = `<cib validate-with="pacemaker-3.7" epoch="1" num_updates="1" admin_epoch="0" have-quorum="1" dc-uuid="1" execution-date="${BENCH_NOW}">
<configuration>
<crm_config><cluster_property_set id="cib-bootstrap-options"><nvpair id="opt-stonith-enabled" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes>
${nodesXml}
</nodes>
<resources>
${resources.join('\n')}
</resources>
<constraints>
${cons.join('\n')}
</constraints>
<rsc_defaults><meta_attributes id="rsc-defaults"><nvpair id="rsc-defaults-stickiness" name="resource-stickiness" value="100"/></meta_attributes></rsc_defaults>
</configuration>
<status>
${states}
</status>
</cib>
`;
  return {
    xml,
    stats: {
      nodes: spec.nodes, primitives: spec.primitives, groups: groups.length, locations, colocations, orders,
      running: runningOn.filter((x) => x !== undefined).length, historyEntries,
    },
  };
}
