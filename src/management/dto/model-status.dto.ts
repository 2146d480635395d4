import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class TensorSpecDto {
  /** @example "dense_Dense1_input" */
  name: string;

  /** @example "float32" */
  dtype: string;

  @ApiProperty({
    type: [Number],
    nullable: true,
    description: 'Dimensions; -1 is any size; null when the model does not declare its rank.',
    example: [-1, 4],
  })
  shape: number[] | null;
}

export class ModelVersionDto {
  /** @example "iris" */
  name: string;

  /** @example 1 */
  version: number;

  @ApiProperty({ enum: ['LOADING', 'AVAILABLE', 'UNAVAILABLE', 'UNLOADING'], example: 'AVAILABLE' })
  state: string;

  /** Why the version is not available. */
  reason?: string;

  /** When the version became available. */
  loadedAt?: Date;

  /**
   * Milliseconds it took to load and warm up.
   * @example 17
   */
  loadMs?: number;

  @ApiPropertyOptional({ enum: ['layers', 'graph', 'onnx'], example: 'layers' })
  format?: string;

  inputs?: TensorSpecDto[];

  outputs?: TensorSpecDto[];

  /**
   * Class labels, from metadata.json.
   * @example ["setosa", "versicolor", "virginica"]
   */
  labels?: string[];

  /**
   * Feature names, from metadata.json.
   * @example ["sepal_length", "sepal_width", "petal_length", "petal_width"]
   */
  features?: string[];

  /** From metadata.json. */
  description?: string;
}

export class ModelStatusDto {
  /** @example "iris" */
  name: string;

  @ApiProperty({
    enum: ['AVAILABLE', 'LOADING', 'UNAVAILABLE', 'UNLOADED'],
    description: 'AVAILABLE when at least one version serves.',
    example: 'AVAILABLE',
  })
  state: string;

  /** Why no version serves, or what is wrong beside the versions that do. */
  reason?: string;

  @ApiPropertyOptional({
    description: "The version policy from the model's config.json.",
    example: { kind: 'latest', count: 1 },
  })
  versionPolicy?: object;

  versions: ModelVersionDto[];
}

export class ModelListDto {
  models: ModelStatusDto[];
}
