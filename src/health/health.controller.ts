import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckResult, HealthCheckService, HealthIndicatorResult, HealthIndicatorService } from '@nestjs/terminus';
import { ModelRegistry } from '../model/model-registry';
import { ModelState } from '../model/model-status';
import { RequestPathWarmUp } from '../prediction/warm-up';
import { ShutdownState } from './shutdown-state';

const MODELS_UP = {
  status: 'up',
  iris: { state: 'AVAILABLE', required: true, versions: [1] },
  mnist: { state: 'UNAVAILABLE', required: false, versions: [], reason: 'version 3 is UNAVAILABLE: model.json is not valid JSON' },
};
const MODELS_DOWN = { status: 'down', reason: 'required model iris is LOADING', iris: { state: 'LOADING', required: true, versions: [] } };
const UP_EXAMPLE = {
  status: 'ok',
  info: { lifecycle: { status: 'up' }, models: MODELS_UP },
  error: {},
  details: { lifecycle: { status: 'up' }, models: MODELS_UP },
};
const DOWN_EXAMPLE = {
  status: 'error',
  info: { lifecycle: { status: 'up' } },
  error: { models: MODELS_DOWN },
  details: { lifecycle: { status: 'up' }, models: MODELS_DOWN },
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
    private readonly warmUp: RequestPathWarmUp,
  ) {}

  @Get('live')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Liveness: the process answers. Never fails because of load or a model.' })
  @ApiResponse({
    status: 200,
    description: 'Alive.',
    example: {
      status: 'ok',
      info: { process: { status: 'up', uptimeSeconds: 42 } },
      error: {},
      details: { process: { status: 'up', uptimeSeconds: 42 } },
    },
  })
  @ApiResponse({
    status: 503,
    description: 'Part of the health check contract, but liveness has no check that can fail: a live process answers 200.',
    example: { status: 'error', info: {}, error: { process: { status: 'down' } }, details: { process: { status: 'down' } } },
  })
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.check('process').up({ uptimeSeconds: Math.round(process.uptime()) })]);
  }

  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({
    summary:
      'Readiness: the models the replica must serve (REQUIRED_MODELS, by default the default model) each have a version loaded and warmed, ' +
      'the request path is warmed up (HTTP_WARM_UP_REQUESTS), and the process is not shutting down. Every model is listed with its state; one that is not required never fails the probe.',
  })
  @ApiResponse({ status: 200, description: 'Ready to take traffic.', example: UP_EXAMPLE })
  @ApiResponse({ status: 503, description: 'Not ready; `error` says why.', example: DOWN_EXAMPLE })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([() => this.lifecycle(), () => this.models()]);
  }

  @Get('startup')
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Start-up: the first load of the model repository has finished (whatever its outcome).' })
  @ApiResponse({
    status: 200,
    description: 'Started.',
    example: { status: 'ok', info: { startup: { status: 'up' } }, error: {}, details: { startup: { status: 'up' } } },
  })
  @ApiResponse({
    status: 503,
    description: 'Still loading.',
    example: {
      status: 'error',
      info: {},
      error: { startup: { status: 'down', reason: 'loading models' } },
      details: { startup: { status: 'down', reason: 'loading models' } },
    },
  })
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
    if (this.shutdown.isShuttingDown()) return indicator.down({ reason: 'shutting down' });
    const warmingUp = this.warmUp.readinessProblem();
    return warmingUp ? indicator.down({ reason: warmingUp }) : indicator.up();
  }

  private models(): HealthIndicatorResult {
    const indicator = this.indicators.check('models');
    const report = this.registry.readiness();
    const byName: Record<string, { state: string; required: boolean; versions: number[]; reason?: string }> = {};
    for (const model of report.models) {
      byName[model.name] = {
        state: model.state,
        required: model.required,
        versions: model.versions.filter((v) => v.state === ModelState.AVAILABLE).map((v) => v.version),
        ...(model.reason ? { reason: model.reason } : {}),
      };
    }
    return report.ready ? indicator.up(byName) : indicator.down({ reason: report.problems.join('; '), ...byName });
  }
}
