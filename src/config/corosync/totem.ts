// The totem section: version, transport, crypto and timers, checked as corosync's
// totemconfig.c does at start (and `corosync -t`), but with our engine's defaults.

import type { ClusterCrypto, TotemTimings } from '../../cluster/types.js';
import { ConfigView, q } from './view.js';

/** Our defaults. Corosync 3.1 uses token 3000; we aim to notice a dead node in about a second. */
export const DEFAULT_TOKEN_MS = 1000;
export const DEFAULT_JOIN_MS = 50;
export const DEFAULT_MAX_NETWORK_DELAY_MS = 50;
export const DEFAULT_PORT = 5405;
/** corosync's MINIMUM_TIMEOUT: 3 × (1000/HZ) with HZ = 100. */
export const MINIMUM_TIMEOUT_MS = 30;
const DEFAULT_RETRANSMITS_BEFORE_LOSS = 4;
const MINIMUM_TIMEOUT_HOLD_MS = Math.trunc(MINIMUM_TIMEOUT_MS * 0.8 - 1000 / 100);

export const TRANSPORTS = ['knet', 'udpu', 'udp'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export function checkVersion(v: ConfigView): void {
  const version = v.str('totem.version');
  const why = 'This totem parser can only parse version 2 configurations.';
  if (version === null) v.fail('COROSYNC_CONF_MISSING', v.lineOf(null, 'totem'), `${why} totem.version is not set; add "version: 2" to the totem section`);
  if (version !== '2') v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('totem.version'), `${why} totem.version is ${version}, expected 2`);
}

export function readTransport(v: ConfigView): Transport {
  const t = v.str('totem.transport') ?? 'knet';
  if (!(TRANSPORTS as readonly string[]).includes(t)) {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('totem.transport'), `Invalid transport type. Should be udpu, udp or knet (totem.transport is ${q(t)})`);
  }
  const mode = v.str('totem.link_mode');
  if (mode !== null && !['active', 'passive', 'rr'].includes(mode)) {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('totem.link_mode'), `The Knet link mode ${q(mode)} specified is invalid.  It must be active, passive or rr.`);
  }
  return t as Transport;
}

/**
 * Encryption is on unless switched off: aes256 + sha256 when crypto_cipher / crypto_hash are
 * absent (corosync 3.1 defaults to none; its main branch now requires crypto as we do).
 * `secauth: off` keeps its old meaning, none/none. Explicit `none` is accepted; the daemon warns.
 */
export function readCrypto(v: ConfigView): ClusterCrypto {
  const secauth = v.str('totem.secauth');
  if (secauth !== null && secauth !== 'on' && secauth !== 'off') {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('totem.secauth'), `totem.secauth is ${q(secauth)}; expected on or off (corosync quietly reads anything but "on" as off)`);
  }
  const off = secauth === 'off';
  const cipher = (v.str('totem.crypto_cipher') ?? (off ? 'none' : 'aes256')) as ClusterCrypto['cipher'];
  const hash = (v.str('totem.crypto_hash') ?? (off ? 'none' : 'sha256')) as ClusterCrypto['hash'];
  if (cipher !== 'none' && hash === 'none') {
    v.fail(
      'COROSYNC_CONF_CONFLICT',
      v.lineOf('totem.crypto_hash', 'totem'),
      `crypto_cipher requires crypto_hash with value other than none (crypto_cipher is ${cipher}; set crypto_hash: sha256, or crypto_cipher: none)`,
    );
  }
  if (v.entry('totem.key') && (cipher !== 'none' || hash !== 'none')) {
    v.fail('COROSYNC_CONF_UNSUPPORTED', v.lineOf('totem.key'), 'an inline totem.key is not supported; put the key in a file (safeside keygen) and set keyfile: PATH');
  }
  const keyFile = v.str('totem.keyfile');
  if (keyFile === '') v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('totem.keyfile'), 'totem.keyfile is empty; expected the path of the cluster key');
  return { cipher, hash, keyFile };
}

/** A timer key: 0 or absent means "use the default", as in corosync. */
function timer(v: ConfigView, key: string): number | null {
  const n = v.int(key);
  return n === null || n === 0 ? null : n;
}

