'use strict';
// The NestJS ceilings: the framework the service is built on, with no model. NestJS on the
// Fastify adapter, one controller answering `POST /prediction` with a constant. With DTO=1 the
// body goes through Nest's global ValidationPipe (whitelist, forbid unknown fields, transform)
// and a class-validator DTO of 4 finite numbers: the way a typical Nest service validates.
// Its packages are the project's own (same versions as the service).
// usage: [DTO=1] node bench/nest-ceiling-server.js PORT
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { Module, Controller, Post, Body, HttpCode, ValidationPipe } = require('@nestjs/common');
const { FastifyAdapter } = require('@nestjs/platform-fastify');
const { IsArray, ArrayMinSize, ArrayMaxSize, IsNumber } = require('class-validator');

class PredictionRequest {}
IsArray()(PredictionRequest.prototype, 'features');
ArrayMinSize(4)(PredictionRequest.prototype, 'features');
ArrayMaxSize(4)(PredictionRequest.prototype, 'features');
IsNumber({ allowNaN: false, allowInfinity: false }, { each: true })(PredictionRequest.prototype, 'features');

class PredictionController {
  predict(body) {
    void body;
    return { prediction: 'setosa' };
  }
}
const predict = Object.getOwnPropertyDescriptor(PredictionController.prototype, 'predict');
Reflect.defineMetadata('design:paramtypes', [PredictionRequest], PredictionController.prototype, 'predict');
Body()(PredictionController.prototype, 'predict', 0);
HttpCode(200)(PredictionController.prototype, 'predict', predict);
Post()(PredictionController.prototype, 'predict', predict);
Controller('prediction')(PredictionController);

class AppModule {}
Module({ controllers: [PredictionController] })(AppModule);

(async () => {
  const app = await NestFactory.create(AppModule, new FastifyAdapter({ logger: false }), { logger: false });
  if (process.env.DTO === '1') app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));
  await app.listen(Number(process.argv[2]), '127.0.0.1');
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
