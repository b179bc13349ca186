import { BadRequestException, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Query, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Auth, Authenticated, Permission, type AuthUser } from '@clara/auth';
import { AdaptersService } from './adapters.service.js';

const uuid = new ParseUUIDPipe({
  exceptionFactory: () => new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'id must be a UUID' }),
});

function limitOf(raw: string | undefined): number {
  if (raw === undefined) return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'limit must be an integer from 1 to 1000', errors: [{ field: 'limit', messages: ['must be an integer from 1 to 1000'] }] });
  }
  return n;
}

@ApiTags('adapters')
@Controller('api/adapters')
export class AdaptersController {
  constructor(private readonly adapters: AdaptersService) {}

  @Get()
  @Authenticated({ permission: Permission.AdapterRead })
  @ApiOperation({ summary: 'Registered adapters, newest first' })
  @ApiQuery({ name: 'name', required: false })
  @ApiQuery({ name: 'base_model', required: false })
  @ApiQuery({ name: 'limit', required: false })
  list(@Query('name') name?: string, @Query('base_model') baseModel?: string, @Query('limit') limit?: string) {
    return this.adapters.list({ name, baseModel, limit: limitOf(limit) });
  }

  @Get(':id')
  @Authenticated({ permission: Permission.AdapterRead })
  @ApiOperation({ summary: 'One adapter: versions, lineage, metrics, files' })
  get(@Param('id', uuid) id: string) {
    return this.adapters.get(id);
  }

  @Get(':id/download')
  @Authenticated({ permission: Permission.AdapterRead })
  @ApiOperation({ summary: 'The PEFT adapter directory as a tar archive' })
  @ApiProduces('application/x-tar')
  async download(@Param('id', uuid) id: string, @Res() res: Response) {
    const { filename, stream } = await this.adapters.archive(id);
    res.setHeader('Content-Type', 'application/x-tar');
    res.setHeader('Content-Disposition', `attachment; filename="${filename}"`);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  @Delete(':id')
  @HttpCode(200)
  @Authenticated({ roles: ['admin'], permission: Permission.AdapterManage })
  @ApiOperation({ summary: 'Delete an adapter (admin): record, files, registry event' })
  delete(@Param('id', uuid) id: string, @Auth() user: AuthUser) {
    return this.adapters.delete(id, user.email);
  }
}
