import { Module } from '@nestjs/common';
import { RouteErrorShape } from '../common/route-error-shape';
import { ModelModule } from '../model/model.module';
import { FastifyRouteErrorShape, HttpEdge } from './http-edge';

@Module({
  imports: [ModelModule],
  providers: [HttpEdge, { provide: RouteErrorShape, useClass: FastifyRouteErrorShape }],
  exports: [RouteErrorShape],
})
export class HttpEdgeModule {}
