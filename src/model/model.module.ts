import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { ModelLoader, TfjsModelLoader } from './model-loader';
import { ModelRegistry, RepositoryModelRegistry } from './model-registry';
import { createTfjsRuntime, TfjsRuntime } from './tfjs-runtime';

@Module({
  providers: [
    {
      provide: TfjsRuntime,
      inject: [ConfigService],
      useFactory: (config: ConfigService<AllConfig, true>) =>
        createTfjsRuntime(config.getOrThrow('model.backend', { infer: true })),
    },
    { provide: ModelLoader, useClass: TfjsModelLoader },
    { provide: ModelRegistry, useClass: RepositoryModelRegistry },
  ],
  exports: [TfjsRuntime, ModelRegistry],
})
export class ModelModule {}
