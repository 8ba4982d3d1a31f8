// Datadriven scenarios: test/fixtures/resync/*.txt (format described at the top of each file).
// UPDATE_GOLDEN=1 rewrites the expected parts from the current code; review the diff.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Role, DiskState } from '../../src/volume/states.js';
import { handshakeBothEnds, describeDecision, type SyncHandshakeInput, type UuidSnapshot, type SyncDecision } from '../../src/volume/resync-decision.js';
import { DEFAULT_AFTER_SB_POLICIES, type AfterSbPolicies, type AfterSbPolicy, type RrConflictPolicy } from '../../src/volume/after-split-brain.js';

const DIR = fileURLToPath(new URL('../../../test/fixtures/resync/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Side {
  snap: UuidSnapshot;
  disk: DiskState;
  role: Role;
  discard: boolean;
}

function parseSide(text: string, where: string): Side {
  const [uuids, ...opts] = text.trim().split(/\s+/);
  const parts = (uuids ?? '').split(':');
  if (parts.length !== 4) throw new Error(`${where}: expected CURRENT:BITMAP:HIST0:HIST1, got '${uuids}'`);
  const [c, b, h0, h1] = parts.map((p) => BigInt(`0x${p}`)) as [bigint, bigint, bigint, bigint];
  const side: Side = { snap: { current: c, bitmap: b, history: [h0, h1], dirtyBits: 0, flags: 0 }, disk: DiskState.UpToDate, role: Role.Secondary, discard: false };
  for (const o of opts) {
    const [k, v = ''] = o.split('=');
    if (k === 'bits') side.snap.dirtyBits = Number(v);
    else if (k === 'flags') side.snap.flags = Number(v);
    else if (k === 'disk' && v in DiskState) side.disk = DiskState[v as keyof typeof DiskState];
    else if (k === 'role' && v in Role) side.role = Role[v as keyof typeof Role];
    else if (k === 'discard') side.discard = true;
    else throw new Error(`${where}: unknown option '${o}'`);
  }
  return side;
}

function parseOpts(text: string, where: string): { rc: boolean; policy: AfterSbPolicies } {
  const policy: AfterSbPolicies = { ...DEFAULT_AFTER_SB_POLICIES };
  let rc = false;
  for (const o of text.trim().split(/\s+/).filter(Boolean)) {
    const [k, v = ''] = o.split('=');
    if (k === 'rc') rc = true;
    else if (k === 'asbp') policy.alwaysAsbp = true;
    else if (k === '0pri') policy.afterSb0pri = v as AfterSbPolicy;
    else if (k === '1pri') policy.afterSb1pri = v as AfterSbPolicy;
    else if (k === '2pri') policy.afterSb2pri = v as AfterSbPolicy;
    else if (k === 'rr') policy.rrConflict = v as RrConflictPolicy;
    else throw new Error(`${where}: unknown option '${o}'`);
  }
  return { rc, policy };
}

const show = (d: SyncDecision): string => `${describeDecision(d)} (rule ${d.rule})`;

interface Block {
  name: string;
  input: string[];
  expected: string[];
}

function parseFile(text: string): { header: string[]; blocks: Block[] } {
  const lines = text.split('\n');
  const header: string[] = [];
  let i = 0;
  while (i < lines.length && !lines[i]!.startsWith('name:')) header.push(lines[i++]!);
  const blocks: Block[] = [];
  while (i < lines.length) {
    if (lines[i]!.trim() === '') {
      i++;
      continue;
    }
    const block: Block = { name: lines[i]!.slice('name:'.length).trim(), input: [], expected: [] };
    i++;
    while (i < lines.length && lines[i] !== '----') block.input.push(lines[i++]!);
    i++;
    while (i < lines.length && lines[i]!.trim() !== '') block.expected.push(lines[i++]!);
    blocks.push(block);
  }
  return { header, blocks };
}

function run(block: Block, where: string): string[] {
  const field = (k: string): string | undefined => block.input.find((l) => l.startsWith(`${k}:`))?.slice(k.length + 1);
  const self = parseSide(field('self') ?? '', `${where} self`);
  const peer = parseSide(field('peer') ?? '', `${where} peer`);
  const { rc, policy } = parseOpts(field('opts') ?? '', `${where} opts`);
  const input: SyncHandshakeInput = {
    self: self.snap,
    peer: peer.snap,
    selfDisk: self.disk,
    peerDisk: peer.disk,
    selfRole: self.role,
    peerRole: peer.role,
    resolveConflicts: rc,
    policy,
    selfDiscardMyData: self.discard,
    peerDiscardMyData: peer.discard,
  };
  const r = handshakeBothEnds(input);
  return [`self: ${show(r.self)}`, `peer: ${show(r.peer)}`, `verdict: ${r.verdict}`];
}

const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.txt'));

test('scenario files exist', () => assert.ok(files.length > 0));

for (const file of files) {
  const full = path.join(DIR, file);
  const { header, blocks } = parseFile(fs.readFileSync(full, 'utf8'));
  if (UPDATE) {
    const out = [...header];
    for (const b of blocks) out.push(`name: ${b.name}`, ...b.input, '----', ...run(b, `${file}: ${b.name}`), '');
    fs.writeFileSync(full, out.join('\n'));
    continue;
  }
  for (const b of blocks) {
    test(`${file}: ${b.name}`, () => assert.deepEqual(run(b, `${file}: ${b.name}`), b.expected));
  }
}
