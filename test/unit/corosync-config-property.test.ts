// Properties of the corosync.conf reader: whatever the input, the only thing thrown is a
// CorosyncConfigError with a sane location; and layout (blank lines, comments, indentation,
// CRLF) never changes what a config means.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CorosyncConfigError, clusterConfigFrom, parseCorosyncConf } from '../../src/config/corosync/index.js';
import type { ClusterConfig } from '../../src/cluster/types.js';

function readOrRefuse(text: string): ClusterConfig | CorosyncConfigError {
  try {
    return clusterConfigFrom(parseCorosyncConf(text, 'p.conf'), 'p.conf');
  } catch (e) {
    if (!(e instanceof CorosyncConfigError)) throw e;
    const lineCount = text.split('\n').length;
    assert.ok(Number.isInteger(e.line) && e.line >= 0 && e.line <= lineCount, `line ${e.line} of ${lineCount}: ${e.message}`);
    assert.ok(e.message.includes(e.detail), e.message);
    assert.ok(e.message.startsWith(e.fromParser ? `parser error: p.conf:${e.line}: ` : e.line > 0 ? `p.conf:${e.line}: ` : 'p.conf: '), e.message);
    return e;
  }
}

const WORDS = [
  'totem', 'version', '2', 'nodelist', 'node', 'ring0_addr', 'ring1_addr', '127.0.0.1', 'fd00::1', 'nodeid', '1', '2', '0',
  '65536', 'name', 'quorum', 'provider', 'corosync_votequorum', 'device', 'model', 'net', 'host', 'votes', 'algorithm',
  'ffsplit', 'lms', 'two_node', 'wait_for_all', 'auto_tie_breaker', 'auto_tie_breaker_node', 'last_man_standing',
  'logging', 'logger_subsys', 'subsys', 'QUORUM', 'debug', 'on', 'interface', 'linknumber', 'mcastport', 'member',
  'memberaddr', 'uidgid', 'uid', 'token', 'consensus', 'join', 'crypto_cipher', 'crypto_hash', 'aes256', 'none',
  'secauth', 'keyfile', 'logging_daemon', 'resources', 'poll_period', '{', '}', ':', ': ', '#', '\n', '\n', '\r\n', ' ',
  '\t', '\u00a0', '-1', '+5', '4294967296', 'x'.repeat(300),
];

test('property: arbitrary text is read or refused with CorosyncConfigError', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => void readOrRefuse(s)), { numRuns: 3000 });
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void readOrRefuse(s)), { numRuns: 2000 });
  const units = fc.constantFrom(...'{}:#\n\r \t\u00a0\0abz.0123-_/'.split(''));
  fc.assert(fc.property(fc.string({ unit: units, maxLength: 300 }), (s) => void readOrRefuse(s)), { numRuns: 3000 });
});

test('property: soups of corosync words are read or refused, quickly', () => {
  const soup = fc.array(fc.constantFrom(...WORDS), { maxLength: 200 }).map((ws) => ws.join(' '));
  fc.assert(
    fc.property(soup, (text) => {
      const started = performance.now();
      readOrRefuse(text);
      assert.ok(performance.now() - started < 200, 'reading took over 200 ms');
    }),
    { numRuns: 3000 },
  );
});

