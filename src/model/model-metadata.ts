import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFormatError } from './model-errors';
import type { ModelMetadata } from './model-types';

export const METADATA_JSON = 'metadata.json';
const MAX_NAMES = 100_000;

/** Reads the optional `metadata.json`; a malformed one is an error, a missing one is not. */
export async function readMetadata(directory: string): Promise<ModelMetadata> {
  let text: string;
  try {
    text = await readFile(join(directory, METADATA_JSON), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`${METADATA_JSON} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFormatError(`${METADATA_JSON} must hold a JSON object`);
  }
  const metadata = json as ModelMetadata;
  for (const key of ['labels', 'features'] as const) {
    const names = metadata[key];
    if (names === undefined) continue;
    const valid =
      Array.isArray(names) &&
      names.length <= MAX_NAMES &&
      names.every((name) => typeof name === 'string' && name.length > 0) &&
      new Set(names).size === names.length;
    if (!valid) {
      throw new ModelFormatError(`${METADATA_JSON}: "${key}" must be a list of distinct, non-empty strings`);
    }
  }
  return metadata;
}