export function readTimings(v: ConfigView): TotemTimings {
  const tokenMs = timer(v, 'totem.token') ?? DEFAULT_TOKEN_MS;
  const joinMs = timer(v, 'totem.join') ?? DEFAULT_JOIN_MS;
  // (int)(float)(1.2 * token), as corosync computes it.
  const consensusMs = timer(v, 'totem.consensus') ?? Math.trunc(Math.fround(1.2 * tokenMs));
  const maxNetworkDelayMs = timer(v, 'totem.max_network_delay') ?? DEFAULT_MAX_NETWORK_DELAY_MS;
  const at = (key: string): number => v.lineOf(key, 'totem');
  const atLeast = (what: string, ms: number, key: string): void => {
    if (ms < MINIMUM_TIMEOUT_MS) {
      v.fail('COROSYNC_CONF_BAD_VALUE', at(key), `The ${what} parameter (${ms} ms) may not be less than (${MINIMUM_TIMEOUT_MS} ms).`);
    }
  };

  atLeast('max_network_delay', maxNetworkDelayMs, 'totem.max_network_delay');
  atLeast('token timeout', tokenMs, 'totem.token');
  const warning = v.int('totem.token_warning');
  if (warning !== null && warning > 100) {
    v.fail('COROSYNC_CONF_BAD_VALUE', at('totem.token_warning'), `The token warning parameter (${warning}%) must be between 0 (disabled) and 100.`);
  }
  const explicitRetransmit = timer(v, 'totem.token_retransmit');
  const retransmits = timer(v, 'totem.token_retransmits_before_loss_const') ?? DEFAULT_RETRANSMITS_BEFORE_LOSS;
  const retransmitMs = explicitRetransmit ?? Math.trunc(tokenMs / (retransmits + 0.2));
  if (retransmitMs < MINIMUM_TIMEOUT_MS) {
    if (explicitRetransmit !== null) atLeast('token retransmit timeout', retransmitMs, 'totem.token_retransmit');
    v.fail(
      'COROSYNC_CONF_BAD_VALUE',
      at('totem.token'),
      `Not appropriate token or token_retransmits_before_loss_const value set (token ${tokenMs} ms / (${retransmits} + 0.2) leaves ${retransmitMs} ms between retransmits; at least ${MINIMUM_TIMEOUT_MS} ms is needed)`,
    );
  }
  const hold = timer(v, 'totem.hold');
  if (hold !== null && hold < MINIMUM_TIMEOUT_HOLD_MS) {
    v.fail('COROSYNC_CONF_BAD_VALUE', at('totem.hold'), `The token hold timeout parameter (${hold} ms) may not be less than (${MINIMUM_TIMEOUT_HOLD_MS} ms).`);
  }
  atLeast('join timeout', joinMs, 'totem.join');
  atLeast('consensus timeout', consensusMs, v.entry('totem.consensus') ? 'totem.consensus' : 'totem.token');
  if (consensusMs < joinMs) {
    v.fail(
      'COROSYNC_CONF_CONFLICT',
      at(v.entry('totem.consensus') ? 'totem.consensus' : 'totem.join'),
      `The consensus timeout parameter (${consensusMs} ms) may not be less than join timeout (${joinMs} ms).`,
    );
  }
  const merge = timer(v, 'totem.merge');
  if (merge !== null) atLeast('merge timeout', merge, 'totem.merge');
  const downcheck = timer(v, 'totem.downcheck');
  if (downcheck !== null) atLeast('downcheck timeout', downcheck, 'totem.downcheck');
  return { tokenMs, consensusMs, joinMs, maxNetworkDelayMs };
}

/** UDP base port: link 0's mcastport, else 5405; link N uses port + N. */
export function readPort(v: ConfigView, links: number): number {
  const key = 'totem.interface.0.mcastport';
  const port = v.int(key) ?? DEFAULT_PORT;
  if (port === 0) v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key), 'mcastport 0 cannot be used: expected a UDP port 1..65535 (link N uses port + N)');
  if (port + links - 1 > 65535) {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key), `mcastport ${port} is too high for ${links} links: link N uses port + N, up to 65535`);
  }
  return port;
}
