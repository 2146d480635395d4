import { Injectable } from '@nestjs/common';
import { modelName, modelVersion } from '../../common/model-route-params';
import { validateBody } from '../../common/validation';
import { InvalidInputError } from '../../model/model-errors';
import { ModelRegistry } from '../../model/model-registry';
import { InferenceService, ModelTarget } from '../inference.service';
import { PredictionService } from '../prediction.service';
import { ClassifyRequestDto, PredictRequestDto } from './dto/tf-serving-request.dto';
import { decodeClassify, decodePredict, encodeClassify, encodeMetadata, encodePredict, encodeVersionStatus, parseCall } from './v1.codec';

/** TF Serving's REST API: model status, metadata, `:predict` and `:classify`. */
@Injectable()
export class TfServingService {
  constructor(
    private readonly inference: InferenceService,
    private readonly predictions: PredictionService,
    private readonly registry: ModelRegistry,
  ) {}

  status(name: string, version?: number): { model_version_status: object[] } {
    const statuses = version === undefined ? this.registry.model(name).versions : [this.registry.versionDetails(name, version).status];
    return { model_version_status: statuses.map(encodeVersionStatus) };
  }

  metadata(target: ModelTarget): object {
    const served = this.inference.resolve(target);
    return encodeMetadata(served.name, served.version, served.description);
  }

  /**
   * `{name}:predict` or `{name}:classify`, or with `version` given by the path,
   * `{version}:predict`. The verb in the path decides how the body is validated.
   */
  call(call: string, body: unknown, model?: string): Promise<object> {
    const { head, verb } = parseCall(call);
    const target: ModelTarget = model === undefined ? { model: modelName(head) } : { model, version: modelVersion(head) };
    if (verb === 'predict') return this.predict(target, validateBody(PredictRequestDto, body));
    if (verb === 'classify') return this.classify(target, validateBody(ClassifyRequestDto, body));
    throw new InvalidInputError(`:${verb} is not served here; models are served with :predict and :classify`);
  }

  private async predict(target: ModelTarget, request: PredictRequestDto): Promise<object> {
    const served = this.inference.resolve(target);
    const decoded = decodePredict(request, served.description);
    return encodePredict(await this.inference.infer(served, decoded.inputs), decoded);
  }

  private async classify(target: ModelTarget, request: ClassifyRequestDto): Promise<object> {
    const served = this.inference.resolve(target);
    if (!served.description.metadata.labels) {
      throw new InvalidInputError(`model "${served.name}" has no labels (metadata.json) to classify with; use :predict`);
    }
    const { predictions } = await this.predictions.predictBatch(decodeClassify(request), target, 'examples');
    return encodeClassify(predictions);
  }
}
