import { Injectable } from '@nestjs/common';
import { ModelRegistry } from '../model/model-registry';
import { ModelState, type ModelStatus, type ModelVersionStatus } from '../model/model-status';
import type { VersionDescription } from '../model/model-types';
import type { ModelListDto, ModelStatusDto, ModelVersionDto } from './dto/model-status.dto';

/** The model repository's state, with what each loaded version says about itself, and changes to it. */
@Injectable()
export class ModelManagementService {
  constructor(private readonly registry: ModelRegistry) {}

  list(): ModelListDto {
    return { models: this.registry.models().map((model) => ({ ...model, versions: model.versions.map((v) => versionDto(v)) })) };
  }

  model(name: string): ModelStatusDto {
    return this.describe(this.registry.model(name));
  }

  version(name: string, version: number): ModelVersionDto {
    const { status, description } = this.registry.versionDetails(name, version);
    return versionDto(status, description);
  }

  async load(name: string): Promise<ModelStatusDto> {
    return this.describe(await this.registry.load(name));
  }

  async unload(name: string): Promise<ModelStatusDto> {
    return this.describe(await this.registry.unload(name));
  }

  async reload(name: string): Promise<ModelStatusDto> {
    return this.describe(await this.registry.reload(name));
  }

  private describe(status: ModelStatus): ModelStatusDto {
    return {
      ...status,
      versions: status.versions.map((v) =>
        versionDto(v, v.state === ModelState.AVAILABLE ? this.registry.versionDetails(v.name, v.version).description : undefined),
      ),
    };
  }
}

function versionDto(status: ModelVersionStatus, loaded?: VersionDescription): ModelVersionDto {
  if (!loaded) return { ...status };
  const { labels, features, description } = loaded.metadata;
  return {
    ...status,
    format: loaded.format,
    inputs: [...loaded.signature.inputs],
    outputs: [...loaded.signature.outputs],
    ...(labels ? { labels } : {}),
    ...(features ? { features } : {}),
    ...(typeof description === 'string' ? { description } : {}),
  };
}
