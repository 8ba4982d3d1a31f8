// Debian's crm_simulate 2.1.5 as a live oracle: our `-S` text must equal its, compared
// the way upstream compares (white space and blank lines ignored).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate } from '../../src/scheduler/simulate.js';

export const CRM_SIMULATE = '/usr/sbin/crm_simulate';
/** "Now" for generated CIBs, which carry no execution-date of their own. */
export const SIMULATE_NOW = 1_600_000_000;

export const crmSimulateSkip: string | false = !existsSync(CRM_SIMULATE) && 'crm_simulate not installed (Debian package pacemaker-cli-utils)';

export const normalizeSimulateText = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.replace(/\s+/g, ''))
    .filter(Boolean)
    .join('\n');

/**
 * `crm_simulate -x FILE -S` output. A transition that cannot complete (some action never
 * becomes runnable) makes crm_simulate exit non-zero after printing everything; that output
 * counts. Anything else is an error.
 */
export function runCrmSimulate(file: string, shadowDir: string): string {
  try {
    return execFileSync(CRM_SIMULATE, ['-x', file, '-S'], {
      env: { ...process.env, LC_ALL: 'C', CIB_shadow_dir: shadowDir },
      encoding: 'utf8',
      timeout: 20_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const out = (e as { stdout?: string }).stdout;
    if (typeof out === 'string' && out.includes('Revised Cluster Status')) return out;
    throw e;
  }
}

/**
 * Runs `body` with a function that writes a CIB, runs crm_simulate -S on it and asserts
 * that our output is the same; the scratch directory is removed afterwards.
 */
export function withCrmSimulate(body: (expectSame: (name: string, xml: string, context?: string) => void) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'safeside-crm-simulate-'));
  try {
    body((name, xml, context) => {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.xml`);
      writeFileSync(file, xml);
      const ref = runCrmSimulate(file, dir);
      assert.equal(normalizeSimulateText(simulate(xml, { now: SIMULATE_NOW }).text), normalizeSimulateText(ref), `${name}:\n${context ?? ref}`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
