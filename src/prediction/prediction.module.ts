import { Module } from '@nestjs/common';
import { ServerInfo } from '../config/server-info';
import { ModelModule } from '../model/model.module';
import { InferenceService } from './inference.service';
import { OpenInferenceController } from './open-inference/open-inference.controller';
import { OpenInferenceService } from './open-inference/open-inference.service';
import { PredictionController } from './prediction.controller';
import { PredictionService } from './prediction.service';
import { TfServingController } from './tf-serving/tf-serving.controller';
import { TfServingService } from './tf-serving/tf-serving.service';
import { RequestPathWarmUp } from './warm-up';

@Module({
  imports: [ModelModule],
  controllers: [PredictionController, OpenInferenceController, TfServingController],
  providers: [InferenceService, PredictionService, OpenInferenceService, TfServingService, ServerInfo, RequestPathWarmUp],
  exports: [RequestPathWarmUp],
})
export class PredictionModule {}
