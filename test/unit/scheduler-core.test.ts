import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCib } from '../../src/scheduler/cib/parse.js';
import { INFINITY, addScores, parseDurationMs, parseScore } from '../../src/scheduler/score.js';
import { schedule, simulate } from '../../src/scheduler/simulate.js';
import { parseStatus } from '../../src/scheduler/status/parse-status.js';
import { CibError } from '../../src/scheduler/xml.js';

test('score arithmetic saturates and -INFINITY wins', () => {
  assert.equal(addScores(INFINITY, -INFINITY), -INFINITY);
  assert.equal(addScores(999_999, 5), INFINITY);
  assert.equal(addScores(-999_999, -5), -INFINITY);
  assert.equal(addScores(10, -3), 7);
  assert.equal(parseScore('+INFINITY'), INFINITY);
  assert.equal(parseScore('-INFINITY'), -INFINITY);
  assert.equal(parseScore('5000000'), INFINITY);
  assert.equal(parseScore('abc'), undefined);
  assert.equal(parseDurationMs('10s'), 10_000);
  assert.equal(parseDurationMs('10'), 10_000);
  assert.equal(parseDurationMs('1min'), 60_000);
  assert.equal(parseDurationMs('PT1M30S'), 90_000);
  fc.assert(fc.property(fc.integer({ min: -2 * INFINITY, max: 2 * INFINITY }), fc.integer({ min: -2 * INFINITY, max: 2 * INFINITY }), (a, b) => {
    const s = addScores(a, b);
    return s >= -INFINITY && s <= INFINITY && s === addScores(b, a);
  }));
});

test('bad XML and bad constraints are reported with the element and id', () => {
  assert.throws(() => parseCib('<cib><configuration>', 'x.xml'), (e: unknown) => e instanceof CibError && /x\.xml:\d+/.test(e.message));
  const bad = `<cib><configuration><crm_config/><nodes/><resources/><constraints>
    <rsc_order id="o1" first="a" then="b" kind="Sometimes"/></constraints></configuration><status/></cib>`;
  // Like Pacemaker, an unknown order kind is a configuration warning, not a fatal error.
  assert.ok(parseCib(bad).config.warnings.some((w) => /rsc_order id="o1".*kind "Sometimes"/.test(w)));
  const noScore = `<cib><configuration><crm_config/><nodes/><resources/><constraints>
    <rsc_location id="l1" rsc="a" node="n1"/></constraints></configuration><status/></cib>`;
  assert.throws(() => parseCib(noScore), /rsc_location id="l1".*needs a score/);
});

function cib(nodes: number, rscs: { id: string; bans: number[]; prefer?: number }[], running: Record<string, number> = {}): string {
  const ns = Array.from({ length: nodes }, (_, i) => `<node id="n${i}" uname="n${i}" type="member"/>`).join('');
  const rs = rscs.map((r) => `<primitive id="${r.id}" class="ocf" provider="heartbeat" type="Dummy"/>`).join('');
  const cons = rscs.flatMap((r) => [
    ...r.bans.map((b) => `<rsc_location id="ban-${r.id}-${b}" rsc="${r.id}" node="n${b}" score="-INFINITY"/>`),
    ...(r.prefer !== undefined ? [`<rsc_location id="pref-${r.id}" rsc="${r.id}" node="n${r.prefer}" score="100"/>`] : []),
  ]).join('');
  const states = Array.from({ length: nodes }, (_, i) => {
    const hist = Object.entries(running).filter(([, n]) => n === i).map(([id]) =>
      `<lrm_resource id="${id}" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="${id}_last_0" operation="start" interval="0" call-id="1" rc-code="0" op-status="0" transition-key="1:1:0:x"/></lrm_resource>`).join('');
    return `<node_state id="n${i}" uname="n${i}" in_ccm="true" crmd="online" join="member" expected="member"><lrm><lrm_resources>${hist}</lrm_resources></lrm></node_state>`;
  }).join('');
  return `<cib have-quorum="1"><configuration><crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
    <nodes>${ns}</nodes><resources>${rs}</resources><constraints>${cons}</constraints></configuration><status>${states}</status></cib>`;
}

test('property: a -INFINITY location is never violated and a primitive gets at most one node', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 5 }).chain((n) => fc.tuple(fc.constant(n), fc.array(fc.record({
      bans: fc.uniqueArray(fc.integer({ min: 0, max: n - 1 }), { maxLength: n }),
      prefer: fc.option(fc.integer({ min: 0, max: n - 1 }), { nil: undefined }),
      run: fc.option(fc.integer({ min: 0, max: n - 1 }), { nil: undefined }),
    }), { maxLength: 6 }))),
    ([n, specs]) => {
      const rscs = specs.map((s, i) => ({ id: `r${i}`, bans: s.bans, prefer: s.prefer }));
      const running: Record<string, number> = {};
      specs.forEach((s, i) => { if (s.run !== undefined) running[`r${i}`] = s.run; });
      const { root, config } = parseCib(cib(n, rscs, running));
      const { ws } = schedule(config, parseStatus(root), 0);
      for (const r of ws.rscs) {
        const spec = rscs.find((x) => x.id === r.id)!;
        if (r.allocatedTo) assert.ok(!spec.bans.includes(Number(r.allocatedTo.id.slice(1))), `${r.id} placed on banned ${r.allocatedTo.id}`);
        if (spec.bans.length < n) assert.ok(r.allocatedTo, `${r.id} has an allowed node but was not placed`);
      }
    },
  ), { numRuns: 150 });
});

test('a resource running on a banned node is moved, with a Move line', () => {
  const xml = cib(2, [{ id: 'web', bans: [0] }], { web: 0 });
  const r = simulate(xml, { now: 0 });
  assert.match(r.text, /\* Move\s+web\s+\( n0 -> n1 \)/);
  assert.match(r.text, /Resource action: web\s+stop on n0/);
  assert.ok(r.text.indexOf('web            stop on n0') < r.text.indexOf('start on n1'));
});

test('runSimulate prints the summary, explains a resource, and reports bad files', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { runSimulate } = await import('../../src/cli/simulate.js');
  const dir = mkdtempSync(join(tmpdir(), 'sched-cli-'));
  try {
    const file = join(dir, 'cib.xml');
    writeFileSync(file, cib(2, [{ id: 'web', bans: [0], prefer: 1 }], { web: 0 }));
    let out = '';
    let err = '';
    const rc = await runSimulate({ xml: file, explain: 'web', now: 0, out: (t) => { out += t; }, err: (t) => { err += t; } });
    assert.equal(rc, 0, err);
    assert.match(out, /Transition Summary:/);
    assert.match(out, /Why web goes where it goes/);
    assert.match(out, /n0: -INFINITY\s+location constraint ban-web-0/);
    assert.match(out, /n1: \+100\s+location constraint pref-web/);
    writeFileSync(file, '<cib><configuration>');
    err = '';
    assert.equal(await runSimulate({ xml: file, now: 0, out: () => {}, err: (t) => { err += t; } }), 65);
    assert.match(err, /cib\.xml:\d+:\d+: malformed XML/);
    assert.equal(await runSimulate({ xml: join(dir, 'missing.xml'), now: 0, out: () => {}, err: () => {} }), 66);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
