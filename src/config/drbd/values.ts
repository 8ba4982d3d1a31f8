// Option values: DRBD numbers with unit suffixes, and the typed readers
// other modules use (optionInt / optionSize / optionBool / optionString).
//
// A DRBD number is digits with an optional suffix: K, M, G (2^10, 2^20,
// 2^30 bytes) or s (512-byte sectors). Without a suffix the number is in
// the option's own unit: resync-rate and c-*-rate in KiB/s, size,
// c-fill-target and congestion-fill in sectors, timeouts in 0.1 s or s.
// With a suffix it is converted to that unit, as drbdadm does
// (`resync-rate 10M` = 10240 KiB/s, `timeout 6K` = 6144).
import { DrbdConfigError } from './errors.js';
import type { OptionSection, OptionValue } from './model.js';
import { type NumberUnit, type OptionSpec, PLAIN, specFor } from './options-table.js';

const SUFFIX_BYTES: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, s: 512 };
const NUMBER_RE = /^(\d+)([KkMmGgs]?)$/;

/** Value of a DRBD number in `unit`, or null if `word` is not a number. */
export function numberIn(word: string, unit: NumberUnit): number | null {
  const m = NUMBER_RE.exec(word);
  if (m === null) return null;
  const n = Number(m[1]);
  const suffix = m[2]!;
  if (suffix === '') return Number.isSafeInteger(n) ? n : null;
  const bytes = n * SUFFIX_BYTES[suffix === 's' ? 's' : suffix.toUpperCase()]!;
  const v = Math.floor(bytes / unit.scale);
  return Number.isSafeInteger(v) ? v : null;
}

function unitText(unit: NumberUnit): string {
  return unit.label === '' ? '' : ` (${unit.label})`;
}

/** What a value should look like, for "expected ..." in messages. */
export function expectedForm(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'number': {
      const range = spec.min !== undefined && spec.max !== undefined ? ` in ${spec.min}..${spec.max}` : '';
      const alt = spec.or ? `${spec.or.join(', ')} or ` : '';
      return `${alt}a number${range}${unitText(spec.unit)}, optionally with a K, M, G or s suffix`;
    }
    case 'bool':
      return "'yes', 'no', or nothing (which means yes)";
    case 'enum':
      return `one of ${[...spec.values, ...(spec.prefixes ?? []).map((p) => `${p}NAME`)].join(', ')}`;
    case 'string':
      return spec.maxBytes !== undefined ? `a word or "string" of at most ${spec.maxBytes} bytes` : 'a word or "string"';
    case 'protocol':
      return 'one of A, B, C';
  }
}

/**
 * Checks one value against its spec; returns a reason it is wrong, or null.
 * `value` is undefined when the option was written without a value.
 */
export function valueProblem(spec: OptionSpec, value: string | undefined): string | null {
  if (spec.kind === 'bool') {
    return value === undefined || value === 'yes' || value === 'no' ? null : 'is not yes or no';
  }
  if (value === undefined) return 'is missing';
  switch (spec.kind) {
    case 'number': {
      if (spec.or?.includes(value)) return null;
      const n = numberIn(value, spec.unit);
      if (n === null) return 'is not a number';
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        return `is ${n}${unitText(spec.unit)}, out of range ${spec.min ?? 0}..${spec.max ?? '∞'}`;
      }
      return null;
    }
    case 'enum':
      return spec.values.includes(value) || (spec.prefixes ?? []).some((p) => value.startsWith(p) && value.length > p.length)
        ? null
        : 'is not allowed';
    case 'string':
      return spec.maxBytes !== undefined && Buffer.byteLength(value, 'utf8') > spec.maxBytes
        ? `is ${Buffer.byteLength(value, 'utf8')} bytes long`
        : null;
    case 'protocol':
      return /^[ABCabc]$/.test(value) ? null : 'is not a replication protocol';
  }
}

function badValue(key: string, v: OptionValue, spec: OptionSpec, problem: string): DrbdConfigError {
  const shown = v.words.length === 0 ? '(none)' : `'${v.words.join(' ')}'`;
  return new DrbdConfigError('DRBD_CONF_BAD_VALUE', v.valueAt ?? v.at,
    `bad value ${shown} for '${key}': it ${problem}; expected ${expectedForm(spec)}`);
}

function numberSpec(key: string): Extract<OptionSpec, { kind: 'number' }> {
  const spec = specFor(key);
  return spec?.kind === 'number' ? spec : { kind: 'number', unit: PLAIN };
}

/** Integer value in the option's own DRBD unit (e.g. KiB/s for resync-rate), or `dflt` if unset. */
export function optionInt(section: OptionSection, key: string, dflt: number): number {
  const v = section.get(key);
  if (v === undefined) return dflt;
  const spec = numberSpec(key);
  const n = v.words.length === 1 ? numberIn(v.words[0]!, spec.unit) : null;
  if (n === null) throw badValue(key, v, spec, 'is not a number');
  return n;
}

/**
 * Value in bytes (bytes per second for rates): the number in the option's
 * own unit times that unit's size. `dfltBytes` if unset. For keys with no
 * unit of their own a plain number means bytes.
 */
export function optionSize(section: OptionSection, key: string, dfltBytes: number): number {
  if (!section.has(key)) return dfltBytes;
  return optionInt(section, key, 0) * numberSpec(key).unit.scale;
}

/** `key;` and `key yes;` are true, `key no;` false, `dflt` if unset. */
export function optionBool(section: OptionSection, key: string, dflt: boolean): boolean {
  const v = section.get(key);
  if (v === undefined) return dflt;
  if (v.words.length === 0 || (v.words.length === 1 && v.words[0] === 'yes')) return true;
  if (v.words.length === 1 && v.words[0] === 'no') return false;
  throw badValue(key, v, { kind: 'bool' }, 'is not yes or no');
}

/** The single word of an option (quotes removed), or `dflt` if unset. */
export function optionString(section: OptionSection, key: string, dflt: string): string;
export function optionString(section: OptionSection, key: string, dflt: null): string | null;
export function optionString(section: OptionSection, key: string, dflt: string | null): string | null {
  const v = section.get(key);
  if (v === undefined) return dflt;
  return v.words.join(' ');
}
