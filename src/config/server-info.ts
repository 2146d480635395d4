import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AllConfig } from './configuration';

/** The service's version, from package.json (the same relative path from src/ and dist/). */
export function packageVersion(): string {
  const path = join(__dirname, '..', '..', 'package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

/** What the service says about itself: its name and version. */
@Injectable()
export class ServerInfo {
  readonly name: string;
  readonly version = packageVersion();

  constructor(config: ConfigService<AllConfig, true>) {
    this.name = config.getOrThrow('http.serviceName', { infer: true });
  }
}
