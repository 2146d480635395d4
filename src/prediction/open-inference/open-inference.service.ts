import { Injectable } from '@nestjs/common';
import { ServerInfo } from '../../config/server-info';
import { ModelRegistry } from '../../model/model-registry';
import { ModelState, ModelVersionStatus } from '../../model/model-status';
import { InferenceService, ModelTarget } from '../inference.service';
import type { InferRequestDto, InferResponseDto, RepositoryIndexEntryDto } from './dto/infer-request.dto';
import { BinaryInferResponse, decodeInferRequest, encodeInferResponse, encodeModelMetadata, ModelMetadataResponse } from './v2.codec';

/** The protocol's extensions this server implements, as `GET /v2` lists them. */
export const EXTENSIONS = ['model_repository', 'model_list', 'binary_tensor_data'];

/** Triton's names for version states in the repository index. */
const INDEX_STATES: Record<ModelState, string> = {
  [ModelState.LOADING]: 'LOADING',
  [ModelState.AVAILABLE]: 'READY',
  [ModelState.UNAVAILABLE]: 'UNAVAILABLE',
  [ModelState.UNLOADING]: 'UNLOADING',
};

/**
 * The Open Inference Protocol (KServe V2, as Triton and MLServer serve it), with KServe's
 * model list and Triton's model repository extension.
 */
@Injectable()
export class OpenInferenceService {
  constructor(
    private readonly inference: InferenceService,
    private readonly registry: ModelRegistry,
    private readonly server: ServerInfo,
  ) {}

  serverMetadata(): { name: string; version: string; extensions: string[] } {
    return { name: this.server.name, version: this.server.version, extensions: EXTENSIONS };
  }

  modelList(): { models: string[] } {
    return { models: this.registry.models().map((model) => model.name) };
  }

  modelMetadata(target: ModelTarget): ModelMetadataResponse {
    const served = this.inference.resolve(target);
    const versions = this.registry
      .model(target.model)
      .versions.filter((v) => v.state === ModelState.AVAILABLE)
      .map((v) => v.version);
    return encodeModelMetadata(served.name, versions, served.description);
  }

  /** 200 when the model (or the version) serves; the error says why not. */
  ready(target: ModelTarget): { name: string; version?: string; ready: true } {
    this.inference.resolve(target);
    return { name: target.model, ...(target.version !== undefined ? { version: String(target.version) } : {}), ready: true };
  }

  async infer(target: ModelTarget, request: InferRequestDto, tensorBytes: Buffer | null): Promise<InferResponseDto | BinaryInferResponse> {
    const served = this.inference.resolve(target);
    const decoded = decodeInferRequest(request, tensorBytes, served.name, served.description);
    const outputs = await this.inference.infer(served, decoded.inputs, decoded.outputs);
    return encodeInferResponse(outputs, decoded.binary, { model: served.name, version: served.version, id: request.id });
  }

  /** Triton's repository index: every model version with its state; only the ready ones when asked. */
  repositoryIndex(readyOnly: boolean): RepositoryIndexEntryDto[] {
    const entries = this.registry
      .models()
      .flatMap((model): RepositoryIndexEntryDto[] =>
        model.versions.length > 0
          ? model.versions.map(indexEntry)
          : [{ name: model.name, state: 'UNAVAILABLE', reason: model.reason ?? model.state }],
      );
    return readyOnly ? entries.filter((entry) => entry.state === 'READY') : entries;
  }

  async load(name: string): Promise<object> {
    await this.registry.load(name);
    return {};
  }

  async unload(name: string): Promise<object> {
    await this.registry.unload(name);
    return {};
  }
}

function indexEntry(status: ModelVersionStatus): RepositoryIndexEntryDto {
  return {
    name: status.name,
    version: String(status.version),
    state: INDEX_STATES[status.state],
    ...(status.reason ? { reason: status.reason } : {}),
  };
}
