import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProtocolErrors } from '../../common/api-error-responses.decorator';
import { ModelNamePipe, ModelVersionPipe } from '../../common/model-route-params';
import { InferenceRoute, RouteFacts } from '../../http/route-facts';
import { ClassifyRequestDto, PredictRequestDto } from './dto/tf-serving-request.dto';
import { TfServingService } from './tf-serving.service';

const NAME = { name: 'name', example: 'iris' };
const VERSION = { name: 'version', example: 1 };

const STATUS_EXAMPLE = {
  model_version_status: [{ version: '1', state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }],
};
const PREDICT_EXAMPLE = {
  instances: [
    [5.1, 3.5, 1.4, 0.2],
    [6.3, 3.3, 6.0, 2.5],
  ],
};
const PREDICT_RESPONSE = {
  predictions: [
    [0.99999, 0.0000069, 3.3e-17],
    [3.2e-10, 3.4e-8, 1],
  ],
};
const CLASSIFY_EXAMPLE = { examples: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }] };
const CLASSIFY_RESPONSE = {
  result: [
    [
      ['setosa', 0.99999],
      ['versicolor', 0.0000069],
      ['virginica', 3.3e-17],
    ],
  ],
};

/**
 * TF Serving's REST API: model status, metadata, `:predict` (row and columnar formats) and
 * `:classify`, so TF Serving clients work unchanged. Errors answer `{"error": "..."}`.
 */
@ApiTags('tf serving (v1)')
@ApiExtraModels(PredictRequestDto, ClassifyRequestDto)
@RouteFacts({ errorShape: 'protocol' })
@Controller('v1/models')
export class TfServingController {
  constructor(private readonly tfServing: TfServingService) {}

  @Get(':name')
  @ApiOperation({ summary: "Model status: every version's state" })
  @ApiParam(NAME)
  @ApiOkResponse({ example: STATUS_EXAMPLE })
  @ApiProtocolErrors(400, 404)
  status(@Param('name', ModelNamePipe) name: string): object {
    return this.tfServing.status(name);
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: "One version's status" })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: STATUS_EXAMPLE })
  @ApiProtocolErrors(400, 404)
  versionStatus(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): object {
    return this.tfServing.status(name, version);
  }

  @Get(':name/metadata')
  @ApiOperation({ summary: 'Model metadata: the serving_default signature of the newest served version' })
  @ApiParam(NAME)
  @ApiOkResponse({ example: metadataExample() })
  @ApiProtocolErrors(400, 404, 503)
  metadata(@Param('name', ModelNamePipe) name: string): object {
    return this.tfServing.metadata({ model: name });
  }

  @Get(':name/versions/:version/metadata')
  @ApiOperation({ summary: "One version's metadata" })
  @ApiParam(NAME)
  @ApiParam(VERSION)
  @ApiOkResponse({ example: metadataExample() })
  @ApiProtocolErrors(400, 404, 503)
  versionMetadata(@Param('name', ModelNamePipe) name: string, @Param('version', ModelVersionPipe) version: number): object {
    return this.tfServing.metadata({ model: name, version });
  }

  @Post(':call')
  @InferenceRoute((params) => ({ model: params.call?.split(':', 1)[0] }))
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
  @ApiOkResponse({
    content: { 'application/json': { examples: { predict: { value: PREDICT_RESPONSE }, classify: { value: CLASSIFY_RESPONSE } } } },
  })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  call(@Param('call') call: string, @Body() body: unknown): Promise<object> {
    return this.tfServing.call(call, body);
  }

  @Post(':name/versions/:call')
  @InferenceRoute((params) => ({ model: params.name, version: params.call?.split(':', 1)[0] }))
  @HttpCode(200)
  @ApiOperation({ summary: '`{version}:predict` or `{version}:classify` with one version' })
  @ApiParam(NAME)
  @ApiParam({ name: 'call', example: '1:predict', description: '`{version}:predict` or `{version}:classify`' })
  @ApiBody({ examples: { predict: { value: PREDICT_EXAMPLE }, classify: { value: CLASSIFY_EXAMPLE } }, schema: { type: 'object' } })
  @ApiOkResponse({
    content: { 'application/json': { examples: { predict: { value: PREDICT_RESPONSE }, classify: { value: CLASSIFY_RESPONSE } } } },
  })
  @ApiProtocolErrors(400, 404, 413, 415, 429, 500, 503, 504)
  callVersion(@Param('name', ModelNamePipe) name: string, @Param('call') call: string, @Body() body: unknown): Promise<object> {
    return this.tfServing.call(call, body, name);
  }
}

function metadataExample(): object {
  const input = {
    dtype: 'DT_FLOAT',
    tensor_shape: {
      dim: [
        { size: '-1', name: '' },
        { size: '4', name: '' },
      ],
      unknown_rank: false,
    },
    name: 'standardize_input',
  };
  const output = {
    ...input,
    tensor_shape: {
      ...input.tensor_shape,
      dim: [
        { size: '-1', name: '' },
        { size: '3', name: '' },
      ],
    },
    name: 'dense_Dense2/dense_Dense2',
  };
  return {
    model_spec: { name: 'iris', signature_name: '', version: '1' },
    metadata: {
      signature_def: {
        signature_def: {
          serving_default: {
            inputs: { standardize_input: input },
            outputs: { 'dense_Dense2/dense_Dense2': output },
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
  };
}
