// `safeside keygen`: the cluster key every node and the arbiter share (like corosync-keygen).

import { generateKey, KeyFileError } from '../runtime/cluster/keyfile.js';

export async function runKeygen(file: string, sizeText: string, force: boolean): Promise<number> {
  const size = Number(sizeText);
  if (!Number.isInteger(size) || size < 128 || size > 4096) {
    process.stderr.write(`safeside keygen: --size ${sizeText}: expected a whole number of bytes from 128 to 4096\n`);
    return 3;
  }
  try {
    await generateKey(file, size, force);
  } catch (err) {
    if (err instanceof KeyFileError) {
      process.stderr.write(`safeside keygen: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  process.stdout.write(`Writing ${size} bytes of random key to ${file} (mode 0400).\nCopy it to every node and to the arbiter.\n`);
  return 0;
}
