import { BadRequestException, Body, Controller, Delete, Get, Headers, HttpCode, Param, ParseUUIDPipe, Post, Query, Res } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Auth, Authenticated, Permission, type AuthUser } from '@clara/auth';
import { CreateTrainingJobDto, JobEventsQueryDto, ListTrainingJobsQueryDto } from '@clara/contracts/training/dto';
import { JobsService } from './jobs.service.js';

const uuid = new ParseUUIDPipe({
  exceptionFactory: () => new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'id must be a UUID' }),
});

@ApiTags('training jobs')
@Controller('api/training/jobs')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @Authenticated({ permission: Permission.TrainingJobCreate })
  @ApiOperation({ summary: 'Queue a training job' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'a retried create with the same key returns the same job' })
  async create(
    @Body() dto: CreateTrainingJobDto,
    @Auth() user: AuthUser,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    const { replayed, body } = await this.jobs.create(dto, user.email, idempotencyKey);
    res.status(replayed ? 200 : 201);
    if (replayed) res.setHeader('Idempotent-Replayed', 'true');
    res.setHeader('Location', `/api/training/jobs/${body.job_id}`);
    return body;
  }

  @Get('list')
  @Authenticated({ permission: Permission.TrainingJobRead })
  @ApiOperation({ summary: 'List jobs, newest first (cursor pagination)' })
  list(@Query() query: ListTrainingJobsQueryDto) {
    return this.jobs.list(query);
  }

  @Get(':id')
  @Authenticated({ permission: Permission.TrainingJobRead })
  @ApiOperation({ summary: 'Job status, progress and latest metrics' })
  get(@Param('id', uuid) id: string) {
    return this.jobs.get(id);
  }

  @Get(':id/events')
  @Authenticated({ permission: Permission.TrainingJobRead })
  @ApiOperation({ summary: 'Event history of a job (seq > after)' })
  events(@Param('id', uuid) id: string, @Query() query: JobEventsQueryDto) {
    return this.jobs.events(id, query.after ?? 0, query.limit ?? 500);
  }

  @Delete(':id')
  @HttpCode(200)
  @Authenticated({ permission: Permission.TrainingJobCancel })
  @ApiOperation({ summary: 'Cancel: pending → cancelled, running → cancelling, finished → 409' })
  cancel(@Param('id', uuid) id: string, @Auth() user: AuthUser) {
    return this.jobs.cancel(id, user.email);
  }
}
