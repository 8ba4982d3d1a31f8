// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table driven, pure.
// Node has no built-in for it. Two entry points:
//  - crc32c(bytes): the standard CRC-32C (init 0xFFFFFFFF, final XOR 0xFFFFFFFF);
//    check value crc32c("123456789") = 0xE3069283. Used for our superblock.
//  - crc32cRaw(seed, bytes): no pre/post inversion, like the Linux kernel's
//    crc32c(seed, p, len) that DRBD calls with seed 0 for its activity-log blocks.

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32cRaw(seed: number, bytes: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

export function crc32c(bytes: Uint8Array): number {
  return (crc32cRaw(0xffffffff, bytes) ^ 0xffffffff) >>> 0;
}

export function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}
