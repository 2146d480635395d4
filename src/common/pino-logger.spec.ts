import { Controller, Get, Logger, Module } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { LogLevel } from '../config/environment';
import { createPino, PinoLoggerService } from './pino-logger';

@Controller('things')
class ThingsController {
  @Get()
  list(): string[] {
    return [];
  }

  @Get(':id')
  one(): string {
    return '';
  }
}

@Module({ controllers: [ThingsController] })
class ThingsModule {}

interface LogLine {
  level: string;
  context?: string;
  msg: string;
}

/** Starts and stops a real Nest app on Fastify whose logger is PinoLoggerService at `level`. */
async function startUpLines(level: LogLevel): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  const pino = createPino(level, 'json', { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const logger = new PinoLoggerService(pino);
  const moduleRef = await Test.createTestingModule({ imports: [ThingsModule] })
    .setLogger(logger)
    .compile();
  const app = moduleRef.createNestApplication(new FastifyAdapter(), { logger });
  try {
    await app.init();
  } finally {
    await app.close();
    // The app made its logger Nest's static one; the rest of the run stays quiet.
    Logger.overrideLogger(false);
  }
  return lines;
}

const isRouteMapping = (line: LogLine): boolean => /^Mapped \{\/things(\/:id)?, GET\} route$/.test(line.msg);
const LISTING_CONTEXTS = ['InstanceLoader', 'RoutesResolver', 'RouterExplorer'];

describe(PinoLoggerService.name, () => {
  it("logs Nest's start-up listing of modules, controllers and routes at debug, not info", async () => {
    const debugLines = await startUpLines('debug');
    const mappings = debugLines.filter(isRouteMapping);
    expect(mappings).toHaveLength(2);
    expect(mappings.map((line) => [line.level, line.context])).toEqual([
      ['debug', 'RouterExplorer'],
      ['debug', 'RouterExplorer'],
    ]);
    expect(debugLines).toContainEqual(
      expect.objectContaining({ level: 'debug', context: 'RoutesResolver', msg: expect.stringMatching(/^ThingsController \{\/things\}/) }),
    );
    expect(debugLines).toContainEqual(
      expect.objectContaining({ level: 'debug', context: 'InstanceLoader', msg: 'ThingsModule dependencies initialized' }),
    );

    const infoLines = await startUpLines('info');
    expect(infoLines.filter((line) => LISTING_CONTEXTS.includes(line.context ?? ''))).toEqual([]);
  });

  it("keeps Nest's other start-up lines at info", async () => {
    const infoLines = await startUpLines('info');
    expect(infoLines).toContainEqual(
      expect.objectContaining({ level: 'info', context: 'NestApplication', msg: 'Nest application successfully started' }),
    );
  });
});
