// Cluster packet crypto and framing: round trips for every cipher/hash, the layout checked
// against an independent construction from node:crypto, tampering, wrong key, wrong
// cluster, truncation, random bytes; the inner codec, the duplicate window against a naive
// model, link liveness; and the key file (keygen, checks on read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import {
  PACKET_HEADER_BYTES,
  PACKET_MAGIC,
  PacketCrypto,
  SALT_BYTES,
  clusterNameHash,
  type CipherName,
  type HashName,
} from '../../src/runtime/cluster/packet-crypto.js';
import { DuplicateWindow, decodeInner, encodeInner, type InnerPacket } from '../../src/runtime/cluster/link-wire.js';
import { LinkLiveness, chooseLinks } from '../../src/runtime/cluster/link-liveness.js';
import { KeyFileError, generateKey, readKey, readKeyFile } from '../../src/runtime/cluster/keyfile.js';

const KEY = crypto.randomBytes(256);
const CIPHERS: CipherName[] = ['none', 'aes128', 'aes192', 'aes256'];
const HASHES: HashName[] = ['none', 'md5', 'sha1', 'sha256', 'sha384', 'sha512'];
const COMBOS = CIPHERS.flatMap((cipher) => HASHES.filter((hash) => cipher === 'none' || hash !== 'none').map((hash) => ({ cipher, hash })));
const MAC_BYTES: Record<HashName, number> = { none: 0, md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
const CIPHER_KEY_BYTES: Record<CipherName, number> = { none: 0, aes128: 16, aes192: 24, aes256: 32 };

const pc = (cipher: CipherName, hash: HashName, o: { key?: Buffer; cluster?: string } = {}): PacketCrypto =>
  new PacketCrypto({ clusterName: o.cluster ?? 'alpha', cipher, hash, key: o.key ?? KEY });

test('every allowed cipher/hash pair round-trips, at the predicted size', () => {
  for (const { cipher, hash } of COMBOS) {
    const c = pc(cipher, hash);
    for (const len of [0, 1, 15, 16, 17, 1000, 61_460]) {
      const plain = crypto.randomBytes(len);
      const sealed = c.seal(7, plain);
      assert.equal(sealed.length, c.sealedBytes(len), `${cipher}/${hash} len ${len}`);
      const r = c.open(sealed);
      assert.ok(r.ok, `${cipher}/${hash} len ${len}: ${!r.ok ? r.detail : ''}`);
      assert.equal(r.sender, 7);
      assert.ok(r.plaintext.equals(plain));
    }
  }
});

test('cipher without hash, or a key shorter than the cipher key, is refused with a message', () => {
  assert.throws(() => pc('aes256', 'none'), /needs a crypto_hash/);
  assert.throws(() => pc('aes256', 'sha256', { key: crypto.randomBytes(20) }), /20 bytes.*at least 32/);
  assert.throws(() => pc('none', 'sha1', { key: Buffer.alloc(0) }), /at least 1/);
  assert.doesNotThrow(() => pc('none', 'none', { key: Buffer.alloc(0) }));
});

test('layout matches an independent construction: header, salt = IV, AES-CBC with the first key bytes, HMAC of the whole key over header‖salt‖ciphertext', () => {
  for (const { cipher, hash } of COMBOS) {
    const plain = Buffer.from(`hello from ${cipher}/${hash}`);
    const sealed = pc(cipher, hash).seal(0x01020304, plain);
    assert.equal(sealed.readUInt32BE(0), PACKET_MAGIC);
    assert.equal(sealed[4], 1);
    assert.equal(sealed[7], 0);
    const expectedClusterHash = crypto.createHash('sha256').update('safeside-cluster\0alpha').digest().subarray(0, 8);
    assert.ok(sealed.subarray(8, 16).equals(expectedClusterHash));
    assert.equal(sealed.readUInt32BE(16), 0x01020304);
    const macBytes = MAC_BYTES[hash];
    const macStart = sealed.length - macBytes;
    if (hash !== 'none') {
      const mac = crypto.createHmac(hash, KEY).update(sealed.subarray(0, macStart)).digest();
      assert.ok(mac.equals(sealed.subarray(macStart)), `${cipher}/${hash}: MAC`);
    }
    const body = sealed.subarray(PACKET_HEADER_BYTES, macStart);
    if (cipher === 'none') {
      assert.ok(body.equals(plain));
    } else {
      const bits = CIPHER_KEY_BYTES[cipher] * 8;
      const d = crypto.createDecipheriv(`aes-${bits}-cbc`, KEY.subarray(0, bits / 8), body.subarray(0, SALT_BYTES));
      const out = Buffer.concat([d.update(body.subarray(SALT_BYTES)), d.final()]);
      assert.ok(out.equals(plain), `${cipher}/${hash}: independent decrypt`);
      assert.equal(body.indexOf(plain.subarray(0, 8)), -1, 'plaintext must not appear in the packet');
    }
  }
});

test('sealing the same plaintext twice gives different packets (random salt)', () => {
  const c = pc('aes256', 'sha256');
  const p = Buffer.from('same');
  assert.ok(!c.seal(1, p).equals(c.seal(1, p)));
});

test('any single flipped bit of an authenticated packet is rejected, without throwing', () => {
  for (const { cipher, hash } of COMBOS.filter((x) => x.hash !== 'none')) {
    const c = pc(cipher, hash);
    const sealed = c.seal(3, Buffer.from('{"kind":"append","term":4}'));
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const t = Buffer.from(sealed);
        t[i]! ^= bit;
        const r = c.open(t);
        assert.equal(r.ok, false, `${cipher}/${hash}: byte ${i} bit ${bit} accepted`);
      }
    }
  }
});

