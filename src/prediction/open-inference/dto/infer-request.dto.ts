import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Min,
  ValidateIf,
} from 'class-validator';
import { NestedDto } from '../../../common/validation';
import { MAX_RANK } from '../../tensor-codec';
import { V2_DATATYPES } from '../datatypes';

const MAX_TENSORS = 256;

export class InferInputDto {
  /** @example "standardize_input" */
  @Length(1, 256)
  @IsString()
  name: string;

  /** @example [1, 4] */
  @ArrayMaxSize(MAX_RANK)
  @Min(0, { each: true })
  @IsInt({ each: true })
  @IsArray()
  shape: number[];

  @ApiProperty({ enum: V2_DATATYPES, example: 'FP32' })
  @IsIn(V2_DATATYPES)
  datatype: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;

  @ApiPropertyOptional({
    description:
      'The values, flat or nested, in row-major order. Absent when `parameters.binary_data_size` says the values follow the JSON in binary form.',
    type: 'array',
    items: {},
    example: [5.1, 3.5, 1.4, 0.2],
  })
  @ValidateIf((input: InferInputDto) => input.parameters?.binary_data_size === undefined || input.data !== undefined)
  @IsArray()
  data?: unknown[];
}

export class InferOutputDto {
  /** @example "dense_Dense2/dense_Dense2" */
  @Length(1, 256)
  @IsString()
  name: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;
}

/** An Open Inference Protocol inference request. */
export class InferRequestDto {
  /**
   * An identifier echoed in the response.
   * @example "42"
   */
  @IsOptional()
  @Length(0, 256)
  @IsString()
  id?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  parameters?: Record<string, unknown>;

  @NestedDto(() => InferInputDto)
  @ArrayNotEmpty()
  @ArrayMaxSize(MAX_TENSORS)
  @IsArray()
  inputs: InferInputDto[];

  /** The outputs to return; all of them when absent. */
  @IsOptional()
  @NestedDto(() => InferOutputDto)
  @ArrayMaxSize(MAX_TENSORS)
  @IsArray()
  outputs?: InferOutputDto[];
}

export class InferResponseOutputDto {
  name: string;
  shape: number[];
  datatype: string;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: '`binary_data_size` when the values follow the JSON in binary form.',
  })
  parameters?: Record<string, unknown>;
  @ApiPropertyOptional({ type: 'array', items: {}, description: 'The values, flat, in row-major order (absent when sent in binary form).' })
  data?: unknown[];
}

export class InferResponseDto {
  /** @example "iris" */
  model_name: string;
  /** @example "1" */
  model_version: string;
  /** @example "42" */
  id?: string;
  outputs: InferResponseOutputDto[];
}

/** Triton's repository index request. */
export class RepositoryIndexRequestDto {
  /** Only the models ready for inference. */
  @IsOptional()
  @IsBoolean()
  ready?: boolean;
}

/** One model version in Triton's repository index. */
export class RepositoryIndexEntryDto {
  /** @example "iris" */
  name: string;
  /** @example "1" */
  version?: string;
  /** READY, LOADING, UNAVAILABLE or UNLOADING. @example "READY" */
  state: string;
  /** Why the version is not ready. */
  reason?: string;
}
