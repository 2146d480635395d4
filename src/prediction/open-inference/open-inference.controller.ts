import { Body, Controller, Get, HttpCode, Param, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AdminTokenGuard } from '../../common/admin-token.guard';
import { ApiProtocolErrors } from '../../common/api-error-responses.decorator';
import { ModelNamePipe, ModelVersionPipe } from '../../common/model-route-params';
import { InferenceRoute, RouteFacts } from '../../http/route-facts';
import { TensorBytes } from '../../http/tensor-bytes.decorator';
import { BinaryResponseInterceptor } from './binary-response.interceptor';
import { InferRequestDto, InferResponseDto, RepositoryIndexEntryDto, RepositoryIndexRequestDto } from './dto/infer-request.dto';
import { EXTENSIONS, OpenInferenceService } from './open-inference.service';
import type { BinaryInferResponse, ModelMetadataResponse } from './v2.codec';

const NAME = { name: 'name', example: 'iris' };
const VERSION = { name: 'version', example: 1 };
const INFER_EXAMPLE = {
  id: '42',
  inputs: [
    {
      name: 'standardize_input',
      shape: [2, 4],
      datatype: 'FP32',
      data: [
        [5.1, 3.5, 1.4, 0.2],
        [6.3, 3.3, 6.0, 2.5],
      ],
    },
  ],
  outputs: [{ name: 'dense_Dense2/dense_Dense2' }],
};
const INFER_RESPONSE = {
  model_name: 'iris',
  model_version: '1',
  id: '42',
  outputs: [
    { name: 'dense_Dense2/dense_Dense2', shape: [2, 3], datatype: 'FP32', data: [0.99999, 0.0000069, 3.3e-17, 0.0000011, 0.0021, 0.9979] },
  ],
};
const METADATA_EXAMPLE = {
  name: 'iris',
  versions: ['1'],
  platform: 'tensorflowjs_layers',
  inputs: [{ name: 'standardize_input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'dense_Dense2/dense_Dense2', datatype: 'FP32', shape: [-1, 3] }],
};

const INFER_DESCRIPTION =
  'Input data may be flat or nested (row-major); `outputs` selects which outputs come back.\n\n' +
  "Binary tensor data extension: send the JSON below followed by the inputs' raw bytes (little-endian, row-major), " +
  "with an `Inference-Header-Content-Length` header giving the JSON's byte length and `parameters.binary_data_size` " +
  'on each input sent that way; ask for outputs in binary form with `parameters.binary_data: true` on an output, or ' +
  '`parameters.binary_data_output: true` on the request. The response then carries the same header.\n\n' +
  "Any float datatype feeds a float input and any integer datatype an integer one, each value checked within the input's type. " +
  'INT64 and UINT64 values travel as JSON numbers within ±(2^53 - 1), and beyond it only in binary form. BYTES elements are ' +
  'strings in JSON, and in binary form each a 4-byte little-endian length followed by its UTF-8 bytes.';

/**
 * The Open Inference Protocol's REST API (KServe V2, as Triton and MLServer serve it), with
 * KServe's model list and Triton's model repository extension. Every error answers `{"error": ...}`.
 */
@ApiTags('open inference protocol (v2)')
@RouteFacts({ errorShape: 'protocol' })
@Controller('v2')
export class OpenInferenceController {
  constructor(private readonly v2: OpenInferenceService) {}

  @Get()
  @ApiOperation({ summary: 'Server metadata: name, version, extensions' })
  @ApiOkResponse({ example: { name: 'ml-microservice', version: '0.1.0', extensions: EXTENSIONS } })
  metadata(): { name: string; version: string; extensions: string[] } {
    return this.v2.serverMetadata();
  }

  @Get('models')
  @ApiOperation({ summary: 'The models served (KServe extension)' })
  @ApiOkResponse({ example: { models: ['iris'] } })
  list(): { models: string[] } {
    return this.v2.modelList();
  }

  @Get('models/:name')
  @ApiOperation({
    summary: 'Model metadata of the newest served version: platform, inputs and outputs with datatypes and shapes (-1 is any size)',
  })
  @ApiParam(NAME)
  @ApiOkResponse({ example: METADATA_EXAMPLE })
  @ApiProtocolErrors(400, 404, 503)
  model(@Param('name', ModelNamePipe) name: string): ModelMetadataResponse {
    return this.v2.modelMetadata({ model: name });
  }

  @Get('models/:name/versions/:version')
  @ApiOperation({ summary: 'Model metadata of one version' })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: METADATA_EXAMPLE })
  @ApiProtocolErrors(400, 404, 503)
  modelVersion(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): ModelMetadataResponse {
    return this.v2.modelMetadata({ model: name, version });
  }

  @Get('models/:name/ready')
  @ApiOperation({
    summary: 'Model ready: 200 when the model has a version serving; 503 while it loads, 404 when it failed to load or is unloaded',
  })
  @ApiParam(NAME)
  @ApiOkResponse({ example: { name: 'iris', ready: true } })
  @ApiProtocolErrors(400, 404, 503)
  ready(@Param('name', ModelNamePipe) name: string): { name: string; ready: true } {
    return this.v2.ready({ model: name });
  }

  @Get('models/:name/versions/:version/ready')
  @ApiOperation({ summary: 'Model version ready: 200 when that version serves; 503 while it loads, 404 when it failed to load' })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: { name: 'iris', version: '1', ready: true } })
  @ApiProtocolErrors(400, 404, 503)
  versionReady(
    @Param('name', ModelNamePipe) name: string,
    @Param('version', ModelVersionPipe) version: number,
  ): { name: string; ready: true } {
    return this.v2.ready({ model: name, version });
  }

  @Post('models/:name/infer')
  @InferenceRoute((params) => ({ model: params.name }))
  @RouteFacts({ binaryTensors: true })
  @UseInterceptors(BinaryResponseInterceptor)
  @HttpCode(200)
  @ApiOperation({ summary: 'Inference with the newest served version', description: INFER_DESCRIPTION })
  @ApiParam(NAME)
  @ApiBody({ type: InferRequestDto, examples: { iris: { value: INFER_EXAMPLE } } })
  @ApiOkResponse({ type: InferResponseDto, example: INFER_RESPONSE })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  infer(
    @Param('name', ModelNamePipe) name: string,
    @Body() request: InferRequestDto,
    @TensorBytes() tensorBytes: Buffer | null,
  ): Promise<InferResponseDto | BinaryInferResponse> {
    return this.v2.infer({ model: name }, request, tensorBytes);
  }

  @Post('models/:name/versions/:version/infer')
  @InferenceRoute((params) => ({ model: params.name, version: params.version }))
  @RouteFacts({ binaryTensors: true })
  @UseInterceptors(BinaryResponseInterceptor)
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
    @TensorBytes() tensorBytes: Buffer | null,
  ): Promise<InferResponseDto | BinaryInferResponse> {
    return this.v2.infer({ model: name, version }, request, tensorBytes);
  }

  @Post('repository/index')
  @RouteFacts({ management: true })
  @HttpCode(200)
  @ApiOperation({
    summary: 'Every model version in the repository with its state; only the ready ones with `"ready": true` (Triton extension)',
  })
  @ApiOkResponse({ type: [RepositoryIndexEntryDto], example: [{ name: 'iris', version: '1', state: 'READY' }] })
  @ApiProtocolErrors(400)
  index(@Body() request: RepositoryIndexRequestDto): RepositoryIndexEntryDto[] {
    return this.v2.repositoryIndex(request.ready === true);
  }

  @Post('repository/models/:name/load')
  @RouteFacts({ management: true })
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Load a model from the repository (Triton extension; needs ADMIN_TOKEN)' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: {} })
  @ApiProtocolErrors(400, 401, 403, 404, 422)
  load(@Param('name', ModelNamePipe) name: string): Promise<object> {
    return this.v2.load(name);
  }

  @Post('repository/models/:name/unload')
  @RouteFacts({ management: true })
  @HttpCode(200)
  @UseGuards(AdminTokenGuard)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Unload a model (Triton extension; needs ADMIN_TOKEN)' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: {} })
  @ApiProtocolErrors(400, 401, 403, 404)
  unload(@Param('name', ModelNamePipe) name: string): Promise<object> {
    return this.v2.unload(name);
  }
}
