import { BadRequestException, Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProtocolErrors } from '../../common/api-error-responses.decorator';
import { validateBody } from '../../common/validation';
import { ModelNamePipe, ModelVersionPipe } from '../../common/model-route-params';
import { InputProblem, InvalidInputError, ModelNotFoundError } from '../../model/model-errors';
import { ModelRegistry, ModelState, ModelVersionStatus } from '../../model/model-registry';
import type { HostTensor, TensorDType, TensorSpec } from '../../model/model-types';
import { numberProblem } from '../feature-rows';
import { InferenceService, ModelTarget, NamedTensors } from '../inference.service';
import { PredictionService } from '../prediction.service';
import { flattenNested, hostTensor, toNested } from '../tensor-codec';
import { ClassifyRequestDto, PredictRequestDto } from './dto/tf-serving-request.dto';

/** The only signature a TF.js model has; TF Serving's clients name it or leave it empty. */
const DEFAULT_SIGNATURE = 'serving_default';
const CALL = /^(.+):(predict|classify|regress)$/;
const NAME = { name: 'name', example: 'iris' };
const VERSION = { name: 'version', example: 1 };

const TF_DTYPES: Record<TensorDType, string> = {
  float32: 'DT_FLOAT',
  int32: 'DT_INT32',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
  complex64: 'DT_COMPLEX64',
};

/** TF Serving's names for version states; a version that failed to load has ended. */
const TF_STATES: Record<ModelState, string> = {
  [ModelState.LOADING]: 'LOADING',
  [ModelState.AVAILABLE]: 'AVAILABLE',
  [ModelState.UNLOADING]: 'UNLOADING',
  [ModelState.UNAVAILABLE]: 'END',
};

const STATUS_EXAMPLE = {
  model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
};
const PREDICT_EXAMPLE = { instances: [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]] };
const PREDICT_RESPONSE = { predictions: [[0.99999, 0.0000069, 3.3e-17], [3.2e-10, 3.4e-8, 1]] };
const CLASSIFY_EXAMPLE = { examples: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }] };
const CLASSIFY_RESPONSE = { result: [[['setosa', 0.99999], ['versicolor', 0.0000069], ['virginica', 3.3e-17]]] };

/**
 * TF Serving's REST API: model status, metadata, `:predict` (row and columnar formats) and
 * `:classify`, so TF Serving clients work unchanged. Errors answer `{"error": "..."}`.
 */
@ApiTags('tf serving (v1)')
@ApiExtraModels(PredictRequestDto, ClassifyRequestDto)
@Controller('v1/models')
export class TfServingController {
  constructor(
    private readonly inference: InferenceService,
    private readonly predictions: PredictionService,
    private readonly registry: ModelRegistry,
  ) {}

