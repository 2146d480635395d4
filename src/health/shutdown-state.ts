import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AllConfig } from '../config/configuration';

/**
 * Whether the process is shutting down. On SIGTERM, readiness fails at once; the HTTP server
 * keeps serving for SHUTDOWN_DELAY_MS (so load balancers notice before connections are
 * refused), then Nest closes it, and Fastify finishes the requests in flight.
 */
@Injectable()
export class ShutdownState implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ShutdownState.name);
  private readonly delayMs: number;
  private draining = false;

  constructor(config: ConfigService<AllConfig, true>) {
    this.delayMs = config.getOrThrow('http.shutdownDelayMs', { infer: true });
  }

  isShuttingDown(): boolean {
    return this.draining;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.draining = true;
    this.logger.log(`shutting down (${signal ?? 'close'}): not ready; serving ${this.delayMs} ms more, then draining`);
    if (this.delayMs > 0) await sleep(this.delayMs);
  }
}
