import * as tf from './tfjs';
import { BackendActivator, BackendUnavailableError, createTfjsRuntime, selectBackend, TfjsBackendName } from './tfjs-runtime';

const SILENT = { log: () => undefined };

function activators(working: TfjsBackendName[], calls: string[] = []): Record<TfjsBackendName, BackendActivator> {
  const make =
    (name: TfjsBackendName): BackendActivator =>
    () => {
      calls.push(name);
      if (!working.includes(name)) return Promise.reject(new Error(`${name} is not installed\nRequire stack: ...`));
      return Promise.resolve();
    };
  return { tensorflow: make('tensorflow'), wasm: make('wasm'), cpu: make('cpu') };
}

function tfjsNodeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

describe(selectBackend.name, () => {
  it('prefers tensorflow, then wasm, then cpu in auto mode', async () => {
    expect(await selectBackend('auto', activators(['tensorflow', 'wasm', 'cpu']), SILENT)).toBe('tensorflow');
    expect(await selectBackend('auto', activators(['wasm', 'cpu']), SILENT)).toBe('wasm');
    expect(await selectBackend('auto', activators(['cpu']), SILENT)).toBe('cpu');
  });

  it('tries the backends in order and stops at the first that works', async () => {
    const calls: string[] = [];

    await selectBackend('auto', activators(['wasm', 'cpu'], calls), SILENT);

    expect(calls).toEqual(['tensorflow', 'wasm']);
  });

  it('uses only the forced backend', async () => {
    const calls: string[] = [];

    expect(await selectBackend('cpu', activators(['tensorflow', 'wasm', 'cpu'], calls), SILENT)).toBe('cpu');
    expect(calls).toEqual(['cpu']);
  });

  it('fails clearly when the forced backend cannot load, naming the variable and the cause', async () => {
    const attempt = selectBackend('tensorflow', activators(['wasm', 'cpu']), SILENT);

    await expect(attempt).rejects.toThrow(BackendUnavailableError);
    await expect(selectBackend('tensorflow', activators(['cpu']), SILENT)).rejects.toThrow(
      'TFJS_BACKEND=tensorflow was requested but that backend cannot be used: tensorflow is not installed',
    );
  });

  it('fails when no backend at all can load, listing each failure', async () => {
    await expect(selectBackend('auto', activators([]), SILENT)).rejects.toThrow(
      'no TF.js backend could be used: tensorflow: tensorflow is not installed; wasm: wasm is not installed; cpu: cpu is not installed',
    );
  });
});

describe(`${createTfjsRuntime.name} with the real backends`, () => {
  it('runs on the forced cpu backend', async () => {
    const runtime = await createTfjsRuntime('cpu');

    expect(runtime.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('runs on the forced wasm backend, which ships in node_modules', async () => {
    const runtime = await createTfjsRuntime('wasm');

    expect(runtime.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.add(tf.tensor([1, 2]), 1).dataSync()).toEqual(new Float32Array([2, 3]));
  });

  it('picks tensorflow in auto mode where tfjs-node is installed, else wasm', async () => {
    const runtime = await createTfjsRuntime('auto');

    expect(runtime.backend).toBe(tfjsNodeInstalled() ? 'tensorflow' : 'wasm');
  });

  it('loads tensorflow when forced if tfjs-node is installed, and otherwise fails at once', async () => {
    const attempt = createTfjsRuntime('tensorflow');

    if (tfjsNodeInstalled()) {
      expect((await attempt).backend).toBe('tensorflow');
    } else {
      await expect(attempt).rejects.toThrow(/^TFJS_BACKEND=tensorflow was requested but that backend cannot be used: /);
    }
  });
});
