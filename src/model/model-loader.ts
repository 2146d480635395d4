import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import type { LoadedModel } from './loaded-model';
import { formatOf, readModelArtifacts } from './model-artifacts';
import { ModelFormatError } from './model-errors';
import type { ModelMetadata } from './model-types';
import { TfjsGraphModel, TfjsLayersModel } from './tfjs-model';
import { TfjsRuntime } from './tfjs-runtime';

export const METADATA_JSON = 'metadata.json';
const MAX_NAMES = 100_000;

/** Turns a model version folder on disk into a model in memory. */
export abstract class ModelLoader {
  abstract load(directory: string): Promise<LoadedModel>;
}

@Injectable()
export class TfjsModelLoader extends ModelLoader {
  constructor(private readonly runtime: TfjsRuntime) {
    super();
  }

  async load(directory: string): Promise<LoadedModel> {
    const metadata = await readMetadata(directory);
    const artifacts = await readModelArtifacts(directory);
    const { tf } = this.runtime;
    const memory = tf.io.fromMemory(artifacts);
    try {
      if (formatOf(artifacts) === 'graph') {
        return new TfjsGraphModel(tf, await tf.loadGraphModel(memory), metadata);
      }
      return new TfjsLayersModel(tf, await tf.loadLayersModel(memory), metadata);
    } catch (error) {
      if (error instanceof ModelFormatError) throw error;
      throw new ModelFormatError(`TF.js cannot build the model: ${(error as Error).message}`);
    }
  }
}

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
