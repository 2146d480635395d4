import { Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { HttpEdgeModule } from '../http/http-edge.module';
import { HttpErrorFilter } from './http-error.filter';
import { BodyValidationPipe } from './validation';

/** The request pipeline every route shares: validation and the error contract. */
@Module({
  imports: [HttpEdgeModule],
  providers: [
    { provide: APP_PIPE, useClass: BodyValidationPipe },
    { provide: APP_FILTER, useClass: HttpErrorFilter },
  ],
})
export class CommonModule {}