/** A structurally valid config with random values in the places users type numbers and names; mostly valid ones. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>): fc.Arbitrary<T> => fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: bad });
const shapedConfig = fc
  .record({
    token: mostly(fc.integer({ min: 126, max: 200_000 }).map(String), fc.oneof(fc.integer({ min: 0, max: 200 }).map(String), fc.constantFrom('abc', '-1', '', '99999999999'))),
    nodes: fc.integer({ min: 0, max: 4 }).chain((count) =>
      fc.tuple(
        ...Array.from({ length: count }, (_, i) =>
          fc.record({
            id: mostly(fc.constant(String(i + 1)), fc.oneof(fc.integer({ min: 0, max: 70_000 }).map(String), fc.constantFrom('x', ''))),
            addr: mostly(fc.constant(`10.0.0.${i + 1}`), fc.constantFrom('10.0.0.1', 'fd00::1', 'host-a', '')),
            votes: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined, freq: 3 }),
          }),
        ),
      ),
    ),
    quorum: fc.array(
      fc.constantFrom('two_node: 1', 'wait_for_all: 0', 'wait_for_all: 1', 'auto_tie_breaker: 1', 'auto_tie_breaker_node: 1 2', 'last_man_standing: 1', 'expected_votes: 3'),
      { maxLength: 3 },
    ),
    device: fc.option(fc.constantFrom('votes: 1', 'votes: 2', 'votes: 0', ''), { nil: undefined, freq: 3 }),
  })
  .map(({ token, nodes, quorum, device }) =>
    [
      'totem {',
      ' version: 2',
      ' cluster_name: p',
      ` token: ${token}`,
      '}',
      'nodelist {',
      ...nodes.flatMap((n) => [' node {', `  nodeid: ${n.id}`, `  ring0_addr: ${n.addr}`, ...(n.votes === undefined ? [] : [`  quorum_votes: ${n.votes}`]), ' }']),
      '}',
      'quorum {',
      ' provider: corosync_votequorum',
      ...quorum.map((l) => ` ${l}`),
      ...(device === undefined ? [] : [' device {', '  model: net', `  ${device}`, '  net {', '   host: 10.0.0.9', '  }', ' }']),
      '}',
    ].join('\n'),
  );

test('property: shaped configs with random values are read or refused, and what is read is sane', () => {
  let read = 0;
  let refused = 0;
  fc.assert(
    fc.property(shapedConfig, (text) => {
      const r = readOrRefuse(text);
      if (r instanceof CorosyncConfigError) return void refused++;
      read++;
      assert.ok(r.nodes.length > 0);
      assert.equal(new Set(r.nodes.map((n) => n.nodeId)).size, r.nodes.length);
      assert.ok(r.nodes.every((n) => n.nodeId >= 1 && n.nodeId < 65536 && n.addresses.length >= 1));
      assert.ok(r.timings.tokenMs >= 30 && r.timings.consensusMs >= r.timings.joinMs);
      assert.ok(!(r.quorum.twoNode && r.arbiter), 'two_node with an arbiter was accepted');
    }),
    { numRuns: 3000 },
  );
  // Both sides of the property must have been exercised, or it proves nothing.
  assert.ok(read > 300 && refused > 300, `read ${read}, refused ${refused}`);
});

/** Re-lays a config out without changing its meaning: blank and comment lines, indentation, CRLF. */
function relayout(text: string, seed: number[], crlf: boolean): string {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    const r = seed[i % seed.length]!;
    if (r % 5 === 0) out.push('');
    if (r % 7 === 0) out.push(`${' \t'.repeat(r % 3)}# note ${r}`);
    const indent = ['', ' ', '\t', '  \t', '\u00a0'][r % 5]!;
    const trail = ['', ' ', '\t', ' \u00a0'][r % 4]!;
    out.push(line.trim() === '' ? line : indent + line.trim() + trail);
  });
  return out.join(crlf ? '\r\n' : '\n');
}

test('property: layout does not change meaning (same config, or the same refusal)', () => {
  fc.assert(
    fc.property(shapedConfig, fc.array(fc.nat(1000), { minLength: 1, maxLength: 20 }), fc.boolean(), (text, seed, crlf) => {
      const a = readOrRefuse(text);
      const b = readOrRefuse(relayout(text, seed, crlf));
      if (a instanceof CorosyncConfigError || b instanceof CorosyncConfigError) {
        assert.ok(a instanceof CorosyncConfigError && b instanceof CorosyncConfigError, `one refused, one read:\n${text}`);
        // Messages name lines, which moved; the rule that refused must be the same.
        assert.equal(a.code, b.code);
        assert.equal(a.detail.replace(/\d+/g, 'N'), b.detail.replace(/\d+/g, 'N'));
        return;
      }
      assert.deepEqual(b, a);
    }),
    { numRuns: 1500 },
  );
});
