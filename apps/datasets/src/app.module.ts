import { Module, type DynamicModule } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { AuthModule, type AuthConfig } from '@clara/auth';
import { DatasetsController, MAX_UPLOAD_FILES } from './datasets.controller.js';
import { DATASETS_DEPS, DatasetsService, type DatasetsDeps } from './datasets.service.js';

@Module({})
export class DatasetsAppModule {
  static forRoot(deps: { datasets: DatasetsDeps; auth: AuthConfig }): DynamicModule {
    return {
      module: DatasetsAppModule,
      imports: [
        AuthModule.forRoot({ config: deps.auth }),
        // uploads are held in memory (text files), bounded per file and in number
        MulterModule.register({ limits: { fileSize: deps.datasets.maxUploadBytes, files: MAX_UPLOAD_FILES, fields: 10 } }),
      ],
      controllers: [DatasetsController],
      providers: [DatasetsService, { provide: DATASETS_DEPS, useValue: deps.datasets }],
    };
  }
}
