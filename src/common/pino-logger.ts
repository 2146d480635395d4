import type { LoggerService, LogLevel as NestLogLevel } from '@nestjs/common';
import pino, { Logger as Pino, LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/environment';

/**
 * The process's one logger: pino, shared by Fastify (request logs carry `requestId`) and by
 * Nest (through PinoLoggerService). JSON lines, or human-readable ones on a terminal.
 */
export function createPino(level: LogLevel, format: LogFormat, stream: pino.DestinationStream = process.stdout): Pino {
  const human = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true && stream === process.stdout);
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (human) {
    return pino(options, pretty({ sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(options, stream);
}

const LEVELS: Record<NestLogLevel, LevelWithSilent> = {
  log: 'info',
  error: 'error',
  warn: 'warn',
  debug: 'debug',
  verbose: 'trace',
  fatal: 'fatal',
};

/**
 * Nest's own start-up listings, one line per module ("XModule dependencies initialized"), per
 * controller and per route ("Mapped {/v2, GET} route"): some 60 lines on every start, useful
 * only when debugging the wiring or the routing, so they go out at debug.
 */
const STARTUP_LISTING_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

/** Nest's LoggerService on pino: the context becomes a field, objects are merged in. */
export class PinoLoggerService implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('log', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('verbose', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: NestLogLevel, message: unknown, params: unknown[]): void {
    const rest = [...params];
    // Nest's Logger appends its context (the class name) as the last string parameter.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const fields: Record<string, unknown> = context ? { context } : {};
    // Logger.error(message, stack, context) passes the stack second.
    if (level === 'error' && typeof rest[0] === 'string' && rest[0].includes('\n')) fields.stack = rest.shift();
    const pinoLevel = level === 'log' && context && STARTUP_LISTING_CONTEXTS.has(context) ? 'debug' : LEVELS[level];
    const log: (obj: object, msg?: string) => void = this.pino[pinoLevel].bind(this.pino);
    if (typeof message === 'object' && message !== null && !(message instanceof Error)) {
      const [text] = rest;
      log({ ...fields, ...message }, typeof text === 'string' ? text : undefined);
    } else if (message instanceof Error) {
      log({ ...fields, err: message }, message.message);
    } else {
      log(fields, String(message));
    }
  }
}