test('a MAC change is "bad-mac"; a sender-id change (inside the MAC) too', () => {
  const c = pc('aes256', 'sha256');
  const sealed = c.seal(3, Buffer.from('x'));
  const t = Buffer.from(sealed);
  t[t.length - 1]! ^= 1;
  assert.equal((c.open(t) as { reason: string }).reason, 'bad-mac');
  const s = Buffer.from(sealed);
  s.writeUInt32BE(4, 16);
  assert.equal((c.open(s) as { reason: string }).reason, 'bad-mac');
});

test('a packet sealed with another key is rejected as bad-mac', () => {
  for (const { cipher, hash } of COMBOS.filter((x) => x.hash !== 'none')) {
    const other = pc(cipher, hash, { key: crypto.randomBytes(256) });
    const r = pc(cipher, hash).open(other.seal(2, Buffer.from('{"kind":"vote"}')));
    assert.equal(r.ok, false);
    assert.equal((r as { reason: string }).reason, 'bad-mac', `${cipher}/${hash}`);
  }
  // Same first 32 bytes (same AES key) but a different tail: the HMAC uses the whole key.
  const tail = Buffer.from(KEY);
  tail[200]! ^= 1;
  const r = pc('aes256', 'sha256').open(pc('aes256', 'sha256', { key: tail }).seal(2, Buffer.from('x')));
  assert.equal((r as { reason: string }).reason, 'bad-mac');
});

test('another cluster name is rejected as wrong-cluster, with crypto none/none too', () => {
  for (const { cipher, hash } of [{ cipher: 'none' as const, hash: 'none' as const }, { cipher: 'aes256' as const, hash: 'sha256' as const }]) {
    const r = pc(cipher, hash).open(pc(cipher, hash, { cluster: 'beta' }).seal(1, Buffer.from('x')));
    assert.equal((r as { reason: string }).reason, 'wrong-cluster');
  }
  assert.ok(!clusterNameHash('alpha').equals(clusterNameHash('beta')));
});

test('other crypto settings are reported as crypto-mismatch, not as a bad key', () => {
  const r = pc('aes256', 'sha256').open(pc('aes128', 'sha1').seal(1, Buffer.from('x')));
  assert.equal((r as { reason: string }).reason, 'crypto-mismatch');
  assert.match((r as { detail: string }).detail, /aes128\/sha1.*aes256\/sha256/);
});

test('every truncation of a packet is rejected', () => {
  for (const { cipher, hash } of COMBOS.filter((x) => x.hash !== 'none')) {
    const c = pc(cipher, hash);
    const sealed = c.seal(1, Buffer.from('{"kind":"heartbeat","term":1,"commit":99}'));
    for (let n = 0; n < sealed.length; n++) assert.equal(c.open(sealed.subarray(0, n)).ok, false, `${cipher}/${hash} prefix ${n}`);
  }
  // none/none: only the header is checked; a short header is malformed.
  const c = pc('none', 'none');
  for (let n = 0; n < PACKET_HEADER_BYTES; n++) assert.equal((c.open(c.seal(1, Buffer.from('x')).subarray(0, n)) as { reason: string }).reason, 'malformed');
});

test('property: random bytes, and random bytes behind a valid header, never throw and never open', () => {
  const c = pc('aes256', 'sha256');
  const header = c.seal(1, Buffer.alloc(0)).subarray(0, PACKET_HEADER_BYTES);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withHeader) => {
      const b = withHeader ? Buffer.concat([header, bytes]) : Buffer.from(bytes);
      const r = c.open(b);
      assert.equal(r.ok, false);
      decodeInner(b); // must not throw either
    }),
    { numRuns: 3000 },
  );
});

