import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ModelFormatError } from './model-errors';
import type { ModelFormat } from './model-types';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

/** Bytes per element of each weight dtype as stored (after any quantization). */
const STORED_BYTES: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
  complex64: 8,
};

/**
 * Reads a `tfjs-converter` output folder from disk: `model.json` and every weight shard its
 * manifest lists, in manifest order (the order TF.js's own HTTP loader concatenates them).
 * No `file://` handler is needed, so this works without tfjs-node.
 */
export async function readModelArtifacts(directory: string): Promise<tf.io.ModelArtifacts> {
  const modelJson = await readModelJson(directory);
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const shards: Buffer[] = [];
    for (const group of manifest) {
      for (const path of group.paths) {
        shards.push(await readShard(directory, path));
      }
      specs.push(...group.weights);
    }
    const data = Buffer.concat(shards);
    checkWeightBytes(specs, data.byteLength);
    const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    return [specs, weightData];
  });
}

/**
 * Whether a version folder holds a whole model without reading the weights: `model.json`
 * parses and every shard it lists is there, with as many bytes as the manifest describes.
 * Returns what is wrong, or null.
 */
export async function findIncompleteness(directory: string): Promise<string | null> {
  try {
    const modelJson = await readModelJson(directory);
    const specs: tf.io.WeightsManifestEntry[] = [];
    let bytes = 0;
    for (const group of modelJson.weightsManifest ?? []) {
      for (const path of group.paths) {
        bytes += await stat(shardPath(directory, path)).then(
          (s) => s.size,
          () => {
            throw new ModelFormatError(`weight shard ${JSON.stringify(path)} listed in ${MODEL_JSON} is missing`);
          },
        );
      }
      specs.push(...group.weights);
    }
    checkWeightBytes(specs, bytes);
    return null;
  } catch (error) {
    if (error instanceof ModelFormatError) return error.message;
    throw error;
  }
}

/** Names, sizes and modification times of a folder's files: changes while it is written. */
export async function folderFingerprint(directory: string): Promise<string> {
  const entries = await readdir(directory, { withFileTypes: true });
  const parts = await Promise.all(
    entries
      .filter((e) => e.isFile())
      .map(async (e) => {
        const s = await stat(join(directory, e.name));
        return `${e.name}:${s.size}:${s.mtimeMs}`;
      }),
  );
  return parts.sort().join('|');
}

export function formatOf(artifacts: tf.io.ModelArtifacts): ModelFormat {
  if (artifacts.format === 'graph-model') return 'graph';
  if (artifacts.format === 'layers-model') return 'layers';
  const topology = artifacts.modelTopology as Record<string, unknown> | undefined;
  if (topology && Array.isArray(topology.node)) return 'graph';
  if (topology && ('class_name' in topology || 'model_config' in topology)) return 'layers';
  throw new ModelFormatError(`${MODEL_JSON} is neither a Layers nor a Graph model`);
}

async function readModelJson(directory: string): Promise<tf.io.ModelJSON> {
  const path = join(directory, MODEL_JSON);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ModelFormatError(`cannot read ${MODEL_JSON}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`${MODEL_JSON} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || !('modelTopology' in json)) {
    throw new ModelFormatError(`${MODEL_JSON} has no modelTopology`);
  }
  const manifest = (json as { weightsManifest?: unknown }).weightsManifest;
  if (manifest !== undefined && !isManifest(manifest)) {
    throw new ModelFormatError(`${MODEL_JSON} has a malformed weightsManifest`);
  }
  return json as tf.io.ModelJSON;
}

function isManifest(value: unknown): value is tf.io.WeightsManifestConfig {
  return Array.isArray(value) && value.every(isWeightGroup);
}

function isWeightGroup(group: unknown): boolean {
  if (typeof group !== 'object' || group === null) return false;
  const { paths, weights } = group as { paths?: unknown; weights?: unknown };
  return Array.isArray(paths) && paths.every((p) => typeof p === 'string') && Array.isArray(weights);
}

async function readShard(directory: string, path: string): Promise<Buffer> {
  try {
    return await readFile(shardPath(directory, path));
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ModelFormatError(`cannot read weight shard ${JSON.stringify(path)} listed in ${MODEL_JSON}: ${code}`);
  }
}

/** A shard path from the manifest, refused if it would leave the model's folder. */
function shardPath(directory: string, path: string): string {
  const root = resolve(directory);
  const full = resolve(root, path);
  const inside = relative(root, full);
  if (path.length === 0 || isAbsolute(path) || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new ModelFormatError(`weight shard path ${JSON.stringify(path)} leaves the model folder`);
  }
  return full;
}

function checkWeightBytes(specs: tf.io.WeightsManifestEntry[], actual: number): void {
  let expected = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const bytes = STORED_BYTES[dtype];
    // String weights are length-prefixed and have no fixed size; skip the check for them.
    if (bytes === undefined) return;
    expected += spec.shape.reduce((n, d) => n * d, 1) * bytes;
  }
  if (expected !== actual) {
    throw new ModelFormatError(`weight shards hold ${actual} bytes but the manifest describes ${expected} (missing or truncated shard?)`);
  }
}

/**
 * A TF.js save handler writing the standard layout: `model.json` plus one `weights.bin`.
 * Files are written under temporary names and renamed, so a reader never sees half a model.
 */
export function directorySaveHandler(directory: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      await mkdir(directory, { recursive: true });
      const weightData = artifacts.weightData ? new tf.io.CompositeArrayBuffer(artifacts.weightData).slice() : new ArrayBuffer(0);
      const manifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }];
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: manifest,
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.signature ? { signature: artifacts.signature } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      const weightsPath = join(directory, WEIGHTS_FILE);
      const modelPath = join(directory, MODEL_JSON);
      await writeFile(`${weightsPath}.tmp`, Buffer.from(weightData));
      await rename(`${weightsPath}.tmp`, weightsPath);
      await writeFile(`${modelPath}.tmp`, JSON.stringify(modelJson));
      await rename(`${modelPath}.tmp`, modelPath);
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
