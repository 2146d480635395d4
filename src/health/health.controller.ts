import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorResult,
  HealthIndicatorService,
} from '@nestjs/terminus';
import { ModelRegistry, ModelState } from '../model/model-registry';
import { ShutdownState } from './shutdown-state';

const UP_EXAMPLE = {
  status: 'ok',
  info: { models: { status: 'up', iris: { version: 1, state: 'AVAILABLE' } }, lifecycle: { status: 'up' } },
  error: {},
  details: { models: { status: 'up', iris: { version: 1, state: 'AVAILABLE' } }, lifecycle: { status: 'up' } },
};
const DOWN_EXAMPLE = {
  status: 'error',
  info: { lifecycle: { status: 'up' } },
  error: { models: { status: 'down', reason: 'model iris version 1 is LOADING' } },
  details: {
    lifecycle: { status: 'up' },
    models: { status: 'down', reason: 'model iris version 1 is LOADING' },
  },
};

/** Kubernetes probes: liveness, readiness and start-up, from the model registry's state. */
@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly registry: ModelRegistry,
    private readonly shutdown: ShutdownState,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process answers. Never fails because of load or a model.' })
  @ApiResponse({ status: 200, description: 'Alive.', example: { status: 'ok', info: { process: { status: 'up', uptimeSeconds: 42 } }, error: {}, details: { process: { status: 'up', uptimeSeconds: 42 } } } })
  @ApiResponse({
    status: 503,
    description: 'Part of the health check contract, but liveness has no check that can fail: a live process answers 200.',
    example: { status: 'error', info: {}, error: { process: { status: 'down' } }, details: { process: { status: 'down' } } },
  })
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check('process').up({ uptimeSeconds: Math.round(process.uptime()) })]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: every served model is loaded and warmed, and the process is not shutting down.' })
  @ApiResponse({ status: 200, description: 'Ready to take traffic.', example: UP_EXAMPLE })
  @ApiResponse({ status: 503, description: 'Not ready; `error` says why.', example: DOWN_EXAMPLE })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.lifecycle(), () => this.models()]);
  }

  @Get('startup')
  @HealthCheck()
  @ApiOperation({ summary: 'Start-up: the first load of the model repository has finished (whatever its outcome).' })
  @ApiResponse({ status: 200, description: 'Started.', example: { status: 'ok', info: { startup: { status: 'up' } }, error: {}, details: { startup: { status: 'up' } } } })
  @ApiResponse({ status: 503, description: 'Still loading.', example: { status: 'error', info: {}, error: { startup: { status: 'down', reason: 'loading models' } }, details: { startup: { status: 'down', reason: 'loading models' } } } })
  startup(): Promise<HealthCheckResult> {
    return this.health.check([
      () => {
        const indicator = this.indicators.check('startup');
        return this.registry.isStarted() ? indicator.up() : indicator.down({ reason: 'loading models' });
      },
    ]);
  }

  private lifecycle(): HealthIndicatorResult {
    const indicator = this.indicators.check('lifecycle');
    return this.shutdown.isShuttingDown() ? indicator.down({ reason: 'shutting down' }) : indicator.up();
  }

  private models(): HealthIndicatorResult {
    const indicator = this.indicators.check('models');
    const statuses = this.registry.status();
    const byName: Record<string, { version: number | null; state: ModelState }> = {};
    for (const s of statuses) {
      if (s.state === ModelState.AVAILABLE || !byName[s.name]) byName[s.name] = { version: s.version, state: s.state };
    }
    if (this.registry.isReady()) return indicator.up(byName);
    const reasons = statuses
      .filter((s) => s.state !== ModelState.AVAILABLE)
      .map((s) => `model ${s.name}${s.version === null ? '' : ` version ${s.version}`} is ${s.state}${s.reason ? `: ${s.reason}` : ''}`);
    return indicator.down({ reason: reasons.join('; '), ...byName });
  }
}
