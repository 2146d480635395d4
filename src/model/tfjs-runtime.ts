import { Logger } from '@nestjs/common';
import * as tf from './tfjs';
import type { TfjsBackendChoice } from '../config/environment';

export type TfjsBackendName = Exclude<TfjsBackendChoice, 'auto'>;

/** Preference order for `TFJS_BACKEND=auto`: native libtensorflow, then WASM (SIMD), then JS. */
export const BACKEND_PREFERENCE: readonly TfjsBackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** Registers a backend with TF.js and makes it the active one; throws when it cannot. */
export type BackendActivator = () => Promise<void>;

export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}

async function activate(name: TfjsBackendName, register: () => unknown): Promise<void> {
  register();
  // setBackend resolves false (rather than throwing) when the backend fails to initialize.
  if (!(await tf.setBackend(name))) {
    throw new Error(`tf.setBackend('${name}') failed to initialize`);
  }
}

/* eslint-disable @typescript-eslint/no-require-imports -- a backend's package is loaded only when it is the one chosen */
export const DEFAULT_ACTIVATORS: Readonly<Record<TfjsBackendName, BackendActivator>> = {
  // tfjs-node registers the 'tensorflow' backend in the same @tensorflow/tfjs-core instance,
  // as long as both packages are at the same exact version. A half-installed package (its
  // native addon never downloaded) throws a plain Error here, which auto mode skips.
  tensorflow: () => activate('tensorflow', () => require('@tensorflow/tfjs-node')),
  wasm: () => activate('wasm', () => require('@tensorflow/tfjs-backend-wasm')),
  cpu: () => activate('cpu', () => undefined),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * The TF.js runtime of this process: the `tf` namespace with its backend chosen. One per
 * process, since TF.js keeps its engine in a global.
 */
export class TfjsRuntime {
  constructor(
    readonly tf: typeof import('./tfjs'),
    readonly backend: TfjsBackendName,
  ) {}

  memory(): tf.MemoryInfo {
    return this.tf.memory();
  }
}

/**
 * Picks the backend: the forced one or fails, or in auto mode the first that activates in
 * BACKEND_PREFERENCE order.
 */
export async function selectBackend(
  choice: TfjsBackendChoice,
  activators: Readonly<Record<TfjsBackendName, BackendActivator>> = DEFAULT_ACTIVATORS,
  logger: Pick<Logger, 'log'> = new Logger(TfjsRuntime.name),
): Promise<TfjsBackendName> {
  if (choice !== 'auto') {
    try {
      await activators[choice]();
    } catch (error) {
      throw new BackendUnavailableError(`TFJS_BACKEND=${choice} was requested but that backend cannot be used: ${messageOf(error)}`);
    }
    return choice;
  }
  const failures: string[] = [];
  for (const name of BACKEND_PREFERENCE) {
    try {
      await activators[name]();
      if (failures.length > 0) {
        logger.log(`TF.js backend '${name}' chosen after: ${failures.join('; ')}`);
      }
      return name;
    } catch (error) {
      failures.push(`${name}: ${messageOf(error)}`);
    }
  }
  throw new BackendUnavailableError(`no TF.js backend could be used: ${failures.join('; ')}`);
}

export async function createTfjsRuntime(
  choice: TfjsBackendChoice,
  activators?: Readonly<Record<TfjsBackendName, BackendActivator>>,
): Promise<TfjsRuntime> {
  const logger = new Logger(TfjsRuntime.name);
  const backend = await selectBackend(choice, activators, logger);
  // Production mode skips TF.js's debug-time checks on every op.
  tf.enableProdMode();
  logger.log(`TF.js ${tf.version_core} running on the '${backend}' backend (TFJS_BACKEND=${choice})`);
  return new TfjsRuntime(tf, backend);
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // Native loader errors span many lines (require stacks); the first says what failed.
  return text.split('\n')[0];
}
