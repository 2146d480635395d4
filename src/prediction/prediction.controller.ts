import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiQuery, ApiTags, getSchemaPath } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/api-error-responses.decorator';
import { PredictionRequestDto } from './dto/prediction-request.dto';
import { BatchPredictionResponseDto, PredictionResponseDto } from './dto/prediction-response.dto';
import { FeatureQueryPipe } from './feature-query.pipe';
import { BatchPrediction, PredictionService, SinglePrediction } from './prediction.service';

const MODEL = { name: 'iris', version: '1' };
const SETOSA = { setosa: 0.9737, versicolor: 0.0262, virginica: 0.0001 };
const VERSICOLOR = { setosa: 0.0061, versicolor: 0.8903, virginica: 0.1036 };

@ApiTags('prediction')
@ApiExtraModels(PredictionResponseDto, BatchPredictionResponseDto)
@Controller('prediction')
export class PredictionController {
  constructor(private readonly predictions: PredictionService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Predict one row or a batch of rows with the default model',
    description:
      'Send one row in `features` (a list in feature order, or an object keyed by feature name), ' +
      'or several in `instances`. The answer names the most likely class and the probability of each.',
  })
  @ApiBody({
    type: PredictionRequestDto,
    examples: {
      'one row': { value: { features: [5.1, 3.5, 1.4, 0.2] } },
      'one row, named features': {
        value: { features: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 } },
      },
      'a batch': { value: { instances: [[5.1, 3.5, 1.4, 0.2], [6.7, 3.1, 4.7, 1.5]] } },
    },
  })
  @ApiOkResponse({
    description: '`features` gets one prediction; `instances` gets `predictions`, in request order.',
    content: {
      'application/json': {
        schema: {
          oneOf: [
            { $ref: getSchemaPath(PredictionResponseDto) },
            { $ref: getSchemaPath(BatchPredictionResponseDto) },
          ],
        },
        examples: {
          'one row': { value: { prediction: 'setosa', probabilities: SETOSA, model: MODEL } },
          'a batch': {
            value: {
              predictions: [
                { prediction: 'setosa', probabilities: SETOSA },
                { prediction: 'versicolor', probabilities: VERSICOLOR },
              ],
              model: MODEL,
            },
          },
        },
      },
    },
  })
  @ApiErrorResponses(400, 404, 413, 415, 500, 503)
  predict(@Body() request: PredictionRequestDto): Promise<SinglePrediction | BatchPrediction> {
    return request.instances !== undefined
      ? this.predictions.predictBatch(request.instances)
      : this.predictions.predictOne(request.features!);
  }

  @Get()
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
    type: PredictionResponseDto,
    example: { prediction: 'setosa', probabilities: SETOSA, model: MODEL },
  })
  @ApiErrorResponses(400, 404, 500, 503)
  predictFromQuery(@Query(FeatureQueryPipe) row: Record<string, number>): Promise<SinglePrediction> {
    return this.predictions.predictOne(row, 'query');
  }
}
