import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_NAME_PATTERN } from '../config/environment';
import { folderFingerprint, findIncompleteness, MODEL_JSON } from './model-artifacts';
import { ModelConfig, readModelConfig } from './model-config';
import { findOnnxIncompleteness } from './onnx/onnx-file';
import { MODEL_ONNX } from './onnx/onnx-model';

/** Version folders are positive integers without leading zeros, as in TF Serving. */
export const VERSION_PATTERN = /^[1-9]\d{0,8}$/;

/** The file that makes a version folder a model, for each runtime: the runtime is chosen by it. */
export const MODEL_FILES = { tfjs: MODEL_JSON, onnx: MODEL_ONNX } as const;
export type ModelRuntimeName = keyof typeof MODEL_FILES;

const INCOMPLETENESS: Record<ModelRuntimeName, (directory: string) => Promise<string | null>> = {
  tfjs: findIncompleteness,
  onnx: findOnnxIncompleteness,
};

export interface VersionFolder {
  version: number;
  directory: string;
  /** What keeps the folder from being a whole model, or null when it is one. */
  incomplete: string | null;
  /** Changes while the folder is being written. */
  fingerprint: string;
}

export interface ModelFolder {
  name: string;
  directory: string;
  /** The parsed config.json, or the error that makes the model unavailable. */
  config: ModelConfig | Error;
  /** Every version folder holding a model.json or a model.onnx, ascending. */
  versions: VersionFolder[];
}

export function isModelName(name: string): boolean {
  return MODEL_NAME_PATTERN.test(name);
}

/**
 * Lists the repository: `<root>/<name>/<version>/model.json` (TF.js) or `model.onnx`. Folders whose names are not
 * model names or versions (hidden ones, a trainer's staging folder) are not models.
 */
export async function scanRepository(root: string): Promise<ModelFolder[]> {
  const models: ModelFolder[] = [];
  for (const name of await subfolders(root)) {
    if (!isModelName(name)) continue;
    models.push(await scanModel(root, name));
  }
  return models.sort((a, b) => a.name.localeCompare(b.name));
}

/** One model's folder; throws ENOENT if it does not exist. */
export async function scanModel(root: string, name: string): Promise<ModelFolder> {
  const directory = join(root, name);
  const config = await readModelConfig(directory).catch((error: Error) => error);
  const versions: VersionFolder[] = [];
  for (const folder of await subfolders(directory)) {
    if (!VERSION_PATTERN.test(folder)) continue;
    const versionDirectory = join(directory, folder);
    const runtimes = await modelFilesIn(versionDirectory);
    if (runtimes.length === 0) continue;
    versions.push({
      version: Number(folder),
      directory: versionDirectory,
      // A folder holding both files is loaded at once, and refused with the reason.
      incomplete: runtimes.length === 1 ? await INCOMPLETENESS[runtimes[0]](versionDirectory) : null,
      fingerprint: await folderFingerprint(versionDirectory),
    });
  }
  versions.sort((a, b) => a.version - b.version);
  return { name, directory, config, versions };
}

/** The runtimes whose model file a version folder holds: one, or none if it is not a model. */
export async function modelFilesIn(directory: string): Promise<ModelRuntimeName[]> {
  const runtimes: ModelRuntimeName[] = [];
  for (const [runtime, file] of Object.entries(MODEL_FILES) as [ModelRuntimeName, string][]) {
    const isFile = await stat(join(directory, file)).then(
      (s) => s.isFile(),
      () => false,
    );
    if (isFile) runtimes.push(runtime);
  }
  return runtimes;
}

async function subfolders(directory: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const isFolder =
      entry.isDirectory() ||
      (entry.isSymbolicLink() &&
        (await stat(join(directory, entry.name)).then(
          (s) => s.isDirectory(),
          () => false,
        )));
    if (isFolder) names.push(entry.name);
  }
  return names;
}
