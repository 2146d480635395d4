import { BadRequestException, Injectable, PipeTransform } from '@nestjs/common';
import { MODEL_NAME_PATTERN } from '../config/environment';

/** A `{name}` route parameter: a model folder name, so it can never leave the repository. */
@Injectable()
export class ModelNamePipe implements PipeTransform<string, string> {
  transform(name: string): string {
    if (!MODEL_NAME_PATTERN.test(name)) {
      throw invalid('name', 'a model name has 1 to 64 letters, digits, "_" or "-", and starts with a letter or digit');
    }
    return name;
  }
}

/** A `{version}` route parameter: a positive integer, as version folders are named. */
@Injectable()
export class ModelVersionPipe implements PipeTransform<string, number> {
  transform(version: string): number {
    if (!/^[1-9]\d{0,8}$/.test(version)) throw invalid('version', 'a model version is a positive integer');
    return Number(version);
  }
}

function invalid(path: string, message: string): BadRequestException {
  return new BadRequestException({ message: `${path}: ${message}`, details: [{ path, message }] });
}
