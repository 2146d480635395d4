import { Module } from '@nestjs/common';
import { CommonModule } from './common/common.module';
import { AppConfigModule } from './config/config.module';
import { HealthModule } from './health/health.module';
import { ManagementModule } from './management/management.module';
import { MetricsModule } from './metrics/metrics.module';
import { ModelModule } from './model/model.module';
import { PredictionModule } from './prediction/prediction.module';
import { RootController } from './root.controller';

@Module({
  imports: [AppConfigModule, MetricsModule, CommonModule, ModelModule, PredictionModule, ManagementModule, HealthModule],
  controllers: [RootController],
})
export class AppModule {}
