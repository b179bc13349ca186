import { Module, type DynamicModule } from '@nestjs/common';
import { AdaptersController } from './adapters.controller.js';
import { ADAPTERS_DEPS, AdaptersService, type AdaptersDeps } from './adapters.service.js';

/** Adapter registry API (GET/DELETE /api/adapters, download). */
@Module({})
export class AdaptersModule {
  static forRoot(deps: AdaptersDeps): DynamicModule {
    return {
      module: AdaptersModule,
      controllers: [AdaptersController],
      providers: [AdaptersService, { provide: ADAPTERS_DEPS, useValue: deps }],
    };
  }
}