  @Get(':name')
  @ApiOperation({ summary: "Model status: every version's state" })
  @ApiParam(NAME)
  @ApiOkResponse({ example: STATUS_EXAMPLE })
  @ApiProtocolErrors(400, 404)
  status(@Param('name', ModelNamePipe) name: string): object {
    return { model_version_status: this.registry.model(name).versions.map(versionStatus) };
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: "One version's status" })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: STATUS_EXAMPLE })
  @ApiProtocolErrors(400, 404)
  versionStatus(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): object {
    return { model_version_status: [versionStatus(this.registry.versionDetails(name, version).status)] };
  }

  @Get(':name/metadata')
  @ApiOperation({ summary: 'Model metadata: the serving_default signature of the newest served version' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: metadataExample() })
  @ApiProtocolErrors(400, 404, 503)
  metadata(@Param('name', ModelNamePipe) name: string): object {
    return this.describe({ model: name });
  }

  @Get(':name/versions/:version/metadata')
  @ApiOperation({ summary: "One version's metadata" })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: metadataExample() })
  @ApiProtocolErrors(400, 404, 503)
  versionMetadata(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): object {
    return this.describe({ model: name, version });
  }

  @Post(':call')
  @HttpCode(200)
  @ApiOperation({
    summary: '`{name}:predict` or `{name}:classify` with the newest served version',
    description:
      '`:predict` takes `instances` (row format, answered with `predictions`) or `inputs` (columnar, answered with ' +
      '`outputs`); the output name is dropped when the model has one output. `:classify` takes `examples` of ' +
      'named features and answers `result`: [label, score] pairs per example, for models with labels.',
  })
  @ApiParam({ name: 'call', example: 'iris:predict', description: '`{name}:predict` or `{name}:classify`' })
  @ApiBody({
    schema: { oneOf: [{ $ref: '#/components/schemas/PredictRequestDto' }, { $ref: '#/components/schemas/ClassifyRequestDto' }] },
    examples: { predict: { value: PREDICT_EXAMPLE }, classify: { value: CLASSIFY_EXAMPLE } },
  })
  @ApiOkResponse({ content: { 'application/json': { examples: { predict: { value: PREDICT_RESPONSE }, classify: { value: CLASSIFY_RESPONSE } } } } })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  call(@Param('call') call: string, @Body() body: unknown): Promise<object> {
    const { name, verb } = parseCall(call);
    return this.dispatch({ model: new ModelNamePipe().transform(name) }, verb, body);
  }

  @Post(':name/versions/:call')
  @HttpCode(200)
  @ApiOperation({ summary: '`{version}:predict` or `{version}:classify` with one version' })
  @ApiParam(NAME)
  @ApiParam({ name: 'call', example: '1:predict', description: '`{version}:predict` or `{version}:classify`' })
  @ApiBody({ examples: { predict: { value: PREDICT_EXAMPLE }, classify: { value: CLASSIFY_EXAMPLE } }, schema: { type: 'object' } })
  @ApiOkResponse({ content: { 'application/json': { examples: { predict: { value: PREDICT_RESPONSE }, classify: { value: CLASSIFY_RESPONSE } } } } })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  callVersion(@Param('name', ModelNamePipe) name: string, @Param('call') call: string, @Body() body: unknown): Promise<object> {
    const { name: version, verb } = parseCall(call);
    return this.dispatch({ model: name, version: new ModelVersionPipe().transform(version) }, verb, body);
  }

  private async dispatch(target: ModelTarget, verb: string, body: unknown): Promise<object> {
    if (verb === 'predict') return this.predict(target, validated(PredictRequestDto, body));
    if (verb === 'classify') return this.classify(target, validated(ClassifyRequestDto, body));
    throw new InvalidInputError(`:${verb} is not served here; TF.js models are served with :predict and :classify`);
  }

  private async predict(target: ModelTarget, request: PredictRequestDto): Promise<object> {
    checkSignature(request.signature_name);
    const served = this.inference.resolve(target);
    const specs = served.model.signature.inputs;
    const rowFormat = request.instances !== undefined;
    const inputs = rowFormat ? rowInputs(specs, request.instances!) : columnarInputs(specs, request.inputs);
    const { outputs } = await this.inference.infer(served, inputs);
    const names = Object.keys(outputs);
    if (!rowFormat) {
      const nested = (t: HostTensor) => toNested(t.data, t.shape, t.dtype);
      return { outputs: names.length === 1 ? nested(outputs[names[0]]) : Object.fromEntries(names.map((n) => [n, nested(outputs[n])])) };
    }
    const rows = request.instances!.length;
    const predictions = Array.from({ length: rows }, (_, r) =>
      names.length === 1 ? rowOf(outputs[names[0]], r, rows) : Object.fromEntries(names.map((n) => [n, rowOf(outputs[n], r, rows)])),
    );
    return { predictions };
  }

  private async classify(target: ModelTarget, request: ClassifyRequestDto): Promise<object> {
    checkSignature(request.signature_name);
    const served = this.inference.resolve(target);
    if (!served.model.metadata.labels) {
      throw new InvalidInputError(`model "${served.name}" has no labels (metadata.json) to classify with; use :predict`);
    }
    const rows = request.examples.map((example, i) => {
      const row: Record<string, number> = {};
      for (const [feature, value] of Object.entries({ ...request.context, ...example })) {
        const scalar = Array.isArray(value) && value.length === 1 ? value[0] : value;
        const problem = numberProblem(scalar);
        if (problem) throw InvalidInputError.at(`examples[${i}].${feature}`, `${problem} (or a one-item list of one)`);
        row[feature] = scalar as number;
      }
      return row;
    });
    const { predictions } = await this.predictions.predictBatch(rows, target, 'examples');
    return { result: predictions.map((p) => Object.entries(p.probabilities ?? {})) };
  }

  private describe(target: ModelTarget): object {
    const served = this.inference.resolve(target);
    const tensors = (specs: TensorSpec[]) => Object.fromEntries(specs.map((spec) => [spec.name, tensorInfo(spec)]));
    return {
      model_spec: { name: served.name, signature_name: '', version: String(served.version) },
      metadata: {
        signature_def: {
          signature_def: {
            [DEFAULT_SIGNATURE]: {
              inputs: tensors(served.model.signature.inputs),
              outputs: tensors(served.model.signature.outputs),
              method_name: 'tensorflow/serving/predict',
            },
          },
        },
      },
    };
  }
}

/** The body checked against its DTO; the verb in the path decides which DTO, so the pipe cannot. */
function validated<T extends object>(type: new () => T, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError('the request body must be a JSON object');
  }
  try {
    return validateBody(type, body);
  } catch (error) {
    const { message, details } = (error as BadRequestException).getResponse() as { message: string; details: InputProblem[] };
    throw new InvalidInputError(message, details);
  }
}

