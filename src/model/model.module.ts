import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AllConfig } from '../config/configuration';
import { MetricsService } from '../metrics/metrics.service';
import { FolderModelLoader } from './folder-model-loader';
import { ModelLoader, TfjsModelLoader } from './model-loader';
import { ModelRegistry } from './model-registry';
import { OnnxModelLoader } from './onnx/onnx-model-loader';
import { OnnxRuntime } from './onnx/onnx-runtime';
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
    {
      // Cheap to make: onnxruntime-node itself is loaded with the first ONNX model (see OnnxRuntime).
      provide: OnnxRuntime,
      inject: [ConfigService, MetricsService],
      useFactory: (config: ConfigService<AllConfig, true>, metrics: MetricsService) => {
        const runtime = new OnnxRuntime(config.getOrThrow('model.onnx', { infer: true }));
        metrics.gauge('onnx_sessions', 'ONNX Runtime sessions open (one per loaded ONNX model version).', () => runtime.openSessions);
        return runtime;
      },
    },
    TfjsModelLoader,
    OnnxModelLoader,
    { provide: ModelLoader, useClass: FolderModelLoader },
    { provide: ModelRegistry, useClass: RepositoryModelRegistry },
  ],
  exports: [TfjsRuntime, OnnxRuntime, ModelRegistry],
})
export class ModelModule {}