test('property: random mutations of a sealed packet never open (aes128/md5, the weakest pair)', () => {
  const c = pc('aes128', 'md5');
  const sealed = c.seal(9, Buffer.from('{"kind":"x","v":1}'));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }), (edits) => {
      const t = Buffer.from(sealed);
      const touched = new Map<number, number>();
      for (const [pos, x] of edits) touched.set(pos % t.length, (touched.get(pos % t.length) ?? 0) ^ x);
      if ([...touched.values()].every((x) => x === 0)) return; // edits cancelled out
      for (const [pos, x] of touched) t[pos]! ^= x;
      assert.equal(c.open(t).ok, false);
    }),
    { numRuns: 2000 },
  );
});

// ---- inner codec ------------------------------------------------------------------------

test('inner packets round-trip and malformed ones are refused with a reason', () => {
  const samples: InnerPacket[] = [
    { kind: 'data', link: 1, to: 3, incarnation: 0xdeadbeef, seq: 2 ** 40 + 5, json: Buffer.from('{"kind":"a"}') },
    { kind: 'ping', link: 0, to: 0, incarnation: 1, seq: 9, sentAt: 1234.5 },
    { kind: 'pong', link: 1, to: 2, incarnation: 7, seq: 9, sentAt: 99.25, pingerIncarnation: 0xffffffff },
  ];
  for (const s of samples) {
    const d = decodeInner(encodeInner(s));
    assert.ok(d.ok);
    assert.deepEqual({ ...d.packet, ...('json' in d.packet ? { json: d.packet.json.toString() } : {}) }, { ...s, ...('json' in s ? { json: s.json.toString() } : {}) });
  }
  const ping = encodeInner(samples[1]!);
  assert.match((decodeInner(ping.subarray(0, 10)) as { detail: string }).detail, /needs 20 bytes/);
  assert.match((decodeInner(Buffer.concat([ping, Buffer.alloc(1)])) as { detail: string }).detail, /ping is 29 bytes/);
  const bad = Buffer.from(ping);
  bad[0] = 9;
  assert.match((decodeInner(bad) as { detail: string }).detail, /unknown inner packet kind 9/);
  const nan = Buffer.from(ping);
  nan.writeDoubleBE(NaN, 20);
  assert.equal(decodeInner(nan).ok, false);
  assert.equal(decodeInner(encodeInner({ ...samples[0]!, json: Buffer.alloc(0) } as InnerPacket)).ok, false);
});

test('property: the duplicate window agrees with a naive model (seen before, or older than the window)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 64 }), fc.array(fc.nat({ max: 300 }), { maxLength: 400 }), (size, seqs) => {
      const w = new DuplicateWindow(size);
      const seen = new Set<number>();
      let highest = -1;
      for (const s of seqs) {
        const expected = !seen.has(s) && !(highest >= 0 && s + size <= highest);
        assert.equal(w.accept(s), expected, `seq ${s} (highest ${highest}, size ${size})`);
        if (expected) {
          seen.add(s);
          highest = Math.max(highest, s);
        }
      }
    }),
    { numRuns: 500 },
  );
});

// ---- liveness ---------------------------------------------------------------------------

test('a link comes up after two pongs to distinct pings and goes down after downAfterMs of silence', () => {
  const l = new LinkLiveness({ pingIntervalMs: 100, downAfterMs: 400, suspectAfterMs: 200, upPongCount: 2 }, 0);
  assert.equal(l.up, false);
  assert.equal(l.pong(10, 1, 0), null);
  assert.equal(l.pong(11, 1, 0), null, 'a second pong to the same ping does not count');
  assert.deepEqual(l.pong(110, 2, 100), { to: 'up', after: 110 });
  assert.equal(l.rttMs !== null && l.rttMs > 9 && l.rttMs <= 11, true);
  assert.equal(l.suspect(310), false);
  assert.equal(l.suspect(311), true, 'quiet for more than 200 ms');
  assert.equal(l.check(500), null, '390 ms of silence is within 400');
  assert.deepEqual(l.check(511), { to: 'down', silentMs: 401 });
  assert.equal(l.up, false);
  // Two pongs far apart do not bring it back: they must be within downAfterMs of each other.
  assert.equal(l.pong(1000, 3, 990), null);
  assert.equal(l.pong(2000, 4, 1990), null);
  assert.deepEqual(l.pong(2100, 5, 2090)?.to, 'up');
  assert.equal(l.pong(3000, 6, 5000), null, 'a pong from the future is ignored');
});

