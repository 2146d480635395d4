import { Injectable } from '@nestjs/common';
import type { LoadedModel } from './loaded-model';
import { formatOf, readModelArtifacts } from './model-artifacts';
import { ModelFormatError } from './model-errors';
import { readMetadata } from './model-metadata';
import { TfjsGraphModel, TfjsLayersModel } from './tfjs-model';
import { TfjsRuntime } from './tfjs-runtime';

/** Turns a model version folder on disk into a model in memory. */
export abstract class ModelLoader {
  abstract load(directory: string): Promise<LoadedModel>;
}

@Injectable()
export class TfjsModelLoader extends ModelLoader {
  constructor(private readonly runtime: TfjsRuntime) {
    super();
  }

  async load(directory: string): Promise<LoadedModel> {
    const metadata = await readMetadata(directory);
    const artifacts = await readModelArtifacts(directory);
    const { tf } = this.runtime;
    const memory = tf.io.fromMemory(artifacts);
    try {
      if (formatOf(artifacts) === 'graph') {
        return new TfjsGraphModel(tf, await tf.loadGraphModel(memory), metadata);
      }
      return new TfjsLayersModel(tf, await tf.loadLayersModel(memory), metadata);
    } catch (error) {
      if (error instanceof ModelFormatError) throw error;
      throw new ModelFormatError(`TF.js cannot build the model: ${(error as Error).message}`);
    }
  }
}
