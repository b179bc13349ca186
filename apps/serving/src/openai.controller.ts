/** OpenAI-compatible routes (plus vLLM's adapter routes). Thin: validation in requests.ts, work in completions.ts / adapter-sync.ts. */
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Auth, Authenticated, Permission, type AuthUser } from '@clara/auth';
import { REPLICA_HEADER } from '@clara/contracts';
import { checkAdapterAccess } from './access.js';
import { OpenAIError, toOpenAIError } from './openai-errors.js';
import { parseChatRequest, parseCompletionRequest, parseLoadAdapter, parseUnloadAdapter } from './requests.js';
import { SERVING_STATE, type ServingState } from './serving-state.js';

@ApiTags('openai')
@Controller('v1')
export class OpenAIController {
  constructor(@Inject(SERVING_STATE) private readonly s: ServingState) {}

  private async track<T>(endpoint: string, model: string | undefined, res: Response, work: () => Promise<T>): Promise<T> {
    res.setHeader(REPLICA_HEADER, this.s.replicaId);
    try {
      const out = await work();
      this.s.metrics.requests.inc({ endpoint, model: model ?? '', status: String(res.statusCode || 200) });
      return out;
    } catch (err) {
      // names nobody serves are not used as label values (a client could otherwise grow the series without bound)
      const label = model !== undefined && this.s.engine.isServed(model) ? model : '(unknown)';
      this.s.metrics.requests.inc({ endpoint, model: label, status: String(toOpenAIError(err).status) });
      throw err;
    }
  }

  /** 404 for names nobody serves (after a registry lookup), 403 when the caller may not use the adapter. */
  private async authorizeModel(model: string, user: AuthUser | undefined): Promise<void> {
    if (!(await this.s.adapters.ensureKnown(model))) {
      throw new OpenAIError(404, `The model \`${model}\` does not exist.`, 'model', 'model_not_found');
    }
    if (model !== this.s.engine.modelName) checkAdapterAccess(this.s.config.CLARA_SERVING_ADAPTER_ACL, model, { roles: user?.roles ?? [] });
  }

  @Post('completions')
  @HttpCode(200)
  @Authenticated({ permission: Permission.ServingInvoke })
  @ApiOperation({ summary: 'OpenAI completions (prompt as text or token ids; SSE with stream=true)' })
  async completions(@Body() body: unknown, @Req() req: Request, @Res() res: Response, @Auth() user: AuthUser) {
    const model = typeof (body as { model?: unknown })?.model === 'string' ? (body as { model: string }).model : undefined;
    await this.track('completions', model, res, async () => {
      const parsed = parseCompletionRequest(body);
      await this.authorizeModel(parsed.model, user);
      await this.s.runner.completion(parsed, req, res);
    });
  }

  @Post('chat/completions')
  @HttpCode(200)
  @Authenticated({ permission: Permission.ServingInvoke })
  @ApiOperation({ summary: 'OpenAI chat completions (chat template from tokenizer_config.json; SSE with stream=true)' })
  async chat(@Body() body: unknown, @Req() req: Request, @Res() res: Response, @Auth() user: AuthUser) {
    const model = typeof (body as { model?: unknown })?.model === 'string' ? (body as { model: string }).model : undefined;
    await this.track('chat', model, res, async () => {
      const parsed = parseChatRequest(body);
      await this.authorizeModel(parsed.model, user);
      await this.s.runner.chat(parsed, req, res);
    });
  }

  private modelCards() {
    const created = Math.floor(this.s.startedAt / 1000);
    const base = { id: this.s.engine.modelName, object: 'model', created, owned_by: 'clara', root: this.s.engine.modelName, parent: null, max_model_len: this.s.engine.contextLength };
    const adapters = this.s.engine.pool.list().map((a) => ({
      id: a.name,
      object: 'model',
      created: a.createdAt,
      owned_by: 'clara',
      root: a.path,
      parent: this.s.engine.modelName,
      max_model_len: this.s.engine.contextLength,
      version: a.version,
      resident: a.resident,
      pinned: a.pinned,
    }));
    return [base, ...adapters];
  }

  @Get('models')
  @Authenticated({ permission: Permission.AdapterRead })
  @ApiOperation({ summary: 'The base model and every loaded adapter' })
  models() {
    return { object: 'list', data: this.modelCards() };
  }

  @Get('models/:model')
  @Authenticated({ permission: Permission.AdapterRead })
  model(@Param('model') id: string) {
    const card = this.modelCards().find((m) => m.id === id);
    if (!card) throw new OpenAIError(404, `The model \`${id}\` does not exist.`, 'model', 'model_not_found');
    return card;
  }

  @Post('load_lora_adapter')
  @HttpCode(200)
  @Authenticated({ permission: Permission.AdapterManage })
  @ApiOperation({ summary: "vLLM's load: { lora_name, lora_path }; loading an existing name hot-swaps it on every replica" })
  async load(@Body() body: unknown, @Res() res: Response) {
    await this.track('load_lora_adapter', undefined, res, async () => {
      const p = parseLoadAdapter(body);
      const info = await this.s.adapters.load(p.name, p.path, { pinned: p.pinned, version: p.version });
      res.status(200).type('text/plain').send(`Success: LoRA adapter '${info.name}' added successfully (version ${info.version}).`);
    });
  }

  @Post('unload_lora_adapter')
  @HttpCode(200)
  @Authenticated({ permission: Permission.AdapterManage })
  @ApiOperation({ summary: "vLLM's unload: { lora_name }; running requests on it finish first" })
  async unload(@Body() body: unknown, @Res() res: Response) {
    await this.track('unload_lora_adapter', undefined, res, async () => {
      const p = parseUnloadAdapter(body);
      await this.s.adapters.unload(p.name);
      res.status(200).type('text/plain').send(`Success: LoRA adapter '${p.name}' removed successfully.`);
    });
  }

  @Get('replica')
  @Authenticated({ permission: Permission.AdapterRead })
  @ApiOperation({ summary: 'Routing info for a gateway: readiness, load, resident adapters' })
  replica() {
    const list = this.s.engine.pool.list();
    return {
      replica_id: this.s.replicaId,
      ready: this.s.ready && !this.s.engine.runner.failure,
      base_model: this.s.engine.modelName,
      resident_adapters: list.filter((a) => a.resident).map((a) => a.name),
      known_adapters: list.map((a) => a.name),
      queue_depth: this.s.engine.batcher.queueDepth,
      batch_size: this.s.engine.batcher.batchSize,
      max_batch: this.s.engine.maxBatch,
      free_slots: this.s.engine.pool.capacity - this.s.engine.pool.residentCount(),
    };
  }
}
