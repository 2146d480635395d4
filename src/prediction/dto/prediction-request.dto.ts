import { ApiPropertyOptional } from '@nestjs/swagger';
import { ExactlyOneOf, IsFeatureRow, IsFeatureRows } from '../feature-row.validators';
import type { FeatureRow } from '../feature-rows';

const ROW_SCHEMA = {
  oneOf: [
    { type: 'array', items: { type: 'number', format: 'float' }, minItems: 1 },
    { type: 'object', additionalProperties: { type: 'number', format: 'float' } },
  ],
};

/** A prediction request: one row in `features`, or a batch of rows in `instances`. */
export class PredictionRequestDto {
  @ApiPropertyOptional({
    description:
      "One row: its values in the model's feature order, or an object keyed by feature name " +
      "(the names in the model's metadata.json). Values must be finite and within float32 range.",
    ...ROW_SCHEMA,
    example: [5.1, 3.5, 1.4, 0.2],
  })
  @ExactlyOneOf('instances', 'send "features" (one row) or "instances" (a list of rows)')
  @IsFeatureRow()
  features?: FeatureRow;

  @ApiPropertyOptional({
    description:
      'A batch of rows, each like `features`, predicted in one request and answered in the same ' +
      'order. At most MAX_BATCH_ROWS rows (1000 by default).',
    type: 'array',
    items: ROW_SCHEMA,
    minItems: 1,
    example: [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.1, 4.7, 1.5],
    ],
  })
  @IsFeatureRows()
  instances?: FeatureRow[];
}
