import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { ModelLoader, TfjsModelLoader } from './model-loader';
import { ModelRegistry } from './model-registry';
import { RepositoryModelRegistry } from './repository-registry';
import { createTfjsRuntime, TfjsRuntime } from './tfjs-runtime';

@Module({
  providers: [
    {
      provide: TfjsRuntime,
      inject: [ConfigService, MetricsService],
      useFactory: async (config: ConfigService<AllConfig, true>, metrics: MetricsService) => {
        const runtime = await createTfjsRuntime(config.getOrThrow('model.backend', { infer: true }));
        metrics.gauge('tfjs_tensors', 'Tensors TF.js holds (model weights included).', () => runtime.memory().numTensors);
        metrics.gauge('tfjs_memory_bytes', 'Bytes of tensor data TF.js holds.', () => runtime.memory().numBytes);
        return runtime;
      },
    },
    { provide: ModelLoader, useClass: TfjsModelLoader },
    { provide: ModelRegistry, useClass: RepositoryModelRegistry },
  ],
  exports: [TfjsRuntime, ModelRegistry],
})
export class ModelModule {}
