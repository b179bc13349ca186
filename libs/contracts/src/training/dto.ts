/**
 * Request DTOs of the training API: they validate requests (class-validator, whitelist + forbidNonWhitelisted)
 * and generate the OpenAPI document (@nestjs/swagger) — one definition for both.
 * Import from '@clara/contracts/training/dto' (kept out of the package index so services that only need
 * subjects and payload types don't load Nest/Swagger).
 */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { JOB_STATUSES, TRAINER_TYPES, type JobStatus, type TrainerType } from './job.js';

export class HyperparametersDto {
  @ApiPropertyOptional({ minimum: 1e-8, maximum: 1, example: 2e-4 })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(1e-8) @Max(1)
  learning_rate?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, example: 3 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  epochs?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 10_000_000, description: 'optimizer steps; overrides epochs' })
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000)
  max_steps?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 4096 })
  @IsOptional() @IsInt() @Min(1) @Max(4096)
  batch_size?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1024 })
  @IsOptional() @IsInt() @Min(1) @Max(1024)
  gradient_accumulation_steps?: number;

  @ApiPropertyOptional({ minimum: 8, maximum: 131072 })
  @IsOptional() @IsInt() @Min(8) @Max(131072)
  max_seq_length?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1024 })
  @IsOptional() @IsInt() @Min(1) @Max(1024)
  lora_rank?: number;

  @ApiPropertyOptional({ minimum: 0.01, maximum: 4096 })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0.01) @Max(4096)
  lora_alpha?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 0.9 })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(0.9)
  lora_dropout?: number;

  @ApiPropertyOptional({ type: [String], example: ['q_proj', 'v_proj'] })
  @IsOptional() @IsArray() @ArrayMaxSize(32) @IsString({ each: true }) @Matches(/^[A-Za-z0-9_.]{1,64}$/, { each: true })
  target_modules?: string[];

  @ApiPropertyOptional({ enum: ['adamw', 'sgd'] })
  @IsOptional() @IsIn(['adamw', 'sgd'])
  optimizer?: 'adamw' | 'sgd';

  @ApiPropertyOptional({ enum: ['constant', 'linear', 'cosine'] })
  @IsOptional() @IsIn(['constant', 'linear', 'cosine'])
  lr_scheduler?: 'constant' | 'linear' | 'cosine';

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional() @IsInt() @Min(0) @Max(1_000_000)
  warmup_steps?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 1 })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1)
  weight_decay?: number;

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(1000)
  max_grad_norm?: number;

  @ApiPropertyOptional({ minimum: 1 })
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000)
  eval_steps?: number;

  @ApiPropertyOptional({ minimum: 1 })
  @IsOptional() @IsInt() @Min(1) @Max(10_000_000)
  save_steps?: number;

  @ApiPropertyOptional({ minimum: 1 })
  @IsOptional() @IsInt() @Min(1) @Max(1000)
  early_stopping_patience?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 0.5 })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(0) @Max(0.5)
  eval_split?: number;

  @ApiPropertyOptional()
  @IsOptional() @IsBoolean()
  packing?: boolean;

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional() @IsInt() @Min(0) @Max(2 ** 31 - 1)
  seed?: number;
}

/** Relative path inside the data directory: no absolute paths, no `..` segments, no backslashes. */
export const SAFE_RELATIVE_PATH = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))(?!.*\\)[A-Za-z0-9_\-./ ]{1,512}$/;

export class CreateTrainingJobDto {
  @ApiProperty({ enum: TRAINER_TYPES, example: 'qlora' })
  @IsIn(TRAINER_TYPES as unknown as string[], { message: `trainer_type must be one of: ${TRAINER_TYPES.join(', ')}` })
  trainer_type: TrainerType;

  @ApiPropertyOptional({ description: 'YAML/JSON config file, relative to CLARA_DATA_DIR', example: 'configs/qlora_config.yaml' })
  @IsOptional() @IsString() @MaxLength(512)
  @Matches(SAFE_RELATIVE_PATH, { message: 'config_path must be a relative path inside the data directory (no "..", no leading "/")' })
  config_path?: string;

  @ApiPropertyOptional({ description: 'inline trainer config (instead of config_path)', type: 'object', additionalProperties: true })
  @IsOptional() @IsObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ minimum: 1, maximum: 10, default: 5 })
  @IsOptional() @IsInt() @Min(1) @Max(10)
  priority?: number;

  @ApiPropertyOptional({ type: [String], example: ['verwaltungsrecht', 'photovoltaik'] })
  @IsOptional() @IsArray() @ArrayMaxSize(32) @IsString({ each: true }) @MinLength(1, { each: true }) @MaxLength(64, { each: true })
  tags?: string[];

  @ApiPropertyOptional({ description: 'base model directory name under CLARA_MODELS_DIR (or a model id)', example: 'tiny-llama' })
  @IsOptional() @IsString() @MaxLength(256)
  @Matches(/^(?!.*\.\.)[A-Za-z0-9_\-./]{1,256}$/, { message: 'base_model may contain letters, digits, "_", "-", ".", "/" and no ".."' })
  base_model?: string;

  @ApiPropertyOptional({ description: 'dataset version id, or a .jsonl path relative to CLARA_DATA_DIR', example: 'datasets/train.jsonl' })
  @IsOptional() @IsString() @MaxLength(512)
  @Matches(SAFE_RELATIVE_PATH, { message: 'dataset must be a dataset version id or a relative .jsonl path inside the data directory' })
  dataset?: string;

  @ApiPropertyOptional({ type: HyperparametersDto })
  @IsOptional() @IsObject() @ValidateNested() @Type(() => HyperparametersDto)
  hyperparameters?: HyperparametersDto;

  @ApiPropertyOptional({ minimum: 1, maximum: 10, default: 3, description: 'runs before a job whose worker keeps dying is failed' })
  @IsOptional() @IsInt() @Min(1) @Max(10)
  max_attempts?: number;
}

export class ListTrainingJobsQueryDto {
  @ApiPropertyOptional({ enum: JOB_STATUSES })
  @IsOptional() @IsIn(JOB_STATUSES as unknown as string[])
  status?: JobStatus;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(64)
  tag?: string;

  @ApiPropertyOptional({ description: 'creator (user email / name)' }) @IsOptional() @IsString() @MaxLength(256)
  created_by?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(200)
  limit?: number;

  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional() @IsString() @MaxLength(200) @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor is not a cursor this API issued' })
  cursor?: string;
}

export class JobEventsQueryDto {
  @ApiPropertyOptional({ minimum: 0, default: 0, description: 'return events with seq > after' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(0)
  after?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 500 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;
}
