import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProtocolErrors } from '../common/api-error-responses.decorator';
import { RouteFacts } from '../http/route-facts';
import { ModelNotReadyError } from '../model/model-errors';
import { ModelRegistry } from '../model/model-registry';
import { RequestPathWarmUp } from '../prediction/warm-up';
import { ShutdownState } from './shutdown-state';

/** The Open Inference Protocol's health routes: the same checks as /health/live and /health/ready. */
@ApiTags('open inference protocol (v2)')
@RouteFacts({ errorShape: 'protocol' })
@Controller('v2/health')
export class V2HealthController {
  constructor(
    private readonly registry: ModelRegistry,
    private readonly shutdown: ShutdownState,
    private readonly warmUp: RequestPathWarmUp,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Server live: the process answers' })
  @ApiOkResponse({ example: { live: true } })
  live(): { live: true } {
    return { live: true };
  }

  @Get('ready')
  @ApiOperation({
    summary:
      'Server ready: the required models serve (REQUIRED_MODELS), the request path is warmed up, and the server is not shutting down',
  })
  @ApiOkResponse({ example: { ready: true } })
  @ApiProtocolErrors(503)
  ready(): { ready: true } {
    const problems = this.shutdown.isShuttingDown() ? ['shutting down'] : this.registry.readiness().problems;
    const warmingUp = this.warmUp.readinessProblem();
    if (problems.length === 0 && warmingUp) problems.push(warmingUp);
    if (problems.length > 0) throw new ModelNotReadyError(`not ready: ${problems.join('; ')}`);
    return { ready: true };
  }
}
