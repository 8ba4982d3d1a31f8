// Operation digests as Pacemaker records them in `op-digest` and
// `op-restart-digest`: the MD5 of the operation's parameters written as one
// XML element with its attributes sorted by name.
import { parseDurationMs } from '../score.js';
import type { OpDef } from '../cib/model.js';
import type { OpRecord } from '../status/model.js';
import { md5Hex } from './md5.js';

/** Pacemaker's default operation timeout when neither the op nor op_defaults set one. */
const DEFAULT_TIMEOUT_MS = 20000;

function escapeAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
    .replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

/** The canonical text hashed for a digest: Pacemaker's unformatted dump, leading space and newline included. */
export function parametersText(params: Readonly<Record<string, string>>): string {
  const names = Object.keys(params).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const attrs = names.map((n) => ` ${n}="${escapeAttr(params[n]!)}"`).join('');
  return ` <parameters${attrs}/>\n`;
}

export function digestOf(params: Readonly<Record<string, string>>): string {
  return md5Hex(parametersText(params));
}

export interface DigestInput {
  /** The resource's instance attributes. */
  readonly params: Readonly<Record<string, string>>;
  /** The op definition the history entry was made from, if still configured. */
  readonly opDef?: OpDef;
  /** op_defaults, flattened. */
  readonly opDefaults: Readonly<Record<string, string>>;
  /** True for fence devices (their pcmk_* parameters are Pacemaker's own). */
  readonly fenceDevice: boolean;
}

/** Parameters Pacemaker itself handles for fence devices; old controllers left them out of secure digests. */
export function isFenceParam(name: string): boolean {
  if (name === 'provides' || name === 'stonith-timeout') return true;
  if (!name.startsWith('pcmk_')) return false;
  if (['pcmk_action_limit', 'pcmk_delay_base', 'pcmk_delay_max', 'pcmk_host_argument', 'pcmk_host_check', 'pcmk_host_list', 'pcmk_host_map'].includes(name)) return true;
  const rest = name.slice(5);
  const i = rest.indexOf('_');
  return i >= 0 && ['_action', '_timeout', '_retries'].includes(rest.slice(i));
}

/** Whether feature set `v` is older than `than`; an absent one counts as older only when `missingIsOlder`. */
export function olderFeatureSet(v: string | undefined, than: string, missingIsOlder = false): boolean {
  if (v === undefined) return missingIsOlder;
  const a = v.split('.').map((x) => parseInt(x, 10) || 0);
  const b = than.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  }
  return false;
}

export interface Digests {
  readonly all: string;
  /** Set when the history entry has a restart digest to compare against. */
  readonly restart?: string;
  /** A one-time action with its own instance attributes needs a restart, never a reload. */
  readonly hasOpParams: boolean;
  /** Without the secret parameters, for CIBs whose secrets were masked ("sanitized"). */
  readonly secure: string;
}

/** The digests of the parameters an operation would run with now. */
export function calculateDigests(input: DigestInput, op: OpRecord): Digests {
  const all: Record<string, string> = { ...input.params };
  const opParams = input.opDef?.params ?? {};
  Object.assign(all, opParams);
  // Of the meta-attributes only the timeout of a recurring operation counts.
  if (op.intervalMs > 0) {
    const text = input.opDef?.meta['timeout'] ?? input.opDefaults['timeout'];
    const ms = text !== undefined ? parseDurationMs(text) : undefined;
    all['CRM_meta_timeout'] = String(ms ?? DEFAULT_TIMEOUT_MS);
  }
  let restart: string | undefined;
  if (op.restartDigest !== undefined) {
    const keep = op.forceRestart;
    const restartParams: Record<string, string> = {};
    for (const [k, v] of Object.entries(all)) if (keep === undefined || keep.includes(` ${k} `)) restartParams[k] = v;
    restart = digestOf(restartParams);
  }
  const old = olderFeatureSet(op.featureSet, '3.16.0');
  const secure: Record<string, string> = old ? { ...input.params } : { ...all };
  const secret = op.secureParams ?? ' passwd password user ';
  for (const k of Object.keys(secure)) {
    if (secret.includes(` ${k} `) || (old && input.fenceDevice && isFenceParam(k))) delete secure[k];
  }
  return { all: digestOf(all), restart, hasOpParams: Object.keys(opParams).length > 0, secure: digestOf(secure) };
}

export type DigestResult = 'match' | 'restart' | 'all' | 'unknown';

/** Compares what an operation would run with now against what its history entry recorded. */
export function compareDigests(input: DigestInput, op: OpRecord): DigestResult {
  const d = calculateDigests(input, op);
  if (op.restartDigest !== undefined && d.restart !== op.restartDigest) return 'restart';
  if (op.opDigest === undefined) return 'unknown';
  if (op.opDigest !== d.all) return op.intervalMs === 0 && d.hasOpParams ? 'restart' : 'all';
  return 'match';
}

/**
 * Like compareDigests, but a change only in masked secrets counts as none, as
 * in a simulation of a sanitized CIB (crm_simulate's behaviour).
 */
export function compareDigestsSanitized(input: DigestInput, op: OpRecord): DigestResult {
  const r = compareDigests(input, op);
  if (r === 'match' || op.secureDigest === undefined) return r;
  return calculateDigests(input, op).secure === op.secureDigest ? 'match' : r;
}
