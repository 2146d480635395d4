import { Injectable, PipeTransform } from '@nestjs/common';
import { MODEL_NAME_PATTERN } from '../config/environment';
import { InvalidInputError } from '../model/model-errors';
import { VERSION_PATTERN } from '../model/model-repository';

/** A model name from a request: a model folder name, so it can never leave the repository. */
export function modelName(name: string): string {
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw InvalidInputError.at('name', 'a model name has 1 to 64 letters, digits, "_" or "-", and starts with a letter or digit');
  }
  return name;
}

/** A model version from a request: a positive integer, as version folders are named. */
export function modelVersion(version: string): number {
  if (!VERSION_PATTERN.test(version)) throw InvalidInputError.at('version', 'a model version is a positive integer');
  return Number(version);
}

/** A `{name}` route parameter. */
@Injectable()
export class ModelNamePipe implements PipeTransform<string, string> {
  transform(name: string): string {
    return modelName(name);
  }
}

/** A `{version}` route parameter. */
@Injectable()
export class ModelVersionPipe implements PipeTransform<string, number> {
  transform(version: string): number {
    return modelVersion(version);
  }
}
