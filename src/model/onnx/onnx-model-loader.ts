import { Injectable } from '@nestjs/common';
import type { LoadedModel } from '../loaded-model';
import { ModelLoader } from '../model-loader';
import { OnnxModel } from './onnx-model';
import { OnnxRuntime } from './onnx-runtime';

/** Loads a version folder's `model.onnx` on ONNX Runtime. */
@Injectable()
export class OnnxModelLoader extends ModelLoader {
  constructor(private readonly runtime: OnnxRuntime) {
    super();
  }

  load(directory: string): Promise<LoadedModel> {
    return OnnxModel.load(this.runtime, directory);
  }
}
