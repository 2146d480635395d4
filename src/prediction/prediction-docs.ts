import { applyDecorators } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, getSchemaPath } from '@nestjs/swagger';
import { ApiErrorResponses } from '../common/api-error-responses.decorator';
import { PredictionRequestDto } from './dto/prediction-request.dto';
import { BatchPredictionResponseDto, PredictionResponseDto } from './dto/prediction-response.dto';

export const MODEL_EXAMPLE = { name: 'iris', version: '1' };
export const SETOSA_EXAMPLE = { setosa: 0.9737, versicolor: 0.0262, virginica: 0.0001 };
const VERSICOLOR_EXAMPLE = { setosa: 0.0061, versicolor: 0.8903, virginica: 0.1036 };

/** The request, response and error documentation of every POST prediction route. */
export function ApiPrediction(): MethodDecorator {
  return applyDecorators(
    ApiExtraModels(PredictionResponseDto, BatchPredictionResponseDto),
    ApiBody({
      type: PredictionRequestDto,
      examples: {
        'one row': { value: { features: [5.1, 3.5, 1.4, 0.2] } },
        'one row, named features': {
          value: { features: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 } },
        },
        'a batch': {
          value: {
            instances: [
              [5.1, 3.5, 1.4, 0.2],
              [6.7, 3.1, 4.7, 1.5],
            ],
          },
        },
      },
    }),
    ApiOkResponse({
      description: '`features` gets one prediction; `instances` gets `predictions`, in request order.',
      content: {
        'application/json': {
          schema: {
            oneOf: [{ $ref: getSchemaPath(PredictionResponseDto) }, { $ref: getSchemaPath(BatchPredictionResponseDto) }],
          },
          examples: {
            'one row': { value: { prediction: 'setosa', probabilities: SETOSA_EXAMPLE, model: MODEL_EXAMPLE } },
            'a batch': {
              value: {
                predictions: [
                  { prediction: 'setosa', probabilities: SETOSA_EXAMPLE },
                  { prediction: 'versicolor', probabilities: VERSICOLOR_EXAMPLE },
                ],
                model: MODEL_EXAMPLE,
              },
            },
          },
        },
      },
    }),
    ApiErrorResponses(400, 404, 413, 415, 429, 500, 503, 504),
  );
}
