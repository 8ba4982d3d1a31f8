// `safeside simulate --xml FILE [--explain RSC]`: prints what crm_simulate -S prints.
import { loadCibText } from '../runtime/cib-loader.js';
import { explainResource } from '../scheduler/explain.js';
import { simulate } from '../scheduler/simulate.js';
import { CibError } from '../scheduler/xml.js';

export interface SimulateCliOptions {
  readonly xml: string;
  readonly explain?: string;
  /** Epoch seconds for "now" when the CIB has no execution-date; defaults to the clock. */
  readonly now?: number;
  readonly out?: (text: string) => void;
  readonly err?: (text: string) => void;
}

export async function runSimulate(opts: SimulateCliOptions): Promise<number> {
  const out = opts.out ?? ((t: string) => process.stdout.write(t));
  const err = opts.err ?? ((t: string) => process.stderr.write(t));
  let text: string;
  try {
    text = await loadCibText(opts.xml);
  } catch (e) {
    err(`${(e as Error).message}\n`);
    return 66;
  }
  try {
    const r = simulate(text, { now: opts.now ?? Math.floor(Date.now() / 1000) }, opts.xml);
    for (const w of r.ws.warnings) err(`${opts.xml}: warning: ${w}\n`);
    out(r.text);
    if (opts.explain !== undefined) out('\n' + explainResource(r.ws, opts.explain).join('\n') + '\n');
    return 0;
  } catch (e) {
    if (e instanceof CibError) {
      err(`${e.message}\n`);
      return 65;
    }
    throw e;
  }
}
