import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class ModelRefDto {
  /** @example "iris" */
  name: string;

  /** @example "1" */
  version: string;
}

export class RowPredictionDto {
  @ApiProperty({
    description: 'The most likely class label; its output index when the model has no labels.',
    oneOf: [{ type: 'string' }, { type: 'integer' }],
    example: 'setosa',
  })
  prediction: string | number;

  @ApiPropertyOptional({
    description: 'Probability of each class, keyed by label (models with labels).',
    type: 'object',
    additionalProperties: { type: 'number' },
    example: { setosa: 0.9737, versicolor: 0.0262, virginica: 0.0001 },
  })
  probabilities?: Record<string, number>;

  @ApiPropertyOptional({
    description: 'The raw output values of the row (models without labels).',
    type: [Number],
  })
  outputs?: number[];
}

export class PredictionResponseDto extends RowPredictionDto {
  model: ModelRefDto;
}

export class BatchPredictionResponseDto {
  /** One prediction per row, in request order. */
  predictions: RowPredictionDto[];

  model: ModelRefDto;
}
