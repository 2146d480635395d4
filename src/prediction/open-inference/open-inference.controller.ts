import { Body, Controller, Get, HttpCode, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AdminTokenGuard } from '../../common/admin-token.guard';
import { ApiProtocolErrors } from '../../common/api-error-responses.decorator';
import { ModelNamePipe, ModelVersionPipe } from '../../common/model-route-params';
import { InvalidInputError } from '../../model/model-errors';
import { ModelRegistry, ModelState, ServedModel } from '../../model/model-registry';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TensorSpec } from '../../model/model-types';
import { InferenceService, ModelTarget, NamedTensors } from '../inference.service';
import { flattenData, hostTensor, toFlat } from '../tensor-codec';
import { BINARY_HEADER_LENGTH, binaryDataSize, binaryHostTensor, binaryTensorsOf, booleanParameter, encodeBinary } from './binary-tensor';
import { datatypeOf, datatypesFeeding, integerRangeOf, V2Datatype } from './datatypes';
import { InferRequestDto, InferResponseDto } from './dto/infer-request.dto';
import { ServerInfo } from '../../config/server-info';

const NAME = { name: 'name', example: 'iris' };
const VERSION = { name: 'version', example: 1 };
const INFER_EXAMPLE = {
  id: '42',
  inputs: [{ name: 'standardize_input', shape: [2, 4], datatype: 'FP32', data: [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]] }],
  outputs: [{ name: 'dense_Dense2/dense_Dense2' }],
};
const INFER_RESPONSE = {
  model_name: 'iris',
  model_version: '1',
  id: '42',
  outputs: [{ name: 'dense_Dense2/dense_Dense2', shape: [2, 3], datatype: 'FP32', data: [0.99999, 0.0000069, 3.3e-17, 0.0000011, 0.0021, 0.9979] }],
};
const METADATA_EXAMPLE = {
  name: 'iris',
  versions: ['1'],
  platform: 'tensorflowjs_layers',
  inputs: [{ name: 'standardize_input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'dense_Dense2/dense_Dense2', datatype: 'FP32', shape: [-1, 3] }],
};

/** The protocol's extensions this server implements, as `GET /v2` lists them. */
const EXTENSIONS = ['model_repository', 'model_list', 'binary_tensor_data'];
const INFER_DESCRIPTION =
  'Input data may be flat or nested (row-major); `outputs` selects which outputs come back.\n\n' +
  'Binary tensor data extension: send the JSON below followed by the inputs\' raw bytes (little-endian, row-major), ' +
  'with an `Inference-Header-Content-Length` header giving the JSON\'s byte length and `parameters.binary_data_size` ' +
  'on each input sent that way; ask for outputs in binary form with `parameters.binary_data: true` on an output, or ' +
  '`parameters.binary_data_output: true` on the request. The response then carries the same header.';

interface TensorMetadata {
  name: string;
  datatype: V2Datatype;
  shape: number[];
}

/**
 * The Open Inference Protocol's REST API (KServe V2, as Triton and MLServer serve it), with
 * KServe's model list and Triton's repository load/unload. Every error answers `{"error": ...}`.
 */
@ApiTags('open inference protocol (v2)')
@Controller('v2')
export class OpenInferenceController {
  constructor(
    private readonly inference: InferenceService,
    private readonly registry: ModelRegistry,
    private readonly server: ServerInfo,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Server metadata: name, version, extensions' })
  @ApiOkResponse({ example: { name: 'ml-microservice', version: '0.1.0', extensions: EXTENSIONS } })
  metadata(): { name: string; version: string; extensions: string[] } {
    return { name: this.server.name, version: this.server.version, extensions: EXTENSIONS };
  }

  @Get('models')
  @ApiOperation({ summary: 'The models served (KServe extension)' })
  @ApiOkResponse({ example: { models: ['iris'] } })
  list(): { models: string[] } {
    return { models: this.registry.models().map((model) => model.name) };
  }

  @Get('models/:name')
  @ApiOperation({ summary: "Model metadata of the newest served version: platform, inputs and outputs with datatypes and shapes (-1 is any size)" })
  @ApiParam(NAME)
  @ApiOkResponse({ example: METADATA_EXAMPLE })
  @ApiProtocolErrors(400, 404, 503)
  model(@Param('name', ModelNamePipe) name: string): object {
    return this.describe({ model: name });
  }

  @Get('models/:name/versions/:version')
  @ApiOperation({ summary: 'Model metadata of one version' })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: METADATA_EXAMPLE })
  @ApiProtocolErrors(400, 404, 503)
  modelVersion(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): object {
    return this.describe({ model: name, version });
  }

  @Get('models/:name/ready')
  @ApiOperation({ summary: 'Model ready: 200 when the model has a version serving, 503 when not' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: { name: 'iris', ready: true } })
  @ApiProtocolErrors(400, 404, 503)
  ready(@Param('name', ModelNamePipe) name: string): { name: string; ready: true } {
    this.inference.resolve({ model: name });
    return { name, ready: true };
  }

  @Get('models/:name/versions/:version/ready')
  @ApiOperation({ summary: 'Model version ready: 200 when that version serves, 503 when not' })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: { name: 'iris', version: '1', ready: true } })
  @ApiProtocolErrors(400, 404, 503)
  versionReady(
    @Param('name', ModelNamePipe) name: string,
    @Param('version', ModelVersionPipe) version: number,
  ): { name: string; version: string; ready: true } {
    this.inference.resolve({ model: name, version });
    return { name, version: String(version), ready: true };
  }

  @Post('models/:name/infer')
  @HttpCode(200)
  @ApiOperation({ summary: 'Inference with the newest served version', description: INFER_DESCRIPTION })
  @ApiParam(NAME)
  @ApiBody({ type: InferRequestDto, examples: { iris: { value: INFER_EXAMPLE } } })
  @ApiOkResponse({ type: InferResponseDto, example: INFER_RESPONSE })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  infer(
    @Param('name', ModelNamePipe) name: string,
    @Body() request: InferRequestDto,
    @Req() http: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<InferResponseDto | Buffer> {
    return this.run({ model: name }, request, http, reply);
  }

  @Post('models/:name/versions/:version/infer')
  @HttpCode(200)
  @ApiOperation({ summary: 'Inference with one version', description: INFER_DESCRIPTION })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiBody({ type: InferRequestDto, examples: { iris: { value: INFER_EXAMPLE } } })
  @ApiOkResponse({ type: InferResponseDto, example: INFER_RESPONSE })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  inferVersion(
    @Param('name', ModelNamePipe) name: string,
    @Param('version', ModelVersionPipe) version: number,
    @Body() request: InferRequestDto,
    @Req() http: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<InferResponseDto | Buffer> {
    return this.run({ model: name, version }, request, http, reply);
  }

  @Post('repository/models/:name/load')
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Load a model from the repository (Triton extension; needs ADMIN_TOKEN)' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: {} })
  @ApiProtocolErrors(400, 401, 403, 404, 422)
  async load(@Param('name', ModelNamePipe) name: string): Promise<object> {
    await this.registry.load(name);
    return {};
  }

  @Post('repository/models/:name/unload')
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Unload a model (Triton extension; needs ADMIN_TOKEN)' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: {} })
  @ApiProtocolErrors(400, 401, 403, 404)
  async unload(@Param('name', ModelNamePipe) name: string): Promise<object> {
    await this.registry.unload(name);
    return {};
  }

  private describe(target: ModelTarget): object {
    const served = this.inference.resolve(target);
    const versions = this.registry
      .model(target.model)
      .versions.filter((v) => v.state === ModelState.AVAILABLE)
      .map((v) => String(v.version));
    return {
      name: served.name,
      versions,
      platform: served.model.format === 'graph' ? 'tensorflowjs_graph' : 'tensorflowjs_layers',
      inputs: served.model.signature.inputs.map(tensorMetadata),
      outputs: served.model.signature.outputs.map(tensorMetadata),
    };
  }

  private async run(target: ModelTarget, request: InferRequestDto, http: FastifyRequest, reply: FastifyReply): Promise<InferResponseDto | Buffer> {
    const served = this.inference.resolve(target);
    const inputs = this.inputsOf(served, request, binaryTensorsOf(http));
    // Which outputs come back in binary form: each output's `binary_data`, by default the
    // request's `binary_data_output`. Checked before the model runs.
    const allBinary = booleanParameter(request.parameters, 'binary_data_output', '');
    const binaryOutputs = new Map<string, boolean>();
    (request.outputs ?? []).forEach((output, i) => {
      if (binaryOutputs.has(output.name)) throw InvalidInputError.at(`outputs[${i}].name`, `"${output.name}" is asked for twice`);
      binaryOutputs.set(output.name, output.parameters?.binary_data === undefined ? allBinary : booleanParameter(output.parameters, 'binary_data', `outputs[${i}]`));
    });
    const { outputs } = await this.inference.infer(served, inputs, request.outputs?.map((o) => o.name));
    const chunks: Buffer[] = [];
    const header: InferResponseDto = {
      model_name: served.name,
      model_version: String(served.version),
      ...(request.id !== undefined ? { id: request.id } : {}),
      outputs: Object.entries(outputs).map(([name, tensor]) => {
        const described = { name, shape: tensor.shape, datatype: datatypeOf(tensor.dtype) };
        if (!(binaryOutputs.get(name) ?? allBinary)) return { ...described, data: toFlat(tensor) };
        const bytes = encodeBinary(tensor.data);
        chunks.push(bytes);
        return { ...described, parameters: { binary_data_size: bytes.length } };
      }),
    };
    if (chunks.length === 0) return header;
    const json = Buffer.from(JSON.stringify(header));
    void reply.header(BINARY_HEADER_LENGTH, json.length).type('application/octet-stream');
    return Buffer.concat([json, ...chunks]);
  }

  /**
   * The named input tensors of a request: values given as JSON (flat or nested), or, with the
   * binary tensor data extension, as the bytes after the JSON header, in the inputs' order.
   */
  private inputsOf(served: ServedModel, request: InferRequestDto, binary: Buffer | undefined): NamedTensors {
    const specs = new Map(served.model.signature.inputs.map((spec) => [spec.name, spec]));
    const inputs: NamedTensors = {};
    let offset = 0;
    request.inputs.forEach((input, i) => {
      const path = `inputs[${i}]`;
      const spec = specs.get(input.name);
      if (!spec) {
        throw InvalidInputError.at(`${path}.name`, `"${input.name}" is not an input of model "${served.name}"; its inputs are ${[...specs.keys()].join(', ')}`);
      }
      if (inputs[input.name]) throw InvalidInputError.at(`${path}.name`, `"${input.name}" is given twice`);
      const datatype = input.datatype as V2Datatype;
      const accepted = datatypesFeeding(spec.dtype);
      if (!accepted.includes(datatype)) {
        throw InvalidInputError.at(`${path}.datatype`, `${datatype} cannot feed input "${spec.name}", which takes ${datatypeOf(spec.dtype)}${accepted.length > 1 ? ` (or ${accepted.slice(1).join(', ')})` : ''}`);
      }
      const size = binaryDataSize(input.parameters, path);
      if (size === undefined) {
        const { values, nesting } = flattenData(input.data, `${path}.data`);
        inputs[input.name] = hostTensor(spec, input.shape, values, `${path}.data`, integerRangeOf(datatype), nesting);
        return;
      }
      if (input.data !== undefined) {
        throw InvalidInputError.at(path, 'has both "data" and parameters.binary_data_size; send the values one way');
      }
      if (!binary) {
        throw InvalidInputError.at(
          `${path}.parameters.binary_data_size`,
          'says the values follow the JSON in binary form, but the request has no Inference-Header-Content-Length header giving where the JSON ends',
        );
      }
      if (size > binary.length - offset) {
        throw InvalidInputError.at(
          `${path}.parameters.binary_data_size`,
          `is ${size} bytes, but ${binary.length - offset} bytes of binary data are left after the inputs before it`,
        );
      }
      inputs[input.name] = binaryHostTensor(spec, input.shape, datatype, binary.subarray(offset, offset + size), path, integerRangeOf(datatype));
      offset += size;
    });
    if (binary && offset !== binary.length) {
      throw InvalidInputError.at(
        'body',
        `has ${binary.length} bytes of binary data after the JSON header, but the inputs' binary_data_size add up to ${offset}`,
      );
    }
    return inputs;
  }
}

function tensorMetadata(spec: TensorSpec): TensorMetadata {
  return { name: spec.name, datatype: datatypeOf(spec.dtype), shape: spec.shape ?? [-1] };
}

