import { Module } from '@nestjs/common';
import { ModelModule } from '../model/model.module';
import { ModelManagementService } from './model-management.service';
import { ModelsController } from './models.controller';

@Module({
  imports: [ModelModule],
  controllers: [ModelsController],
  providers: [ModelManagementService],
})
export class ManagementModule {}
