'use strict';
// Loads onnxruntime-node and runs a model on it: the check that the package installed from the
// npm registry alone (its postinstall skipped) is complete for this platform. The model, z = x + y
// on two float vectors of 3, is encoded here (ONNX's protobuf schema, onnx.proto) so that the
// check needs no model file and no ONNX tooling. Run as a script (in the image, or on the host:
// `node test/containers/onnx-check.js`) it prints one line and exits 0, or fails.

/** Protocol buffers: varint (wire type 0) and length-delimited (wire type 2) fields. */
const varint = (value) => {
  const bytes = [];
  for (let v = value; ; v = Math.floor(v / 128)) {
    if (v < 128) return Buffer.from([...bytes, v]);
    bytes.push((v % 128) | 128);
  }
};
const intField = (field, value) => Buffer.concat([varint(field * 8), varint(value)]);
const bytesField = (field, content) => {
  const body = typeof content === 'string' ? Buffer.from(content) : content;
  return Buffer.concat([varint(field * 8 + 2), varint(body.length), body]);
};
const message = (...fields) => Buffer.concat(fields);

const FLOAT = 1; // TensorProto.DataType.FLOAT
const WIDTH = 3;

/** ValueInfoProto: a float tensor of shape [WIDTH]. */
const floatVector = (name) =>
  message(
    bytesField(1, name),
    bytesField(2, message(bytesField(1, message(intField(1, FLOAT), bytesField(2, message(bytesField(1, intField(1, WIDTH)))))))),
  );

/** ModelProto (IR version 7, opset 13) whose graph adds its two inputs. */
function addModel() {
  const node = message(bytesField(1, 'x'), bytesField(1, 'y'), bytesField(2, 'z'), bytesField(3, 'add'), bytesField(4, 'Add'));
  const graph = message(
    bytesField(1, node),
    bytesField(2, 'add'),
    bytesField(11, floatVector('x')),
    bytesField(11, floatVector('y')),
    bytesField(12, floatVector('z')),
  );
  return message(
    intField(1, 7),
    bytesField(2, 'ml-microservice'),
    bytesField(7, graph),
    bytesField(8, message(bytesField(1, ''), intField(2, 13))),
  );
}

/** Runs the model; resolves to what onnxruntime-node answered and what was expected. */
async function runAddModel() {
  const ort = require('onnxruntime-node');
  const session = await ort.InferenceSession.create(addModel());
  const x = Float32Array.from([1, 2, 3]);
  const y = Float32Array.from([0.5, -2, 10]);
  const { z } = await session.run({ x: new ort.Tensor('float32', x, [WIDTH]), y: new ort.Tensor('float32', y, [WIDTH]) });
  await session.release();
  return { inputs: session.inputNames, outputs: session.outputNames, z: Array.from(z.data), expected: Array.from(x, (v, i) => v + y[i]) };
}

module.exports = { addModel, runAddModel };

if (require.main === module) {
  runAddModel().then(
    (result) => {
      const ok = JSON.stringify(result.z) === JSON.stringify(result.expected);
      process.stdout.write(
        `onnxruntime-node on node ${process.version} ${process.platform}/${process.arch}: z = ${JSON.stringify(result.z)} (${ok ? 'ok' : `expected ${JSON.stringify(result.expected)}`})\n`,
      );
      process.exit(ok ? 0 : 1);
    },
    (error) => {
      process.stderr.write(`onnxruntime-node failed on node ${process.version}: ${error && error.stack ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}
