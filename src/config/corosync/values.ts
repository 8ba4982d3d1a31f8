// Value rules corosync's parser applies while reading (exec/coroparse.c): integer keys and
// their C types, enumerations, and which cmap key names are valid (icmap.c).

export type IntType = 'u8' | 'u16' | 'u32' | 'i32';

export const INT_RANGE: Record<IntType, readonly [bigint, bigint]> = {
  u8: [0n, 255n],
  u16: [0n, 65535n],
  u32: [0n, 4294967295n],
  i32: [-2147483648n, 2147483647n],
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** strtol's idea of leading white space (isspace in the C locale). */
const STRTOL_SPACE = /^[ \t\n\v\f\r]*/;

/**
 * corosync's safe_atoq: strtoll base 10 with nothing after the digits, then a range check.
 * Accepts leading white space and a sign, as strtoll does ("+5" and "010" are 5 and 10).
 */
export function parseCInteger(text: string, type: IntType): number | null {
  const m = /^([+-]?)(\d+)$/.exec(text.replace(STRTOL_SPACE, ''));
  if (!m) return null;
  const v = (m[1] === '-' ? -1n : 1n) * BigInt(m[2]!);
  if (v < INT64_MIN || v > INT64_MAX) return null;
  const [lo, hi] = INT_RANGE[type];
  return v < lo || v > hi ? null : Number(v);
}

/** corosync's str_to_ull (strtoull): a leading '-' wraps around, as in C. */
export function parseCUnsigned64(text: string): bigint | null {
  const m = /^([+-]?)(\d+)$/.exec(text.replace(STRTOL_SPACE, ''));
  if (!m) return null;
  const v = BigInt(m[2]!);
  if (v > UINT64_MAX) return null;
  return m[1] === '-' && v !== 0n ? UINT64_MAX + 1n - v : v;
}

export function intRangeMessage(key: string, type: IntType, value: string): string {
  const [lo, hi] = INT_RANGE[type];
  return `Value of key "${key}" is expected to be integer in range (${lo}..${hi}), but "${value}" was given`;
}

export function unsigned64Message(key: string, value: string): string {
  return `Value of key "${key}" is expected to be unsigned integer, but "${value}" was given`;
}

/** Integer keys matched by their full path, and the C type corosync stores them as. */
export const TYPED_PATHS: ReadonlyMap<string, IntType> = new Map<string, IntType>([
  ...[
    'version', 'nodeid', 'threads', 'token', 'token_coefficient', 'token_retransmit', 'token_warning', 'hold',
    'token_retransmits_before_loss_const', 'join', 'send_join', 'consensus', 'merge', 'downcheck',
    'fail_recv_const', 'seqno_unchanged_const', 'rrp_token_expired_timeout', 'rrp_problem_count_timeout',
    'rrp_problem_count_threshold', 'rrp_problem_count_mcast_threshold', 'rrp_autorecovery_check_timeout',
    'heartbeat_failures_allowed', 'max_network_delay', 'window_size', 'max_messages', 'miss_count_const',
    'knet_pmtud_interval', 'knet_mtu', 'knet_compression_threshold', 'netmtu',
  ].map((k): [string, IntType] => [`totem.${k}`, 'u32']),
  ['totem.knet_compression_level', 'i32'],
  ...['expected_votes', 'votes', 'last_man_standing_window', 'leaving_timeout'].map((k): [string, IntType] => [`quorum.${k}`, 'u32']),
  ...['two_node', 'expected_votes_tracking', 'allow_downscale', 'wait_for_all', 'auto_tie_breaker', 'last_man_standing'].map(
    (k): [string, IntType] => [`quorum.${k}`, 'u8'],
  ),
  ...['timeout', 'sync_timeout', 'votes'].map((k): [string, IntType] => [`quorum.device.${k}`, 'u32']),
  ['quorum.device.master_wins', 'u8'],
  ['nodelist.node.nodeid', 'u32'],
  ['nodelist.node.quorum_votes', 'u32'],
]);

/** 64-bit keys (str_to_ull). */
export const U64_PATHS: ReadonlySet<string> = new Set(['totem.config_version']);

/** Keys of a totem.interface section that corosync files under totem.interface.<linknumber>. */
export const INTERFACE_KEYS: ReadonlyMap<string, IntType | 'string'> = new Map<string, IntType | 'string'>([
  ['linknumber', 'u8'],
  ['bindnetaddr', 'string'],
  ['mcastaddr', 'string'],
  ['broadcast', 'string'],
  ['mcastport', 'u16'],
  ['ttl', 'u8'],
  ['knet_link_priority', 'u8'],
  ['knet_ping_interval', 'u32'],
  ['knet_ping_timeout', 'u32'],
  ['knet_ping_precision', 'u32'],
  ['knet_pong_count', 'u32'],
  ['knet_transport', 'string'],
]);

interface EnumRule {
  allowed: readonly string[];
  message: string;
}

/** Enumerations corosync's parser checks on the spot, with its wording. */
export const ENUM_PATHS: ReadonlyMap<string, EnumRule> = new Map<string, EnumRule>([
  ['totem.ip_version', { allowed: ['ipv4', 'ipv6', 'ipv6-4', 'ipv4-6'], message: 'Invalid ip_version type' }],
  ['totem.crypto_model', { allowed: ['nss', 'openssl'], message: 'Invalid crypto model. Should be nss or openssl' }],
  [
    'totem.crypto_cipher',
    { allowed: ['none', 'aes256', 'aes192', 'aes128'], message: 'Invalid cipher type. Should be none, aes256, aes192 or aes128' },
  ],
  [
    'totem.crypto_hash',
    {
      allowed: ['none', 'md5', 'sha1', 'sha256', 'sha384', 'sha512'],
      message: 'Invalid hash type. Should be none, md5, sha1, sha256, sha384 or sha512',
    },
  ],
  [
    'totem.knet_compression_model',
    {
      allowed: ['zlib', 'lz4', 'lz4hc', 'lzo2', 'lzma', 'bzip2', 'zstd'],
      message: 'Invalid compression model. Should be zlib, lz4, lz4hc, lzo2, lzma, bzip2 or zstd',
    },
  ],
  ['system.qb_ipc_type', { allowed: ['native', 'shm', 'socket'], message: 'Invalid system.qb_ipc_type' }],
  ['system.sched_rr', { allowed: ['yes', 'no'], message: 'Invalid system.sched_rr value' }],
  ['system.move_to_root_cgroup', { allowed: ['yes', 'no', 'auto'], message: 'Invalid system.move_to_root_cgroup' }],
  ['system.allow_knet_handle_fallback', { allowed: ['yes', 'no'], message: 'Invalid system.allow_knet_handle_fallback' }],
]);

/** icmap's rule for key names: 3..255 characters from [a-zA-Z0-9._/:-]. */
export function isValidCmapKey(key: string): boolean {
  return key.length >= 3 && key.length <= 255 && /^[a-zA-Z0-9._/:-]+$/.test(key);
}

export const cmapStoreMessage = (key: string): string => `Can't store key "${key}" into icmap, returned error is CS_ERR_NAME_TOO_LONG`;