test('passive mode prefers the lowest live link and sends on all links when none is live', () => {
  assert.deepEqual(chooseLinks([{ link: 0, up: true }, { link: 1, up: true }]), [0]);
  assert.deepEqual(chooseLinks([{ link: 1, up: true }, { link: 0, up: false }]), [1]);
  assert.deepEqual(chooseLinks([{ link: 1, up: false }, { link: 0, up: false }]), [0, 1]);
  assert.deepEqual(chooseLinks([]), []);
  // A late (suspect) preferred link gets a healthy companion until it recovers or goes down.
  assert.deepEqual(chooseLinks([{ link: 0, up: true, suspect: true }, { link: 1, up: true }]), [0, 1]);
  assert.deepEqual(chooseLinks([{ link: 0, up: true, suspect: true }, { link: 1, up: true, suspect: true }]), [0]);
  assert.deepEqual(chooseLinks([{ link: 0, up: true, suspect: true }, { link: 1, up: false }]), [0]);
  assert.deepEqual(chooseLinks([{ link: 0, up: true }, { link: 1, up: true, suspect: true }]), [0]);
});

// ---- key file ---------------------------------------------------------------------------

test('keygen writes 256 random bytes with mode 0400, refuses to overwrite, replaces with force', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-key-'));
  try {
    const file = path.join(dir, 'authkey');
    await generateKey(file);
    const st = fs.statSync(file);
    assert.equal(st.size, 256);
    assert.equal(st.mode & 0o777, 0o400);
    const first = fs.readFileSync(file);
    assert.notEqual(new Set(first).size, 1, 'not a constant fill');
    await assert.rejects(generateKey(file), (e: unknown) => e instanceof KeyFileError && e.code === 'ERR_KEY_EXISTS' && /--force/.test(e.message));
    assert.ok(fs.readFileSync(file).equals(first), 'the refused call left the key alone');
    await generateKey(file, 1024, true);
    const second = fs.readFileSync(file);
    assert.equal(second.length, 1024);
    assert.equal(fs.statSync(file).mode & 0o777, 0o400);
    assert.ok(!second.subarray(0, 256).equals(first));
    assert.deepEqual(fs.readdirSync(dir), ['authkey'], 'no temporary file left behind');
    await assert.rejects(generateKey(path.join(dir, 'k2'), 127), /127.*128 to 4096/);
    await assert.rejects(generateKey(path.join(dir, 'k3'), 4097), /4097.*128 to 4096/);
    await assert.rejects(generateKey(path.join(dir, 'no/such/dir/k')), /directory .* does not exist/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readKey: clear errors for a missing, short, long or non-file key, and a warning for open permissions', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-key-'));
  try {
    const missing = path.join(dir, 'nope');
    assert.throws(() => readKey(missing), (e: unknown) => e instanceof KeyFileError && e.code === 'ERR_KEY_MISSING' && e.message.includes(missing) && /safeside keygen/.test(e.message));
    const short = path.join(dir, 'short');
    fs.writeFileSync(short, crypto.randomBytes(100), { mode: 0o400 });
    assert.throws(() => readKey(short), /short: key is 100 bytes; expected 128 to 4096/);
    const long = path.join(dir, 'long');
    fs.writeFileSync(long, crypto.randomBytes(5000), { mode: 0o400 });
    assert.throws(() => readKey(long), /key is 5000 bytes/);
    assert.throws(() => readKey(dir), (e: unknown) => e instanceof KeyFileError && e.code === 'ERR_KEY_NOT_A_FILE');
    const ok = path.join(dir, 'ok');
    const bytes = crypto.randomBytes(128);
    fs.writeFileSync(ok, bytes, { mode: 0o400 });
    const warnings: string[] = [];
    assert.ok(readKey(ok, (w) => warnings.push(w)).equals(bytes));
    assert.deepEqual(warnings, []);
    fs.chmodSync(ok, 0o644);
    const r = readKeyFile(ok);
    assert.ok(r.key.equals(bytes));
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /mode 0644.*chmod 0400/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a key written by corosync-keygen is read as is (same size and mode as ours)', { skip: !fs.existsSync('/usr/sbin/corosync-keygen') ? 'corosync-keygen not installed' : false }, async () => {
  const { spawnSync } = await import('node:child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safeside-key-'));
  try {
    const theirs = path.join(dir, 'authkey');
    const r = spawnSync('/usr/sbin/corosync-keygen', ['-k', theirs], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const ours = path.join(dir, 'ours');
    await generateKey(ours);
    const a = fs.statSync(theirs);
    const b = fs.statSync(ours);
    assert.deepEqual([b.size, b.mode & 0o777], [a.size, a.mode & 0o777]);
    const read = readKeyFile(theirs);
    assert.ok(read.key.equals(fs.readFileSync(theirs)));
    assert.deepEqual(read.warnings, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
