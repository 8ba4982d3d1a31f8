// Sealing and opening cluster datagrams (pure apart from node:crypto; no sockets).
//
// A sealed packet is a 20-byte header, then the body, then the MAC:
//
//   u32 magic 0x5AFEC105 | u8 version 1 | u8 cipher | u8 hash | u8 reserved 0 |
//   8 bytes cluster-name hash | u32 sender node id                      (big-endian)
//   body = salt[16] ‖ AES-CBC(plaintext)  (cipher none: body = plaintext)
//   mac  = HMAC-<hash>(whole key, header ‖ body)   (hash none: no mac)
//
// As in knet: the random salt is the CBC IV, the cipher key is the first 16/24/32 bytes
// of the key file, encrypt-then-MAC, and the MAC is compared in constant time before
// anything is decrypted. Unlike knet, the header is inside the MAC, so the sender id
// and cluster cannot be rewritten in flight. See docs/cluster-transport.md.

import crypto from 'node:crypto';
import type { ClusterCrypto, NodeId } from '../../cluster/types.js';

export type CipherName = ClusterCrypto['cipher'];
export type HashName = ClusterCrypto['hash'];

export const PACKET_MAGIC = 0x5afec105;
export const PACKET_VERSION = 1;
export const PACKET_HEADER_BYTES = 20;
export const SALT_BYTES = 16;
const AES_BLOCK_BYTES = 16;

/** Wire ids; the order is part of the format. */
const CIPHERS: readonly CipherName[] = ['none', 'aes128', 'aes192', 'aes256'];
const HASHES: readonly HashName[] = ['none', 'md5', 'sha1', 'sha256', 'sha384', 'sha512'];

