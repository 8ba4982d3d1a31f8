// Differential run against Debian's crm_simulate 2.1.5: random CIBs (test/helpers/random-cib.ts)
// per feature mix, our `-S` output against crm_simulate's, agreement printed per mix.
// Usage: node dist/bench/scheduler-differential.js [--runs N] [--seed S] [--mixes a,b+c,...] [--keep DIR]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { simulate } from '../src/scheduler/simulate.js';
import { cibFromSpec, cibSpecArb, type Feature } from '../test/helpers/random-cib.js';
import { normalizeSimulateText, runCrmSimulate, SIMULATE_NOW } from '../test/helpers/crm-simulate.js';

const DEFAULT_MIXES = ['primitives', 'failures', 'groups', 'groups+failures', 'clones', 'clones+groups+failures', 'promotable'];

function main(argv: string[]): number {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const runs = Number(arg('--runs') ?? 100);
  const seed = Number(arg('--seed') ?? 1);
  const mixes = (arg('--mixes') ?? DEFAULT_MIXES.join(',')).split(',');
  const keep = arg('--keep');
  const dir = mkdtempSync(join(tmpdir(), 'safeside-differential-'));
  if (keep) mkdirSync(keep, { recursive: true });
  let failedToRun = 0;
  try {
    console.log(`mix                        agree / runs   (seed ${seed})`);
    for (const mix of mixes) {
      const features = (mix === 'primitives' ? [] : mix.split('+')) as Feature[];
      const specs = fc.sample(cibSpecArb(features), { numRuns: runs, seed });
      let agree = 0;
      specs.forEach((spec, n) => {
        const xml = cibFromSpec(spec, SIMULATE_NOW);
        const file = join(dir, `${mix}-${n}.xml`);
        writeFileSync(file, xml);
        let ref: string;
        try {
          ref = runCrmSimulate(file, dir);
        } catch (e) {
          if (failedToRun++ < 3) console.error(`${mix} #${n}: crm_simulate failed: ${(e as Error).message.split('\n')[0]}`);
          return;
        }
        let ours = '';
        try { ours = simulate(xml, { now: SIMULATE_NOW }).text; } catch (e) { ours = `ERROR ${(e as Error).message}`; }
        if (normalizeSimulateText(ours) === normalizeSimulateText(ref)) { agree++; return; }
        if (keep) {
          writeFileSync(join(keep, `${mix}-${n}.xml`), xml);
          writeFileSync(join(keep, `${mix}-${n}.expected`), ref);
          writeFileSync(join(keep, `${mix}-${n}.ours`), ours);
        }
      });
      console.log(`${mix.padEnd(26)} ${String(agree).padStart(5)} / ${String(runs).padEnd(5)}  ${((100 * agree) / runs).toFixed(1)} %`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return failedToRun > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
