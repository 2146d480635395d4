import { ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, IsArray, IsObject, IsOptional, IsString, MaxLength, ValidateIf } from 'class-validator';
import { ExactlyOneOf } from '../../feature-row.validators';

const MAX_ROWS = 1_000_000;

/** TF Serving's predict request: the row format (`instances`) or the columnar one (`inputs`). */
export class PredictRequestDto {
  /** Only the default signature is served; `serving_default` and an empty name select it. */
  @IsOptional()
  @MaxLength(256)
  @IsString()
  signature_name?: string;

  @ApiPropertyOptional({
    description: 'Row format: one item per row; an object keyed by input name for several inputs.',
    type: 'array',
    items: {},
    example: [
      [5.1, 3.5, 1.4, 0.2],
      [6.3, 3.3, 6.0, 2.5],
    ],
  })
  @ValidateIf((request: PredictRequestDto) => request.instances !== undefined)
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_ROWS)
  @IsArray()
  instances?: unknown[];

  @ApiPropertyOptional({
    description: 'Columnar format: the whole batch per input; an object keyed by input name for several inputs.',
    example: { standardize_input: [[5.1, 3.5, 1.4, 0.2]] },
  })
  @ExactlyOneOf('instances', 'send "instances" (row format) or "inputs" (columnar format)')
  inputs?: unknown;
}

/** TF Serving's classify request: tf.Example-like objects of named features. */
export class ClassifyRequestDto {
  @IsOptional()
  @MaxLength(256)
  @IsString()
  signature_name?: string;

  @ApiPropertyOptional({ description: 'Features shared by every example.', type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  context?: Record<string, unknown>;

  @ApiPropertyOptional({
    description: 'One object per example, keyed by feature name; a value may be a number or a one-item list.',
    type: 'array',
    items: { type: 'object', additionalProperties: true },
    example: [{ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }],
  })
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_ROWS)
  @IsObject({ each: true })
  @IsArray()
  examples: Record<string, unknown>[];
}
