import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrbdConfigError, parseDrbdConfig } from '../../src/config/drbd/index.js';

const HOSTS = 'on a { device minor 1; disk /dev/x; address 10.0.0.1:7789; } on b { device minor 1; disk /dev/x; address 10.0.0.2:7789; }';

/** Asserts a refusal with this code at line:column, and that the message has the prefix and matches `pattern`. */
function refuses(text: string, code: string, line: number, column: number, pattern: RegExp): void {
  assert.throws(() => parseDrbdConfig(text, 'e.conf'), (e: unknown) => {
    assert.ok(e instanceof DrbdConfigError, `expected DrbdConfigError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.deepEqual([e.line, e.column], [line, column], e.message);
    assert.ok(e.message.startsWith(`e.conf:${line}:${column}: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('unknown option suggests the nearest one', () => {
  refuses('resource r0 {\n  net {\n    cram-hmac-algo sha1;\n  }\n}', 'DRBD_CONF_UNKNOWN_OPTION', 3, 5,
    /unknown option 'cram-hmac-algo' in 'net' section; expected a net option or '\}'; did you mean 'cram-hmac-alg'\?/);
  refuses('resource r0 { disk { resync-rat 10M; } }', 'DRBD_CONF_UNKNOWN_OPTION', 1, 22, /did you mean 'resync-rate'\?/);
  refuses('resource r0 { net { no-such-thing-at-all 1; } }', 'DRBD_CONF_UNKNOWN_OPTION', 1, 21, /unknown option 'no-such-thing-at-all'(?!.*did you mean)/);
});

test('misspelled section keywords suggest the nearest one', () => {
  refuses('resource r0 {\n  startp { wfc-timeout 1; }\n}', 'DRBD_CONF_UNKNOWN_KEYWORD', 2, 3, /unknown keyword 'startp' in resource r0.*did you mean 'startup'\?/);
  refuses('resourse r0 { }', 'DRBD_CONF_UNKNOWN_KEYWORD', 1, 1, /unknown top-level keyword 'resourse'.*did you mean 'resource'\?/);
  refuses('resource r0 { on a { adress 10.0.0.1:7789; } }', 'DRBD_CONF_UNKNOWN_KEYWORD', 1, 22, /did you mean 'address'\?/);
});

test('unclosed sections name the section and where it was opened', () => {
  refuses('resource r0 {\n  on a {\n    device minor 1;\n  on b {\n  }\n}', 'DRBD_CONF_UNCLOSED_SECTION', 4, 3,
    /'on a' section opened at line 2, column 3 is not closed before 'on'; expected '\}'/);
  refuses('resource r0 {\n  net { timeout 60;\n', 'DRBD_CONF_UNCLOSED_SECTION', 3, 1,
    /'net' section opened at line 2, column 3 is not closed before the end of the file; expected '\}'/);
  refuses('resource r0 {\n  net { }\nresource r1 { }', 'DRBD_CONF_UNCLOSED_SECTION', 3, 1, /'resource r0' section opened at line 1, column 1/);
});

test('unterminated string points at the opening quote', () => {
  refuses('resource r0 {\n  net { shared-secret "abc; }\n}\n', 'DRBD_CONF_SYNTAX', 2, 23, /unterminated string.*expected '"'/);
});

test("missing ';' points just after the statement", () => {
  refuses('resource r0 {\n  net { timeout 60 }\n}', 'DRBD_CONF_SYNTAX', 2, 19, /missing ';' after 'timeout 60'; found '\}'/);
  refuses('resource r0 {\n  net {\n    timeout 60\n    ping-int 5;\n  }\n}', 'DRBD_CONF_SYNTAX', 3, 15, /missing ';' after 'timeout 60'; found 'ping-int' at line 4, column 5/);
  refuses('resource r0 { net { shared-secret abc def; } }', 'DRBD_CONF_SYNTAX', 1, 39, /unexpected 'def' after 'shared-secret abc'; expected ';'/);
});

test("unexpected '}' and stray punctuation", () => {
  refuses(`resource r0 { ${HOSTS} }\n}`, 'DRBD_CONF_SYNTAX', 2, 1, /unexpected '\}' at top level \(no section is open\)/);
  refuses('resource r0 { net { ; } }', 'DRBD_CONF_SYNTAX', 1, 21, /unexpected ';' in 'net' section/);
});

test('bad numbers, units and ranges', () => {
  refuses('resource r0 {\n  net { timeout 6x0; }\n}', 'DRBD_CONF_BAD_VALUE', 2, 17, /bad value '6x0' for 'timeout': it is not a number; expected a number in 1\.\.600/);
  refuses('resource r0 { disk { resync-rate 10Q; } }', 'DRBD_CONF_BAD_VALUE', 1, 34, /'10Q'.*not a number/);
  refuses('resource r0 { disk { resync-rate 99999999; } }', 'DRBD_CONF_BAD_VALUE', 1, 34, /out of range 1\.\.4194304/);
  refuses('resource r0 { net { timeout 0; } }', 'DRBD_CONF_BAD_VALUE', 1, 29, /out of range 1\.\.600/);
  refuses('resource r0 { on a { node-id 99; } }', 'DRBD_CONF_BAD_VALUE', 1, 30, /bad node-id '99'; expected a number 0\.\.31/);
  refuses('resource r0 { on a { address 10.0.0.1:77890; } }', 'DRBD_CONF_BAD_VALUE', 1, 30, /bad port 77890/);
  refuses('resource r0 { on a { address 10.0.0.300:7789; } }', 'DRBD_CONF_BAD_VALUE', 1, 30, /bad IPv4 address/);
  refuses('resource r0 { volume x { } }', 'DRBD_CONF_BAD_VALUE', 1, 22, /bad volume number 'x'/);
});

test('enumerated values are checked', () => {
  refuses('resource r0 {\n  protocol D;\n}', 'DRBD_CONF_BAD_VALUE', 2, 12, /bad value 'D' for 'protocol'.*expected one of A, B, C/);
  refuses('resource r0 { net { protocol X; } }', 'DRBD_CONF_BAD_VALUE', 1, 30, /expected one of A, B, C/);
  refuses('resource r0 { net { after-sb-0pri bogus; } }', 'DRBD_CONF_BAD_VALUE', 1, 35, /expected one of disconnect, discard-younger-primary/);
  refuses('resource r0 { disk { on-io-error explode; } }', 'DRBD_CONF_BAD_VALUE', 1, 34, /expected one of pass_on, call-local-io-error, detach/);
  refuses('resource r0 { disk { fencing sometimes; } }', 'DRBD_CONF_BAD_VALUE', 1, 30, /dont-care, resource-only, resource-and-stonith/);
  refuses('resource r0 { net { allow-two-primaries on; } }', 'DRBD_CONF_BAD_VALUE', 1, 41, /expected 'yes', 'no'/);
  refuses('global { usage-count maybe; }', 'DRBD_CONF_BAD_VALUE', 1, 22, /one of yes, no, ask/);
  refuses(`resource r0 { net { shared-secret "${'x'.repeat(65)}"; } }`, 'DRBD_CONF_BAD_VALUE', 1, 35, /65 bytes long; expected .* at most 64 bytes/);
  // the boundary is accepted
  parseDrbdConfig(`resource r0 { net { shared-secret "${'x'.repeat(64)}"; after-sb-0pri discard-node-alice; } }`, 'ok.conf');
});

test('missing names and missing required fields', () => {
  refuses('resource {\n}', 'DRBD_CONF_SYNTAX', 1, 10, /missing resource name after 'resource'; got '\{'/);
  refuses('resource r0 { on { } }', 'DRBD_CONF_SYNTAX', 1, 18, /missing host name after 'on'/);
  refuses('resource r0 {\n  on a { disk /dev/x; }\n}', 'DRBD_CONF_MISSING', 2, 3, /in resource r0, on a: volume 0 has no 'device'/);
  refuses('resource r0 {\n  on a { device minor 1; }\n}', 'DRBD_CONF_MISSING', 2, 3, /volume 0 has no 'disk'/);
  refuses('resource r0 { on a { device /dev/sdb; } }', 'DRBD_CONF_BAD_VALUE', 1, 29, /bad device name '\/dev\/sdb'; expected \/dev\/drbdN/);
  refuses('resource r0 { on a { device /dev/drbd1 minor 2; } }', 'DRBD_CONF_BAD_VALUE', 1, 29, /does not match 'minor 2'/);
  refuses('resource r0 { on a { node-id 0; } on b { node-id 1; } connection-mesh { hosts a c; } }', 'DRBD_CONF_MISSING', 1, 55, /host 'c'.*known hosts: a, b/);
});

test('duplicates', () => {
  refuses(`resource r0 { ${HOSTS} }\nresource r0 { }`, 'DRBD_CONF_DUPLICATE', 2, 1, /resource 'r0' is defined twice; the first is at line 1, column 1/);
  refuses('resource r0 {\n  on a { }\n  on a { }\n}', 'DRBD_CONF_DUPLICATE', 3, 3, /host 'a' has a second 'on' section in resource r0/);
  refuses('resource r0 {\n  net { }\n  net { }\n}', 'DRBD_CONF_DUPLICATE', 3, 3, /second 'net' section in resource r0/);
  refuses('global { }\nglobal { }', 'DRBD_CONF_DUPLICATE', 2, 1, /second 'global' section/);
  refuses('resource r0 { }\nglobal { }', 'DRBD_CONF_SYNTAX', 2, 1, /'global' section after 'resource r0'/);
  refuses('resource r0 { on a { node-id 1; } on b { node-id 1; } }', 'DRBD_CONF_DUPLICATE', 1, 35, /node-id 1 is used twice/);
  refuses('resource r0 {\n  on a { volume 0 { } volume 0 { } }\n}', 'DRBD_CONF_DUPLICATE', 2, 23, /volume 0 is defined twice/);
  refuses('resource r0 { on a { device minor 1; disk /dev/x; } }\nresource r1 { on a { device minor 1; disk /dev/y; } }', 'DRBD_CONF_DUPLICATE', 2, 22, /minor 1 on host 'a'/);
});

test('include is top-level only and needs a reader', () => {
  refuses('include "drbd.d/missing.conf";', 'DRBD_CONF_INCLUDE', 1, 9, /cannot follow include 'drbd\.d\/missing\.conf'/);
  refuses('resource r0 { include "x"; }', 'DRBD_CONF_UNKNOWN_KEYWORD', 1, 15, /unknown keyword 'include' in resource r0/);
  assert.throws(() => parseDrbdConfig('include "missing.conf";', 'e.conf', { readFile: () => { throw new Error('ENOENT'); } }),
    { code: 'DRBD_CONF_INCLUDE', line: 1, column: 9, message: /e\.conf:1:9: cannot read included file 'missing\.conf': ENOENT/ });
});
