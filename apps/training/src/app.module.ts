import { Module, type DynamicModule } from '@nestjs/common';
import { AdaptersModule } from './adapters/adapters.module.js';
import type { AdaptersDeps } from './adapters/adapters.service.js';
import { AuthModule, type AuthConfig } from '@clara/auth';
import { DatasetsProxyController, DATASETS_PROXY_DEPS, type DatasetsProxyDeps } from './datasets/datasets-proxy.controller.js';
import { HealthController, HEALTH_DEPS, type HealthDeps } from './health/health.controller.js';
import { JobsController } from './jobs/jobs.controller.js';
import { JobsService, TRAINING_DEPS, type TrainingDeps } from './jobs/jobs.service.js';

@Module({})
export class TrainingAppModule {
  static forRoot(deps: { training: TrainingDeps; health: HealthDeps; datasets: DatasetsProxyDeps; auth: AuthConfig; adapters?: AdaptersDeps }): DynamicModule {
    return {
      module: TrainingAppModule,
      imports: [AuthModule.forRoot({ config: deps.auth }), ...(deps.adapters ? [AdaptersModule.forRoot(deps.adapters)] : [])],
      controllers: [HealthController, JobsController, DatasetsProxyController],
      providers: [
        JobsService,
        { provide: TRAINING_DEPS, useValue: deps.training },
        { provide: HEALTH_DEPS, useValue: deps.health },
        { provide: DATASETS_PROXY_DEPS, useValue: deps.datasets },
      ],
    };
  }
}
