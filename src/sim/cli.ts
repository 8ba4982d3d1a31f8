// `node dist/src/sim/cli.js --seed N [--seeds COUNT] [--nodes 2|3] [--protocol A|B|C] [--verbose] [--trace]`
// Prints the seed first; the same seed replays the same run.

import { runSeed, type SimOptions } from './replication-sim.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const first = Number(arg('seed') ?? Date.now() % 1_000_000);
const count = Number(arg('seeds') ?? 1);
const overrides: Partial<SimOptions> = {};
if (arg('nodes')) overrides.nodeCount = Number(arg('nodes')) as 2 | 3;
if (arg('protocol')) overrides.protocol = arg('protocol') as 'A' | 'B' | 'C';
const verbose = process.argv.includes('--verbose');
if (count === 1) overrides.logLines = 20_000;
if (process.argv.includes('--trace')) {
  overrides.trace = true;
  overrides.logLines = 50_000;
}

let failed = 0;
let steps = 0;
const started = process.hrtime.bigint();
for (let seed = first; seed < first + count; seed++) {
  if (count === 1) console.log(`seed ${seed}`);
  const r = runSeed(seed, overrides);
  steps += r.steps;
  if (!r.ok || verbose) {
    if (!r.ok) failed++;
    console.log(`seed ${seed}: ${r.ok ? 'ok' : 'FAILED'} after ${r.steps} steps, ${r.simulatedMs} simulated ms`);
    if (!r.ok) console.log(`  ${r.failure}`);
    if (verbose || count === 1) for (const line of r.log) console.log(`  | ${line}`);
    console.log(`  stats ${JSON.stringify(r.stats)}`);
    if (!r.ok) console.log(`  replay: node dist/src/sim/cli.js --seed ${seed}${overrides.nodeCount ? ` --nodes ${overrides.nodeCount}` : ''}${overrides.protocol ? ` --protocol ${overrides.protocol}` : ''}`);
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`${count} seed(s) from ${first}: ${count - failed} passed, ${failed} failed; ${steps} steps in ${seconds.toFixed(1)} s (${Math.round(steps / seconds)} steps/s)`);
process.exitCode = failed > 0 ? 1 : 0;
