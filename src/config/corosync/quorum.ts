// The quorum section and its device, with votequorum's start-up checks (exec/votequorum.c
// votequorum_readconfig) and corosync-qdevice's rules for model net. Corosync only applies
// these when the daemon starts, and quietly switches some features off; we refuse instead,
// naming the line, because a quorum rule the operator did not get is a safety problem.

import type { ArbiterOptions, AutoTieBreakerNode, QuorumOptions } from '../../cluster/types.js';
import type { ConfiguredNode } from './nodelist.js';
import { parseCInteger } from './values.js';
import { ConfigView, q } from './view.js';

export const DEFAULT_LAST_MAN_STANDING_WINDOW_MS = 10_000;
export const DEFAULT_ARBITER_PORT = 5403;
export const QUORUM_PROVIDER = 'corosync_votequorum';

export function readQuorum(v: ConfigView, nodes: ConfiguredNode[]): { quorum: QuorumOptions; arbiter: ArbiterOptions | null } {
  const provider = v.str('quorum.provider');
  if (provider === null) {
    v.fail(
      'COROSYNC_CONF_UNSUPPORTED',
      v.lineOf(null, 'quorum'),
      `quorum.provider is not set: corosync would then run without quorum, which our engine never does; set provider: ${QUORUM_PROVIDER} in the quorum section`,
    );
  }
  if (provider !== QUORUM_PROVIDER) {
    v.fail('COROSYNC_CONF_UNSUPPORTED', v.lineOf('quorum.provider'), `quorum provider ${q(provider)} is not supported; expected ${QUORUM_PROVIDER}`);
  }
  for (const key of ['allow_downscale', 'expected_votes_tracking']) {
    if (v.flag(`quorum.${key}`)) {
      v.fail('COROSYNC_CONF_UNSUPPORTED', v.lineOf(`quorum.${key}`), `quorum.${key} is not supported by our engine; remove it or set it to 0`);
    }
  }

  const expected = v.int('quorum.expected_votes');
  const twoNode = v.flag('quorum.two_node') ?? false;
  const explicitWaitForAll = v.flag('quorum.wait_for_all');
  const quorum: QuorumOptions = {
    expectedVotes: expected === null || expected === 0 ? null : expected,
    twoNode,
    waitForAll: explicitWaitForAll ?? twoNode,
    lastManStanding: v.flag('quorum.last_man_standing') ?? false,
    lastManStandingWindowMs: v.int('quorum.last_man_standing_window') ?? DEFAULT_LAST_MAN_STANDING_WINDOW_MS,
    autoTieBreaker: v.flag('quorum.auto_tie_breaker') ?? false,
    autoTieBreakerNode: readTieBreakerNode(v, nodes),
  };
  const arbiter = readArbiter(v, nodes, quorum);
  checkCombinations(v, nodes, quorum, arbiter);
  return { quorum, arbiter };
}

/** `lowest` (default), `highest`, or node ids separated by blanks, each in the nodelist. */
function readTieBreakerNode(v: ConfigView, nodes: ConfiguredNode[]): AutoTieBreakerNode {
  const key = 'quorum.auto_tie_breaker_node';
  const text = v.str(key);
  if (text === null || text === 'lowest') return 'lowest';
  if (text === 'highest') return 'highest';
  const ids: number[] = [];
  const known = nodes.map((n) => n.nodeId);
  for (const word of text.split(/[ \t\u00a0]+/)) {
    const id = parseCInteger(word, 'u32');
    if (id === null || id === 0) {
      v.fail(
        'COROSYNC_CONF_BAD_VALUE',
        v.lineOf(key),
        `auto_tie_breaker_node is ${q(text)}: expected lowest, highest or a space-separated list of node ids (corosync would quietly disable auto_tie_breaker)`,
      );
    }
    if (!known.includes(id)) {
      v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key), `auto_tie_breaker_node lists node ${id}, which is not in the nodelist (node ids: ${known.join(', ')})`);
    }
    if (ids.includes(id)) v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf(key), `auto_tie_breaker_node lists node ${id} twice`);
    ids.push(id);
  }
  return ids;
}

