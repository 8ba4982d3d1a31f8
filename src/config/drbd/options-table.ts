// What may appear inside each option section, and how its value is checked.
// Names, enumerations, default units and ranges follow drbd-utils
// (config_flags.c, drbd_limits.h); the ranges are the ones drbdadm 9.22
// itself enforces when reading a config.

/** Bytes per native unit, used by optionSize(); `label` is for messages and docs. */
export interface NumberUnit {
  scale: 1 | 512 | 1024;
  label: string;
}

export const PLAIN: NumberUnit = { scale: 1, label: '' };
export const KIB_PER_S: NumberUnit = { scale: 1024, label: 'KiB/s' };
export const SECTORS: NumberUnit = { scale: 512, label: 'sectors (512 bytes)' };
export const BYTES: NumberUnit = { scale: 1, label: 'bytes' };
export const DECISECONDS: NumberUnit = { scale: 1, label: 'units of 0.1 s' };
export const SECONDS: NumberUnit = { scale: 1, label: 'seconds' };

export type OptionSpec =
  | { kind: 'number'; unit: NumberUnit; min?: number; max?: number; or?: readonly string[] }
  | { kind: 'bool' } // `key;` (= yes), `key yes;`, `key no;`
  | { kind: 'enum'; values: readonly string[]; prefixes?: readonly string[] }
  | { kind: 'string'; maxBytes?: number }
  | { kind: 'protocol' };

export type SectionName = 'global' | 'net' | 'disk' | 'startup' | 'options' | 'handlers';

const num = (unit: NumberUnit, min?: number, max?: number): OptionSpec => ({ kind: 'number', unit, min, max });
const bool: OptionSpec = { kind: 'bool' };
const str: OptionSpec = { kind: 'string' };
const oneOf = (...values: string[]): OptionSpec => ({ kind: 'enum', values });

const fencing = oneOf('dont-care', 'resource-only', 'resource-and-stonith');
const STRIPING = ['32K-striping', '64K-striping', '128K-striping', '256K-striping', '512K-striping', '1M-striping'];
const quorumValue: OptionSpec = { kind: 'number', unit: PLAIN, min: 1, max: 32, or: ['off', 'majority', 'all'] };

export const OPTION_TABLE: Record<SectionName, ReadonlyMap<string, OptionSpec>> = {
  global: new Map<string, OptionSpec>([
    ['usage-count', oneOf('yes', 'no', 'ask')],
    ['minor-count', num(PLAIN, 1, 1048576)],
    ['dialog-refresh', num(SECONDS)],
    ['disable-ip-verification', bool],
    ['udev-always-use-vnr', bool],
    ['cmd-timeout-short', num(SECONDS)],
    ['cmd-timeout-medium', num(SECONDS)],
    ['cmd-timeout-long', num(SECONDS)],
  ]),
  net: new Map<string, OptionSpec>([
    ['protocol', { kind: 'protocol' }],
    ['cram-hmac-alg', str],
    // SHARED_SECRET_MAX in the kernel: the HMAC key is at most 64 bytes.
    ['shared-secret', { kind: 'string', maxBytes: 64 }],
    ['after-sb-0pri', { kind: 'enum', values: ['disconnect', 'discard-younger-primary', 'discard-older-primary',
      'discard-zero-changes', 'discard-least-changes', 'discard-local', 'discard-remote'], prefixes: ['discard-node-'] }],
    ['after-sb-1pri', oneOf('disconnect', 'consensus', 'violently-as0p', 'discard-secondary', 'call-pri-lost-after-sb')],
    ['after-sb-2pri', oneOf('disconnect', 'violently-as0p', 'call-pri-lost-after-sb')],
    ['always-asbp', bool],
    ['rr-conflict', oneOf('disconnect', 'violently', 'call-pri-lost', 'retry-connect', 'auto-discard')],
    ['allow-two-primaries', bool],
    ['timeout', num(DECISECONDS, 1, 600)],
    ['connect-int', num(SECONDS, 1, 120)],
    ['ping-int', num(SECONDS, 1, 120)],
    ['ping-timeout', num(DECISECONDS, 1, 300)],
    ['max-buffers', num(PLAIN, 32, 131072)],
    ['max-epoch-size', num(PLAIN, 1, 20000)],
    ['ko-count', num(PLAIN, 0, 200)],
    ['sndbuf-size', num(BYTES, 0, 10485760)],
    ['rcvbuf-size', num(BYTES, 0, 10485760)],
    ['verify-alg', str],
    ['csums-alg', str],
    ['csums-after-crash-only', bool],
    ['data-integrity-alg', str],
    ['use-rle', bool],
    ['on-congestion', oneOf('block', 'pull-ahead', 'disconnect')],
    ['congestion-fill', num(SECTORS, 0, 20971520)],
    ['congestion-extents', num(PLAIN, 67, 65534)],
    ['tcp-cork', bool],
    ['fencing', fencing], // DRBD 9 moved fencing from disk to net
    ['allow-remote-read', bool],
    ['tls', bool],
    ['transport', str],
    ['socket-check-timeout', num(DECISECONDS)],
    ['unplug-watermark', num(PLAIN)],
    ['discard-my-data', bool],
  ]),
  disk: new Map<string, OptionSpec>([
    ['on-io-error', oneOf('pass_on', 'call-local-io-error', 'detach')],
    ['fencing', fencing],
    ['resync-rate', num(KIB_PER_S, 1, 4194304)],
    ['resync-after', str],
    ['al-extents', num(PLAIN)],
    ['al-updates', bool],
    ['c-plan-ahead', num(DECISECONDS, 0, 300)],
    ['c-delay-target', num(DECISECONDS, 1, 100)],
    ['c-fill-target', num(SECTORS, 0, 1048576)],
    ['c-max-rate', num(KIB_PER_S, 250, 4194304)],
    ['c-min-rate', num(KIB_PER_S, 0, 4194304)],
    ['disk-barrier', bool],
    ['disk-flushes', bool],
    ['disk-drain', bool],
    ['md-flushes', bool],
    ['disk-timeout', num(DECISECONDS)],
    ['read-balancing', oneOf('prefer-local', 'prefer-remote', 'round-robin', 'least-pending',
      'when-congested-remote', ...STRIPING)],
    ['size', num(SECTORS)],
    ['discard-zeroes-if-aligned', bool],
    ['rs-discard-granularity', num(BYTES)],
    ['max-bio-bvecs', num(PLAIN)],
  ]),
  startup: new Map<string, OptionSpec>([
    ['wfc-timeout', num(SECONDS, 0, 300000)],
    ['degr-wfc-timeout', num(SECONDS, 0, 300000)],
    ['outdated-wfc-timeout', num(SECONDS, 0, 300000)],
    ['wait-after-sb', bool],
    ['stacked-timeouts', bool],
    ['become-primary-on', str],
  ]),
  options: new Map<string, OptionSpec>([
    ['cpu-mask', str],
    ['on-no-data-accessible', oneOf('io-error', 'suspend-io')],
    ['auto-promote', bool],
    ['quorum', quorumValue],
    ['quorum-minimum-redundancy', quorumValue],
    ['on-no-quorum', oneOf('io-error', 'suspend-io')],
    ['on-suspended-primary-outdated', oneOf('disconnect', 'force-secondary')],
    ['twopc-timeout', num(DECISECONDS)],
    ['twopc-retry-timeout', num(DECISECONDS)],
    ['peer-ack-window', num(SECTORS)],
    ['peer-ack-delay', num(PLAIN)],
    ['max-io-depth', num(PLAIN)],
  ]),
  handlers: new Map<string, OptionSpec>(
    ['fence-peer', 'unfence-peer', 'split-brain', 'initial-split-brain', 'pri-on-incon-degr',
      'pri-lost-after-sb', 'pri-lost', 'local-io-error', 'before-resync-target', 'after-resync-target',
      'before-resync-source', 'after-resync-source', 'out-of-sync', 'quorum-lost', 'disconnected',
      'emergency-reboot', 'emergency-shutdown'].map((h): [string, OptionSpec] => [h, str]),
  ),
};

