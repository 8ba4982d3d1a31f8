// Reads a CIB file for the scheduler (which itself does no I/O).
import { readFile } from 'node:fs/promises';

export async function loadCibText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read CIB: ${(e as Error).message}`);
  }
}
