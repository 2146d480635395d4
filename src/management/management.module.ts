import { Module } from '@nestjs/common';
import { ModelModule } from '../model/model.module';
import { ModelsController } from './models.controller';

@Module({
  imports: [ModelModule],
  controllers: [ModelsController],
})
export class ManagementModule {}
