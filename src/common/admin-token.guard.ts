import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AllConfig } from '../config/configuration';
import { AuthenticationError, ManagementDisabledError } from './request-errors';

/**
 * Guards the mutating management routes with the bearer token in ADMIN_TOKEN. With no token
 * configured the routes are off (403). Tokens are compared as SHA-256 digests with
 * timingSafeEqual: constant time, whatever the lengths.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(config: ConfigService<AllConfig, true>) {
    const token = config.get('management.adminToken', { infer: true });
    this.expected = token ? digest(token) : undefined;
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) {
      throw new ManagementDisabledError('model management is turned off: set ADMIN_TOKEN to turn it on');
    }
    const header = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers.authorization;
    const match = typeof header === 'string' ? /^Bearer (.+)$/i.exec(header) : null;
    if (!match) throw new AuthenticationError('this route needs an "Authorization: Bearer <ADMIN_TOKEN>" header');
    if (!timingSafeEqual(digest(match[1]), this.expected)) throw new AuthenticationError('the bearer token is not valid');
    return true;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