const CIPHER_KEY_BYTES: Record<CipherName, number> = { none: 0, aes128: 16, aes192: 24, aes256: 32 };
const MAC_BYTES: Record<HashName, number> = { none: 0, md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

export type OpenFailure =
  /** Too short, wrong magic, version or reserved byte: not one of our packets. */
  | 'malformed'
  /** Our format, but another cluster name. */
  | 'wrong-cluster'
  /** Same cluster, other crypto_cipher/crypto_hash: a configuration mismatch. */
  | 'crypto-mismatch'
  /** The MAC does not match: another key, or the packet was changed. */
  | 'bad-mac'
  /** Authenticated but does not decrypt (only possible with a broken sender). */
  | 'decrypt';

export interface PacketHeader {
  cipher: CipherName;
  hash: HashName;
  sender: NodeId;
}

export type InspectResult = ({ ok: true } & PacketHeader) | { ok: false; reason: OpenFailure; detail: string };
export type OpenResult = { ok: true; sender: NodeId; plaintext: Buffer } | { ok: false; reason: OpenFailure; detail: string };

export interface PacketCryptoOptions {
  clusterName: string;
  cipher: CipherName;
  hash: HashName;
  /** The whole key file; may be empty only with cipher and hash both none. */
  key: Buffer;
}

/** 8 bytes that tell clusters apart on a shared network; not a secret. */
export function clusterNameHash(clusterName: string): Buffer {
  return crypto.createHash('sha256').update('safeside-cluster\0').update(clusterName, 'utf8').digest().subarray(0, 8);
}

export class PacketCrypto {
  readonly cipher: CipherName;
  readonly hash: HashName;
  private readonly cipherKey: Buffer;
  private readonly macKey: Buffer;
  private readonly clusterHash: Buffer;
  private readonly macBytes: number;

  constructor(opts: PacketCryptoOptions) {
    if (!CIPHERS.includes(opts.cipher)) throw new RangeError(`crypto_cipher '${opts.cipher}': expected one of ${CIPHERS.join(', ')}`);
    if (!HASHES.includes(opts.hash)) throw new RangeError(`crypto_hash '${opts.hash}': expected one of ${HASHES.join(', ')}`);
    // CBC without a MAC is malleable; corosync refuses the combination too.
    if (opts.cipher !== 'none' && opts.hash === 'none') {
      throw new RangeError(`crypto_cipher ${opts.cipher} needs a crypto_hash (sha256 recommended); packets would be encrypted but not authenticated`);
    }
    const keyBytesMin = Math.max(CIPHER_KEY_BYTES[opts.cipher], opts.hash === 'none' ? 0 : 1);
    if (opts.key.length < keyBytesMin) {
      throw new RangeError(`cluster key is ${opts.key.length} bytes; crypto ${opts.cipher}/${opts.hash} needs at least ${keyBytesMin}`);
    }
    this.cipher = opts.cipher;
    this.hash = opts.hash;
    this.cipherKey = Buffer.from(opts.key.subarray(0, CIPHER_KEY_BYTES[opts.cipher]));
    this.macKey = Buffer.from(opts.key);
    this.clusterHash = clusterNameHash(opts.clusterName);
    this.macBytes = MAC_BYTES[opts.hash];
  }

  /** Size on the wire of a sealed packet carrying `plaintextBytes`. */
  sealedBytes(plaintextBytes: number): number {
    const body = this.cipher === 'none' ? plaintextBytes : SALT_BYTES + (Math.floor(plaintextBytes / AES_BLOCK_BYTES) + 1) * AES_BLOCK_BYTES;
    return PACKET_HEADER_BYTES + body + this.macBytes;
  }

  seal(sender: NodeId, plaintext: Buffer): Buffer {
    if (!Number.isInteger(sender) || sender < 0 || sender > 0xffffffff) throw new RangeError(`sender node id ${sender} is not a u32`);
    const header = Buffer.alloc(PACKET_HEADER_BYTES);
    header.writeUInt32BE(PACKET_MAGIC, 0);
    header.writeUInt8(PACKET_VERSION, 4);
    header.writeUInt8(CIPHERS.indexOf(this.cipher), 5);
    header.writeUInt8(HASHES.indexOf(this.hash), 6);
    this.clusterHash.copy(header, 8);
    header.writeUInt32BE(sender, 16);
    const parts: Buffer[] = [header];
    if (this.cipher === 'none') {
      parts.push(plaintext);
    } else {
      const salt = crypto.randomBytes(SALT_BYTES);
      const c = crypto.createCipheriv(`aes-${CIPHER_KEY_BYTES[this.cipher] * 8}-cbc`, this.cipherKey, salt);
      parts.push(salt, c.update(plaintext), c.final());
    }
    if (this.hash !== 'none') {
      const mac = crypto.createHmac(this.hash, this.macKey);
      for (const p of parts) mac.update(p);
      parts.push(mac.digest());
    }
    return Buffer.concat(parts);
  }

  /** Header checks only (no MAC): lets the caller filter by sender before spending a MAC. */
  inspect(packet: Buffer): InspectResult {
    if (packet.length < PACKET_HEADER_BYTES) return fail('malformed', `${packet.length} bytes is shorter than the ${PACKET_HEADER_BYTES}-byte header`);
    const magic = packet.readUInt32BE(0);
    if (magic !== PACKET_MAGIC) return fail('malformed', `magic 0x${magic.toString(16).padStart(8, '0')} is not 0x${PACKET_MAGIC.toString(16)}`);
    const version = packet.readUInt8(4);
    if (version !== PACKET_VERSION) return fail('malformed', `packet version ${version}; this node speaks version ${PACKET_VERSION}`);
    if (packet.readUInt8(7) !== 0) return fail('malformed', `reserved header byte is ${packet.readUInt8(7)}, expected 0`);
    if (!packet.subarray(8, 16).equals(this.clusterHash)) return fail('wrong-cluster', 'cluster name hash differs (a packet of another cluster)');
    const cipher = CIPHERS[packet.readUInt8(5)];
    const hash = HASHES[packet.readUInt8(6)];
    if (cipher === undefined || hash === undefined) {
      return fail('malformed', `unknown cipher id ${packet.readUInt8(5)} or hash id ${packet.readUInt8(6)}`);
    }
    if (cipher !== this.cipher || hash !== this.hash) {
      return fail('crypto-mismatch', `sender uses crypto ${cipher}/${hash}, this node ${this.cipher}/${this.hash}`);
    }
    return { ok: true, cipher, hash, sender: packet.readUInt32BE(16) };
  }

  /** Verify and decrypt. Never throws, whatever the bytes. */
  open(packet: Buffer): OpenResult {
    const h = this.inspect(packet);
    if (!h.ok) return h;
    const minBytes = PACKET_HEADER_BYTES + (this.cipher === 'none' ? 0 : SALT_BYTES + AES_BLOCK_BYTES) + this.macBytes;
    if (packet.length < minBytes) return fail('malformed', `${packet.length} bytes is shorter than the smallest ${this.cipher}/${this.hash} packet (${minBytes})`);
    const macStart = packet.length - this.macBytes;
    if (this.hash !== 'none') {
      const expected = crypto.createHmac(this.hash, this.macKey).update(packet.subarray(0, macStart)).digest();
      if (!crypto.timingSafeEqual(expected, packet.subarray(macStart))) {
        return fail('bad-mac', `HMAC-${this.hash} does not match (different cluster key, or the packet was altered)`);
      }
    }
    const body = packet.subarray(PACKET_HEADER_BYTES, macStart);
    if (this.cipher === 'none') return { ok: true, sender: h.sender, plaintext: Buffer.from(body) };
    const ciphertext = body.subarray(SALT_BYTES);
    if (ciphertext.length % AES_BLOCK_BYTES !== 0) return fail('decrypt', `ciphertext of ${ciphertext.length} bytes is not a whole number of AES blocks`);
    try {
      const d = crypto.createDecipheriv(`aes-${CIPHER_KEY_BYTES[this.cipher] * 8}-cbc`, this.cipherKey, body.subarray(0, SALT_BYTES));
      const plaintext = Buffer.concat([d.update(ciphertext), d.final()]);
      return { ok: true, sender: h.sender, plaintext };
    } catch (err) {
      return fail('decrypt', `AES-CBC decryption failed: ${(err as Error).message}`);
    }
  }
}

function fail(reason: OpenFailure, detail: string): { ok: false; reason: OpenFailure; detail: string } {
  return { ok: false, reason, detail };
}
