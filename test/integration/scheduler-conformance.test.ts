// Every case in the checked-in passing lists must keep passing (the lists only grow).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { defaultDataDir, readTiers, runCase } from '../../bench/scheduler-conformance.js';

function list(name: string): string[] {
  const p = `test/fixtures/scheduler/${name}`;
  return existsSync(p) ? readFileSync(p, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean) : [];
}

test('scheduler cases listed as passing still pass', () => {
  const dataDir = defaultDataDir();
  const tiers = new Map(readTiers(dataDir).map((c) => [c.name, c.tier]));
  const summaries = new Set(list('passing-summaries.txt'));
  const scores = new Set(list('passing-scores.txt'));
  assert.ok(summaries.size > 0, 'passing-summaries.txt is empty');
  const broken: string[] = [];
  for (const name of new Set([...summaries, ...scores])) {
    const r = runCase(dataDir, name, tiers.get(name) ?? '?');
    if (summaries.has(name) && !r.summary) broken.push(`${name} (summary)${r.error ? ': ' + r.error.split('\n')[0] : ''}`);
    if (scores.has(name) && !r.scores) broken.push(`${name} (scores)`);
  }
  assert.deepEqual(broken, [], `cases that used to pass now fail:\n${broken.join('\n')}`);
});