function readArbiter(v: ConfigView, nodes: ConfiguredNode[], quorum: QuorumOptions): ArbiterOptions | null {
  const present = v.sections('quorum.device').length > 0 || [...v.tree.entries.keys()].some((k) => k.startsWith('quorum.device.'));
  if (!present) return null;
  const deviceLine = v.lineOf(null, 'quorum.device');
  const model = v.str('quorum.device.model');
  if (model === null) {
    v.fail(
      'COROSYNC_CONF_MISSING',
      deviceLine,
      'quorum.device has no model (corosync would ignore the whole device section); set model: net to use the arbiter',
    );
  }
  if (model !== 'net') v.fail('COROSYNC_CONF_UNSUPPORTED', v.lineOf('quorum.device.model'), `quorum.device.model ${q(model)} is not supported; expected net`);
  if (!v.str('totem.cluster_name')) {
    v.fail('COROSYNC_CONF_MISSING', v.lineOf('totem.cluster_name', 'totem'), 'a quorum device of model net needs totem.cluster_name to be set');
  }
  const host = v.str('quorum.device.net.host');
  if (!host) {
    v.fail('COROSYNC_CONF_MISSING', v.lineOf('quorum.device.net.host', 'quorum.device.net', 'quorum.device'), 'quorum.device.net.host is not set: name the address of the arbiter');
  }
  const portText = v.str('quorum.device.net.port');
  const port = portText === null ? DEFAULT_ARBITER_PORT : parseCInteger(portText, 'u16');
  if (port === null || port === 0) {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('quorum.device.net.port'), `quorum.device.net.port is ${q(portText!)}: expected a port 1..65535 (default ${DEFAULT_ARBITER_PORT})`);
  }
  const algorithm = v.str('quorum.device.net.algorithm') ?? 'ffsplit';
  if (algorithm === '2nodelms' || algorithm === 'test') {
    v.fail('COROSYNC_CONF_UNSUPPORTED', v.lineOf('quorum.device.net.algorithm'), `quorum.device.net.algorithm ${algorithm} is meant for corosync's developers and is not supported; use ffsplit or lms`);
  }
  if (algorithm !== 'ffsplit' && algorithm !== 'lms') {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('quorum.device.net.algorithm'), `quorum.device.net.algorithm is ${q(algorithm)}: expected ffsplit or lms`);
  }
  const tls = v.str('quorum.device.net.tls');
  if (tls !== null && !['on', 'off', 'required'].includes(tls)) {
    v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('quorum.device.net.tls'), `quorum.device.net.tls is ${q(tls)}: expected on, off or required`);
  }
  const tieBreaker = v.str('quorum.device.net.tie_breaker');
  if (tieBreaker !== null && tieBreaker !== 'lowest' && tieBreaker !== 'highest') {
    const id = parseCInteger(tieBreaker, 'u32');
    if (id === null || !nodes.some((n) => n.nodeId === id)) {
      v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('quorum.device.net.tie_breaker'), `quorum.device.net.tie_breaker is ${q(tieBreaker)}: expected lowest, highest or the nodeid of a node in the nodelist`);
    }
  }
  const heuristics = v.str('quorum.device.heuristics.mode');
  if (heuristics !== null && heuristics !== 'off') {
    const known = heuristics === 'on' || heuristics === 'sync';
    v.fail(
      known ? 'COROSYNC_CONF_UNSUPPORTED' : 'COROSYNC_CONF_BAD_VALUE',
      v.lineOf('quorum.device.heuristics.mode'),
      known ? `quorum.device.heuristics.mode ${heuristics}: heuristics are not supported by our arbiter; use mode: off` : `quorum.device.heuristics.mode is ${q(heuristics)}: expected off, on or sync`,
    );
  }

  const explicitVotes = v.int('quorum.device.votes');
  const allOnes = nodes.every((n) => n.votes === 1);
  if (explicitVotes === null && quorum.expectedVotes !== null) {
    v.fail('COROSYNC_CONF_MISSING', deviceLine, 'quorum.device.votes must be specified when quorum.expected_votes is set');
  }
  if (explicitVotes === null && !allOnes) {
    v.fail('COROSYNC_CONF_MISSING', deviceLine, 'quorum.device.votes must be specified when not all nodes votes 1');
  }
  if (explicitVotes === 0) v.fail('COROSYNC_CONF_BAD_VALUE', v.lineOf('quorum.device.votes'), 'quorum.device.votes is 0: the arbiter needs at least one vote');
  // votequorum's default: one vote less than the nodes have together.
  const votes = explicitVotes ?? nodes.length - 1;
  if (algorithm === 'ffsplit' && (votes !== 1 || !allOnes)) {
    v.fail(
      'COROSYNC_CONF_CONFLICT',
      v.lineOf('quorum.device.votes', 'quorum.device'),
      `algorithm ffsplit gives exactly one vote: quorum.device.votes must be 1 and every node must have 1 vote (device votes ${votes}${explicitVotes === null ? ', the default of nodes - 1' : ''})`,
    );
  }
  return { host, port, votes, algorithm };
}

function checkCombinations(v: ConfigView, nodes: ConfiguredNode[], quorum: QuorumOptions, arbiter: ArbiterOptions | null): void {
  const at = (key: string): number => v.lineOf(`quorum.${key}`, 'quorum');
  if (quorum.twoNode && arbiter) {
    v.fail('COROSYNC_CONF_CONFLICT', at('two_node'), 'two_node and quorum device cannot be configured at the same time (the arbiter already breaks the tie; remove two_node)');
  }
  if (quorum.twoNode && quorum.autoTieBreaker) {
    v.fail('COROSYNC_CONF_CONFLICT', at('auto_tie_breaker'), 'two_node and auto_tie_breaker are both specified but are not compatible (corosync would disable two_node)');
  }
  const nodelistVotes = nodes.reduce((sum, n) => sum + n.votes, 0);
  if (quorum.autoTieBreaker && nodelistVotes % 2 === 1 && !quorum.waitForAll) {
    if (quorum.lastManStanding) {
      v.fail('COROSYNC_CONF_CONFLICT', at('auto_tie_breaker'), `auto_tie_breaker & last_man_standing not available in odd sized cluster (${nodelistVotes} votes) without wait_for_all: 1`);
    }
    v.fail(
      'COROSYNC_CONF_CONFLICT',
      at('auto_tie_breaker'),
      `auto_tie_breaker needs wait_for_all: 1 when the nodes have an odd number of votes (${nodelistVotes}); corosync would disable auto_tie_breaker`,
    );
  }
  if (arbiter && quorum.lastManStanding) v.fail('COROSYNC_CONF_CONFLICT', at('last_man_standing'), 'quorum.device is not compatible with last_man_standing');
  if (arbiter && quorum.autoTieBreaker) v.fail('COROSYNC_CONF_CONFLICT', at('auto_tie_breaker'), 'quorum.device is not compatible with auto_tie_breaker');
  if (arbiter && quorum.expectedVotes !== null && quorum.expectedVotes - arbiter.votes < 2) {
    v.fail(
      'COROSYNC_CONF_CONFLICT',
      at('expected_votes'),
      `quorum.device.votes is too high or expected_votes is too low (expected_votes ${quorum.expectedVotes}, device votes ${arbiter.votes})`,
    );
  }
}
