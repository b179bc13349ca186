/** HTTP routes of the datasets service: thin — each validates transport details and calls one use case. */
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req, Res, UploadedFiles, UseInterceptors } from '@nestjs/common';
import { FilesInterceptor } from '@nestjs/platform-express';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { createReadStream, existsSync } from 'node:fs';
import { Auth, Authenticated, Permission, Public, type AuthUser } from '@clara/auth';
import { Uds3InputError, Uds3NotFoundError, parseJsonDocuments, parseJsonl, parseUploadedFiles, type CreateVersionInput, type UploadedFile } from '@clara/uds3';
import { DatasetsService } from './datasets.service.js';

export const MAX_UPLOAD_FILES = 1000;
const WRITERS = { roles: ['admin', 'trainer'] };

@ApiTags('datasets')
@Controller()
export class DatasetsController {
  constructor(@Inject(DatasetsService) private readonly datasets: DatasetsService) {}

  @Get('health')
  @Public()
  health() {
    return { status: 'ok', service: 'clara-datasets' };
  }

  /**
   * Readiness: 503 while the search caches (keyword index, graph) are being loaded into memory after a start
   * (searches work meanwhile, but compete with that loading), 200 once they are. Liveness stays GET /health.
   */
  @Get('ready')
  @Public()
  ready(@Res({ passthrough: true }) res: Response) {
    if (this.datasets.ready) return { status: 'ready', service: 'clara-datasets' };
    res.status(503);
    return { status: 'warming', service: 'clara-datasets', message: 'the search caches (keyword index, graph) are being loaded into memory' };
  }

  @Post('api/datasets/documents')
  @Authenticated(WRITERS)
  @ApiOperation({ summary: 'Ingest documents: JSON array, JSONL (application/x-ndjson) or multipart text/markdown files' })
  @UseInterceptors(FilesInterceptor('files', MAX_UPLOAD_FILES))
  ingest(@Req() req: Request, @Body() body: unknown, @UploadedFiles() files: UploadedFile[] | undefined, @Auth() user: AuthUser) {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    let documents;
    if (type === 'multipart/form-data') {
      const fields = (body ?? {}) as Record<string, string>;
      const unknown = Object.keys(fields).find((k) => !['domain', 'document_type', 'language', 'source'].includes(k));
      if (unknown) throw new Uds3InputError(unknown, 'unknown form field; allowed: files, domain, document_type, language, source');
      documents = parseUploadedFiles(files ?? [], fields);
    } else if (type === 'application/x-ndjson' || type === 'application/jsonl') {
      if (typeof body !== 'string') throw new Uds3InputError('body', 'must be JSON lines');
      documents = parseJsonl(body);
    } else if (type === 'application/json') {
      documents = parseJsonDocuments(body);
    } else {
      throw new Uds3InputError('content-type', 'must be application/json, application/x-ndjson or multipart/form-data');
    }
    return this.datasets.ingest(documents, user?.email ?? null);
  }

  @Get('api/datasets/documents/:id')
  @Authenticated({ permission: Permission.DatasetRead })
  getDocument(@Param('id') id: string) {
    return this.datasets.getDocument(id);
  }

  @Delete('api/datasets/documents/:id')
  @Authenticated(WRITERS)
  deleteDocument(@Param('id') id: string) {
    return this.datasets.deleteDocument(id);
  }

  @Post('api/datasets/search')
  @HttpCode(200)
  @Authenticated({ roles: ['admin', 'trainer', 'analyst'] })
  @ApiOperation({ summary: "Hybrid search with the seed's body (query_text, top_k, filters, min_quality_score, search_types, weights)" })
  search(@Body() body: unknown) {
    return this.datasets.search(body);
  }

  @Get('api/datasets/statistics')
  @Authenticated({ permission: Permission.DatasetRead })
  statistics(@Query() query: Record<string, unknown>) {
    return this.datasets.statistics(query);
  }

  @Post('api/datasets/versions')
  @Authenticated(WRITERS)
  @ApiOperation({ summary: 'Freeze a version: by query (search body), by filters, or by chunk ids' })
  createVersion(@Body() body: CreateVersionInput, @Auth() user: AuthUser) {
    return this.datasets.createVersion(body, user?.email ?? null);
  }

  @Get('api/datasets/versions')
  @Authenticated({ permission: Permission.DatasetRead })
  listVersions(@Query('dataset') dataset?: string) {
    return this.datasets.listVersions(dataset);
  }

  @Get('api/datasets/versions/:id')
  @Authenticated({ permission: Permission.DatasetRead })
  getVersion(@Param('id') id: string) {
    return this.datasets.getVersion(id);
  }

  @Get('api/datasets/versions/:id/diff/:other')
  @Authenticated({ permission: Permission.DatasetRead })
  diff(@Param('id') id: string, @Param('other') other: string) {
    return this.datasets.diff(id, other);
  }

  @Post('api/datasets/versions/:id/export')
  @HttpCode(200)
  @Authenticated(WRITERS)
  @ApiOperation({ summary: 'Export a version as JSONL (text | chat | alpaca) with a deterministic train/eval split' })
  export(@Param('id') id: string, @Body() body: unknown) {
    return this.datasets.export(id, body);
  }

  @Get('api/datasets/versions/:id/files/:file')
  @Authenticated({ permission: Permission.DatasetRead })
  async download(@Param('id') id: string, @Param('file') file: string, @Res() res: Response) {
    const path = await this.datasets.exportedFile(id, file);
    if (!existsSync(path)) throw new Uds3NotFoundError(`${file} has not been exported for version ${id}`);
    res.setHeader('content-type', 'application/x-ndjson');
    res.setHeader('content-disposition', `attachment; filename="${file}"`);
    createReadStream(path).pipe(res);
  }

  @Post('api/datasets/versions/:id/lineage')
  @Authenticated(WRITERS)
  recordLineage(@Param('id') id: string, @Body() body: { training_job_id?: unknown; relation?: unknown }) {
    return this.datasets.recordLineage(id, body);
  }

  @Get('api/datasets/versions/:id/lineage')
  @Authenticated({ permission: Permission.DatasetRead })
  lineage(@Param('id') id: string) {
    return this.datasets.lineageOfVersion(id);
  }

  @Get('api/datasets/lineage/jobs/:jobId')
  @Authenticated({ permission: Permission.DatasetRead })
  versionsOfJob(@Param('jobId') jobId: string) {
    return this.datasets.versionsOfJob(jobId);
  }
}
