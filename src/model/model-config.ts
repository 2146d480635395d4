import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plainToInstance, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  Max,
  Min,
  validateSync,
  ValidateNested,
  ValidationError,
} from 'class-validator';
import { ModelFormatError } from './model-errors';

export const CONFIG_JSON = 'config.json';
const MAX_VERSIONS = 1000;

class LatestPolicyFile {
  @Min(1)
  @Max(MAX_VERSIONS)
  @IsInt()
  num_versions = 1;
}

class SpecificPolicyFile {
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_VERSIONS)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @IsArray()
  versions: number[];
}

/** `{"all": {}}` takes no settings. */
class AllPolicyFile {}

class VersionPolicyFile {
  @IsOptional()
  @ValidateNested()
  @Type(() => LatestPolicyFile)
  latest?: LatestPolicyFile;

  @IsOptional()
  @ValidateNested()
  @Type(() => AllPolicyFile)
  @IsObject()
  all?: AllPolicyFile;

  @IsOptional()
  @ValidateNested()
  @Type(() => SpecificPolicyFile)
  specific?: SpecificPolicyFile;
}

class BatchingFile {
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @IsOptional()
  @Min(1)
  @Max(100_000)
  @IsInt()
  max_batch_size?: number;

  @IsOptional()
  @Min(0)
  @Max(60_000)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  max_queue_delay_ms?: number;

  @IsOptional()
  @Min(1)
  @Max(10_000_000)
  @IsInt()
  max_queue_size?: number;
}

/** `models/<name>/config.json`, as TF Serving's model config spells its version policy. */
class ModelConfigFile {
  @IsOptional()
  @ValidateNested()
  @Type(() => VersionPolicyFile)
  version_policy?: VersionPolicyFile;

  @IsOptional()
  @ValidateNested()
  @Type(() => BatchingFile)
  batching?: BatchingFile;
}

export type VersionPolicy = { kind: 'latest'; count: number } | { kind: 'all' } | { kind: 'specific'; versions: number[] };

/** Per-model batching settings; unset fields take the service's defaults. */
export interface BatchingSettings {
  enabled?: boolean;
  maxBatchSize?: number;
  maxQueueDelayMs?: number;
  maxQueueSize?: number;
}

export interface ModelConfig {
  versionPolicy: VersionPolicy;
  batching: BatchingSettings;
}

export const DEFAULT_MODEL_CONFIG: ModelConfig = { versionPolicy: { kind: 'latest', count: 1 }, batching: {} };

/** Reads and validates a model's optional `config.json`; a missing one means the defaults. */
export async function readModelConfig(modelDirectory: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(join(modelDirectory, CONFIG_JSON), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_MODEL_CONFIG;
    throw new ModelFormatError(`cannot read ${CONFIG_JSON}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`${CONFIG_JSON} is not valid JSON: ${(error as Error).message}`);
  }
  return parseModelConfig(json);
}

export function parseModelConfig(json: unknown): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFormatError(`${CONFIG_JSON} must hold a JSON object`);
  }
  const file = plainToInstance(ModelConfigFile, json, { exposeDefaultValues: true });
  // forbidUnknownValues is off so that `all`, a class with no settings, validates; unknown keys
  // are still refused by forbidNonWhitelisted.
  const errors = validateSync(file, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false });
  if (errors.length > 0) {
    throw new ModelFormatError(`${CONFIG_JSON}: ${flatten(errors).join('; ')}`);
  }
  return { versionPolicy: policyOf(file.version_policy), batching: batchingOf(file.batching) };
}

function policyOf(file: VersionPolicyFile | undefined): VersionPolicy {
  if (!file) return DEFAULT_MODEL_CONFIG.versionPolicy;
  const given = (['latest', 'all', 'specific'] as const).filter((key) => file[key] !== undefined);
  if (given.length !== 1) {
    throw new ModelFormatError(`${CONFIG_JSON}: version_policy must name exactly one of latest, all, specific`);
  }
  if (file[given[0]] === null) {
    throw new ModelFormatError(`${CONFIG_JSON}: version_policy.${given[0]} must be an object`);
  }
  if (file.latest) return { kind: 'latest', count: file.latest.num_versions };
  if (file.specific) return { kind: 'specific', versions: [...new Set(file.specific.versions)].sort((a, b) => a - b) };
  return { kind: 'all' };
}

function batchingOf(file: BatchingFile | undefined): BatchingSettings {
  return {
    enabled: file?.enabled,
    maxBatchSize: file?.max_batch_size,
    maxQueueDelayMs: file?.max_queue_delay_ms,
    maxQueueSize: file?.max_queue_size,
  };
}

/** The versions a policy serves out of those on disk (ascending). */
export function selectVersions(policy: VersionPolicy, onDisk: readonly number[]): number[] {
  const sorted = [...onDisk].sort((a, b) => a - b);
  switch (policy.kind) {
    case 'latest':
      return sorted.slice(-policy.count);
    case 'all':
      return sorted;
    case 'specific':
      return sorted.filter((v) => policy.versions.includes(v));
  }
}

function flatten(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(`property ${error.property} should not exist`)
        ? `${path} is not a known setting`
        : message.replace(error.property, path),
    );
    return [...own, ...flatten(error.children ?? [], path)];
  });
}
