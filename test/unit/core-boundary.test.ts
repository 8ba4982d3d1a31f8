// Cores stay pure: no I/O modules, no runtime code, no clock, no randomness, no timers.
// This is the lint boundary that keeps the simulator possible.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../../../src/', import.meta.url));
const coreDirs = ['volume', 'cluster', 'scheduler', 'controller', 'sim', 'config'];
/** Adapters that live beside a core on purpose: they read files for it. */
const adapters = new Set(['sim/cli.ts', 'sim/cluster-cli.ts']);
/** node:path only computes strings; it touches nothing. */
const pureNodeModules = new Set(['node:path']);

function tsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

test('core modules import no I/O, no runtime code, and read no clock or randomness', () => {
  const problems: string[] = [];
  let checked = 0;
  for (const d of coreDirs) {
    for (const file of tsFiles(path.join(src, d))) {
      const rel = path.relative(src, file);
      if (adapters.has(rel)) continue;
      checked++;
      const text = fs.readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[1]!;
        if ((spec.startsWith('node:') && !pureNodeModules.has(spec)) || ['fs', 'net', 'child_process', 'os'].includes(spec)) {
          problems.push(`${rel}: imports ${spec}`);
        }
        if (/(^|\/)(runtime|daemon|cli)\//.test(spec)) problems.push(`${rel}: imports ${spec}`);
      }
      for (const banned of ['Date.now(', 'Math.random(', 'setTimeout(', 'setInterval(', 'process.']) {
        if (text.includes(banned)) problems.push(`${rel}: uses ${banned}`);
      }
      // new Date(value) only formats a time it was given; new Date() reads the clock.
      if (/new Date\(\s*\)/.test(text)) problems.push(`${rel}: uses new Date()`);
    }
  }
  assert.ok(checked > 10, `expected to check the core files, checked ${checked}`);
  assert.deepEqual(problems, []);
});
