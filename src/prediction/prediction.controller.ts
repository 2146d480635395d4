import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/api-error-responses.decorator';
import { ModelNamePipe, ModelVersionPipe } from '../common/model-route-params';
import { InferenceRoute } from '../http/route-facts';
import { PredictionRequestDto } from './dto/prediction-request.dto';
import { PredictionResponseDto } from './dto/prediction-response.dto';
import { FeatureQueryPipe } from './feature-query.pipe';
import { ApiPrediction, MODEL_EXAMPLE, SETOSA_EXAMPLE } from './prediction-docs';
import { BatchPrediction, PredictionService, SinglePrediction } from './prediction.service';

const ROW_HELP =
  'Send one row in `features` (a list in feature order, or an object keyed by feature name), ' +
  'or several in `instances`. The answer names the most likely class and the probability of each; ' +
  'for a model without labels, the index of its largest output and the raw `outputs`.';

@ApiTags('prediction')
@Controller()
export class PredictionController {
  constructor(private readonly predictions: PredictionService) {}

  @Post('prediction')
  @InferenceRoute(() => ({}))
  @HttpCode(200)
  @ApiOperation({ summary: 'Predict one row or a batch of rows with the default model', description: ROW_HELP })
  @ApiPrediction()
  predict(@Body() request: PredictionRequestDto): Promise<SinglePrediction | BatchPrediction> {
    return this.predictions.predict(request);
  }

  @Get('prediction')
  @ApiOperation({
    summary: 'Predict one row given as query parameters, one per feature',
    description: 'Each feature of the default model is a parameter: `?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2`.',
  })
  @ApiQuery({
    name: 'features',
    description: 'One parameter per feature name of the model (see its metadata), each a decimal number.',
    required: true,
    style: 'form',
    explode: true,
    schema: {
      type: 'object',
      additionalProperties: { type: 'number' },
      example: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
    },
  })
  @ApiOkResponse({
    description: 'The most likely class and the probability of each.',
    type: PredictionResponseDto,
    example: { prediction: 'setosa', probabilities: SETOSA_EXAMPLE, model: MODEL_EXAMPLE },
  })
  @ApiErrorResponses(400, 404, 429, 500, 503)
  predictFromQuery(@Query(FeatureQueryPipe) row: Record<string, number>): Promise<SinglePrediction> {
    return this.predictions.predictOne(row, {}, 'query');
  }

  @Post('models/:name/prediction')
  @InferenceRoute((params) => ({ model: params.name }))
  @HttpCode(200)
  @ApiOperation({ summary: "Predict with a model's newest available version", description: ROW_HELP })
  @ApiParam({ name: 'name', example: 'iris' })
  @ApiPrediction()
  predictWithModel(
    @Param('name', ModelNamePipe) name: string,
    @Body() request: PredictionRequestDto,
  ): Promise<SinglePrediction | BatchPrediction> {
    return this.predictions.predict(request, { model: name });
  }

  @Post('models/:name/versions/:version/prediction')
  @InferenceRoute((params) => ({ model: params.name, version: params.version }))
  @HttpCode(200)
  @ApiOperation({ summary: 'Predict with one version of a model', description: ROW_HELP })
  @ApiParam({ name: 'name', example: 'iris' })
  @ApiParam({ name: 'version', example: 1 })
  @ApiPrediction()
  predictWithVersion(
    @Param('name', ModelNamePipe) name: string,
    @Param('version', ModelVersionPipe) version: number,
    @Body() request: PredictionRequestDto,
  ): Promise<SinglePrediction | BatchPrediction> {
    return this.predictions.predict(request, { model: name, version });
  }
}
