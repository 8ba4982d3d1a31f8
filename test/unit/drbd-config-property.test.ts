import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DrbdConfigError, parseDrbdConfig } from '../../src/config/drbd/index.js';

/** Parses, and if it throws, insists on a DrbdConfigError with a sane location. */
function parseOrRefuse(text: string): void {
  try {
    parseDrbdConfig(text, 'p.conf', { readFile: () => 'resource inc { }', glob: () => ['inc.res'] });
  } catch (e) {
    if (!(e instanceof DrbdConfigError)) throw e;
    assert.ok(e.line >= 1 && e.column >= 1, e.message);
    assert.ok(e.message.startsWith(`${e.file}:${e.line}:${e.column}: `), e.message);
  }
}

const GRAMMAR_WORDS = [
  'global', 'common', 'resource', 'r0', 'r1', 'on', 'alice', 'bob', 'volume', '0', '1', 'device', 'minor', '/dev/drbd0',
  'disk', '/dev/sdb', 'none', 'meta-disk', 'internal', '/dev/m[0]', '[1]', 'address', 'ipv4', 'ipv6', '10.0.0.1:7789',
  '[fd00::1]:7789', 'node-id', 'net', 'protocol', 'C', 'X', 'startup', 'wfc-timeout', '15', '10M', '6x0', 'syncer',
  'rate', 'handlers', 'fence-peer', 'options', 'quorum', 'majority', 'connection-mesh', 'hosts', 'connection', 'host',
  'path', 'floating', 'skip', 'include', '"drbd.d/*.res"', '"x.conf"', 'usage-count', 'yes', 'no', 'always-asbp',
  'shared-secret', '"secret"', 'stacked-on-top-of', 'proxy', '{', '}', ';', ';', '}', '{', '#c\n', '\n', '"unterminated',
];

test('property: arbitrary text is parsed or refused with DrbdConfigError', () => {
  fc.assert(fc.property(fc.string({ maxLength: 300 }), parseOrRefuse), { numRuns: 2000 });
  fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'{};"#[]:\n x/r0'.split('')), maxLength: 200 }), parseOrRefuse), { numRuns: 2000 });
});

test('property: token soups from grammar words are parsed or refused, quickly', () => {
  const soup = fc.array(fc.constantFrom(...GRAMMAR_WORDS), { maxLength: 120 }).map((ws) => ws.join(' '));
  fc.assert(fc.property(soup, (text) => {
    const start = process.hrtime.bigint();
    parseOrRefuse(text);
    assert.ok(process.hrtime.bigint() - start < 200_000_000n, 'parse took over 200 ms');
  }), { numRuns: 3000 });
});

test('property: valid configs with random option values never crash', () => {
  const value = fc.oneof(fc.constantFrom('10M', '0', '1', 'yes', 'no', 'C', 'detach', '999999999', '""'), fc.stringMatching(/^[a-z0-9.\/-]{1,10}$/));
  const key = fc.constantFrom('timeout', 'protocol', 'resync-rate', 'on-io-error', 'always-asbp', 'size', 'shared-secret', 'quorum', 'fencing');
  const sec = fc.constantFrom('net', 'disk', 'options', 'startup');
  fc.assert(fc.property(fc.array(fc.tuple(sec, key, value), { maxLength: 8 }), (opts) => {
    const body = opts.map(([s, k, v]) => `${s} { ${k} ${v}; }`).join('\n');
    parseOrRefuse(`resource r { ${body} on a { device minor 0; disk /dev/x; } }`);
  }), { numRuns: 1000 });
});