/**
 * Old spellings drbdadm still reads, mapped to what they mean now:
 * `no-disk-flushes;` is `disk-flushes no;`, 8.3's `outdate-peer` handler is `fence-peer`.
 */
export const RENAMED: Partial<Record<SectionName, ReadonlyMap<string, { key: string; words: string[] }>>> = {
  disk: new Map([
    ['no-disk-barrier', { key: 'disk-barrier', words: ['no'] }],
    ['no-disk-flushes', { key: 'disk-flushes', words: ['no'] }],
    ['no-disk-drain', { key: 'disk-drain', words: ['no'] }],
    ['no-md-flushes', { key: 'md-flushes', words: ['no'] }],
  ]),
  handlers: new Map([['outdate-peer', { key: 'fence-peer', words: [] }]]),
};

/** 8.3 `syncer { }` keys and the 8.4+ section/key each one became. */
export const SYNCER_MOVES: ReadonlyMap<string, { section: 'net' | 'disk' | 'options'; key: string }> = new Map([
  ['rate', { section: 'disk', key: 'resync-rate' }],
  ['resync-rate', { section: 'disk', key: 'resync-rate' }],
  ['after', { section: 'disk', key: 'resync-after' }],
  ['resync-after', { section: 'disk', key: 'resync-after' }],
  ['al-extents', { section: 'disk', key: 'al-extents' }],
  ['c-plan-ahead', { section: 'disk', key: 'c-plan-ahead' }],
  ['c-delay-target', { section: 'disk', key: 'c-delay-target' }],
  ['c-fill-target', { section: 'disk', key: 'c-fill-target' }],
  ['c-max-rate', { section: 'disk', key: 'c-max-rate' }],
  ['c-min-rate', { section: 'disk', key: 'c-min-rate' }],
  ['verify-alg', { section: 'net', key: 'verify-alg' }],
  ['csums-alg', { section: 'net', key: 'csums-alg' }],
  ['use-rle', { section: 'net', key: 'use-rle' }],
  ['cpu-mask', { section: 'options', key: 'cpu-mask' }],
  ['on-no-data-accessible', { section: 'options', key: 'on-no-data-accessible' }],
]);

/** The spec for a key wherever it lives (keys mean the same in every section that has them). */
export function specFor(key: string): OptionSpec | undefined {
  for (const table of Object.values(OPTION_TABLE)) {
    const spec = table.get(key);
    if (spec !== undefined) return spec;
  }
  return undefined;
}
