import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ModelModule } from '../model/model.module';
import { PredictionModule } from '../prediction/prediction.module';
import { HealthController } from './health.controller';
import { ShutdownState } from './shutdown-state';
import { V2HealthController } from './v2-health.controller';

@Module({
  // Terminus would log every failed probe at error level; model state changes are logged by
  // the registry instead.
  imports: [TerminusModule.forRoot({ logger: false }), ModelModule, PredictionModule],
  controllers: [HealthController, V2HealthController],
  providers: [ShutdownState],
})
export class HealthModule {}
