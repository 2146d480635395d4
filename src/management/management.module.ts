import { Module } from '@nestjs/common';
import { ModelModule } from '../model/model.module';
import { AdminTokenGuard } from './admin-token.guard';
import { ModelsController } from './models.controller';

@Module({
  imports: [ModelModule],
  controllers: [ModelsController],
  providers: [AdminTokenGuard],
})
export class ManagementModule {}
