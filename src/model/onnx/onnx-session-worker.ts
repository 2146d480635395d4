/**
 * The worker thread of one ONNX session (see WorkerOnnxSession): opens the session, answers
 * `run` requests one at a time, and on `release` frees the session and ends.
 */
import { MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { NamedTensors } from '../model-types';
import { InlineOnnxSession, SessionReply, SessionRequest, SessionWorkerData } from './onnx-session';
import { typeTag } from './onnx-tensors';

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The outputs' buffers, each once: handed over to the main thread instead of copied. */
function buffersOf(outputs: NamedTensors): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const { data } of Object.values(outputs)) {
    if (!Array.isArray(data) && typeTag(data.buffer) === '[object ArrayBuffer]') buffers.add(data.buffer as ArrayBuffer);
  }
  return [...buffers];
}

async function serve(port: MessagePort, data: SessionWorkerData): Promise<void> {
  const reply = (message: SessionReply, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  let ort: typeof import('onnxruntime-node');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded in the worker that runs the session, when it starts
    ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  } catch (error) {
    reply({ kind: 'failed', stage: 'runtime', message: `onnxruntime-node cannot be loaded: ${messageOf(error)}` });
    port.close();
    return;
  }
  let session: InlineOnnxSession;
  try {
    session = await InlineOnnxSession.create(ort, data.path, data.options);
  } catch (error) {
    reply({ kind: 'failed', stage: 'model', message: messageOf(error) });
    port.close();
    return;
  }
  reply({ kind: 'ready', inputs: session.inputMetadata, outputs: session.outputMetadata });
  port.on('message', (request: SessionRequest) => {
    if (request.kind === 'release') {
      // The session runs its calls in order, so the runs already asked for finish first.
      void session.release().finally(() => port.close());
      return;
    }
    session.run(request.inputs, request.outputNames).then(
      (outputs) => reply({ kind: 'ran', id: request.id, outputs }, buffersOf(outputs)),
      (error) => reply({ kind: 'run-failed', id: request.id, message: messageOf(error) }),
    );
  });
}

if (parentPort && workerData) void serve(parentPort, workerData as SessionWorkerData);
