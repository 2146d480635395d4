import { Module } from '@nestjs/common';
import { ModelModule } from '../model/model.module';
import { PredictionController } from './prediction.controller';
import { ServerInfo } from '../config/server-info';
import { InferenceService } from './inference.service';
import { OpenInferenceController } from './open-inference/open-inference.controller';
import { PredictionService } from './prediction.service';
import { QueueAdmission } from './queue-admission';
import { TfServingController } from './tf-serving/tf-serving.controller';

@Module({
  imports: [ModelModule],
  controllers: [PredictionController, OpenInferenceController, TfServingController],
  providers: [InferenceService, PredictionService, ServerInfo, QueueAdmission],
})
export class PredictionModule {}