function parseCall(call: string): { name: string; verb: string } {
  const match = CALL.exec(call);
  if (!match) throw new ModelNotFoundError(`no route for "${call}": use {name}:predict or {name}:classify`);
  return { name: match[1], verb: match[2] };
}

function checkSignature(name: string | undefined): void {
  if (name !== undefined && name !== '' && name !== DEFAULT_SIGNATURE) {
    throw InvalidInputError.at('signature_name', `"${name}" is not a signature of this model; it has ${DEFAULT_SIGNATURE}`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Row format: instances are values of the one input, or objects keyed by input name. */
function rowInputs(specs: TensorSpec[], instances: unknown[]): NamedTensors {
  const named = instances.every(isPlainObject);
  if (!named && specs.length !== 1) {
    throw InvalidInputError.at('instances', `the model takes ${specs.map((s) => s.name).join(', ')}: give each instance as an object keyed by input name`);
  }
  const inputs: NamedTensors = {};
  if (named) {
    const known = new Set(specs.map((s) => s.name));
    instances.forEach((instance, r) => {
      for (const key of Object.keys(instance as object)) {
        if (!known.has(key)) throw InvalidInputError.at(`instances[${r}].${key}`, `is not an input of the model; its inputs are ${[...known].join(', ')}`);
      }
    });
  }
  for (const spec of specs) {
    const stacked = named
      ? instances.map((instance, r) => {
          const value = (instance as Record<string, unknown>)[spec.name];
          if (value === undefined) throw InvalidInputError.at(`instances[${r}]`, `is missing input "${spec.name}"`);
          return value;
        })
      : instances;
    const path = named ? `instances[*].${spec.name}` : 'instances';
    const { shape, values } = flattenNested(stacked, path);
    inputs[spec.name] = hostTensor(spec, shape, values, path, undefined, shape);
  }
  return inputs;
}

/** Columnar format: the whole batch of the one input, or an object keyed by input name. */
function columnarInputs(specs: TensorSpec[], given: unknown): NamedTensors {
  const known = new Set(specs.map((s) => s.name));
  const named = isPlainObject(given) && Object.keys(given).length > 0 && Object.keys(given).every((k) => known.has(k));
  if (!named) {
    if (specs.length !== 1) {
      throw InvalidInputError.at('inputs', `the model takes ${[...known].join(', ')}: give an object keyed by input name`);
    }
    if (isPlainObject(given)) {
      throw InvalidInputError.at('inputs', `names ${Object.keys(given).join(', ') || 'nothing'}; the model's input is ${specs[0].name}`);
    }
  }
  const inputs: NamedTensors = {};
  for (const spec of specs) {
    const value = named ? (given as Record<string, unknown>)[spec.name] : given;
    const path = named ? `inputs.${spec.name}` : 'inputs';
    if (value === undefined) throw InvalidInputError.at(path, 'is missing');
    const { shape, values } = flattenNested(value, path);
    inputs[spec.name] = hostTensor(spec, shape, values, path, undefined, shape);
  }
  return inputs;
}

/** Row `r` of an output whose first dimension is the batch, as nested lists. */
function rowOf(tensor: HostTensor, r: number, rows: number): unknown {
  if (tensor.shape[0] !== rows) {
    throw new Error(`output of shape [${tensor.shape}] has no batch dimension of ${rows} rows`);
  }
  const inner = tensor.shape.slice(1);
  const stride = inner.reduce((n, d) => n * d, 1);
  return toNested(tensor.data.subarray(r * stride, (r + 1) * stride), inner, tensor.dtype);
}

function versionStatus(status: ModelVersionStatus): object {
  return {
    version: String(status.version),
    state: TF_STATES[status.state],
    status: { error_code: status.state === ModelState.UNAVAILABLE ? 'UNKNOWN' : 'OK', error_message: status.reason ?? '' },
  };
}

function tensorInfo(spec: TensorSpec): object {
  return {
    dtype: TF_DTYPES[spec.dtype],
    tensor_shape: spec.shape === null ? { dim: [], unknown_rank: true } : { dim: spec.shape.map((d) => ({ size: String(d), name: '' })), unknown_rank: false },
    name: spec.name,
  };
}

function metadataExample(): object {
  const input = { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '-1', name: '' }, { size: '4', name: '' }], unknown_rank: false }, name: 'standardize_input' };
  const output = { ...input, tensor_shape: { ...input.tensor_shape, dim: [{ size: '-1', name: '' }, { size: '3', name: '' }] }, name: 'dense_Dense2/dense_Dense2' };
  return {
    model_spec: { name: 'iris', signature_name: '', version: '1' },
    metadata: { signature_def: { signature_def: { serving_default: { inputs: { standardize_input: input }, outputs: { 'dense_Dense2/dense_Dense2': output }, method_name: 'tensorflow/serving/predict' } } } },
  };
}
