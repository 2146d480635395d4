import { Injectable } from '@nestjs/common';
import type { LoadedModel } from './loaded-model';
import { ModelFormatError } from './model-errors';
import { ModelLoader, TfjsModelLoader } from './model-loader';
import { MODEL_FILES, modelFilesIn } from './model-repository';
import { OnnxModelLoader } from './onnx/onnx-model-loader';

/**
 * The service's loader: each version folder goes to the runtime its model file names,
 * `model.json` to TF.js and `model.onnx` to ONNX Runtime, so one repository mixes both.
 */
@Injectable()
export class FolderModelLoader extends ModelLoader {
  constructor(
    private readonly tfjs: TfjsModelLoader,
    private readonly onnx: OnnxModelLoader,
  ) {
    super();
  }

  async load(directory: string): Promise<LoadedModel> {
    const runtimes = await modelFilesIn(directory);
    if (runtimes.length === 0) {
      throw new ModelFormatError(`the folder holds neither ${MODEL_FILES.tfjs} nor ${MODEL_FILES.onnx}`);
    }
    if (runtimes.length > 1) {
      throw new ModelFormatError(
        `the folder holds both ${MODEL_FILES.tfjs} (TF.js) and ${MODEL_FILES.onnx} (ONNX); a version folder holds one model: remove the other file`,
      );
    }
    return (runtimes[0] === 'onnx' ? this.onnx : this.tfjs).load(directory);
  }
}
