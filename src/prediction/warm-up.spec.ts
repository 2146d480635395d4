import type { TensorSpec, VersionDescription } from '../model/model-types';
import { warmUpRequests } from './warm-up';

function description(inputs: TensorSpec[]): VersionDescription {
  return {
    format: 'layers',
    platform: 'tensorflowjs_layers',
    metadata: {},
    signature: { inputs, outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 3] }] },
  };
}

const bodyOf = (payload: string | undefined): unknown => JSON.parse(payload ?? 'null');

describe(warmUpRequests.name, () => {
  it('for a model of one [batch, features] input: a V2 inference, a /prediction, a refused inference and a GET of the inference route', () => {
    const requests = warmUpRequests('iris', description([{ name: 'x', dtype: 'float32', shape: [-1, 4] }]));

    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v2/models/iris/infer',
      'POST /prediction',
      'POST /v2/models/iris/infer',
      'GET /v2/models/iris/infer',
    ]);
    expect(bodyOf(requests[0].payload)).toEqual({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [0, 0, 0, 0] }] });
    expect(bodyOf(requests[1].payload)).toEqual({ features: [0, 0, 0, 0] });
    expect(bodyOf(requests[2].payload)).toEqual({
      inputs: [{ name: 'x_not_an_input', shape: [1, 4], datatype: 'FP32', data: [0, 0, 0, 0] }],
    });
    expect(requests[3].payload).toBeUndefined();
    expect(requests.filter((r) => r.method === 'POST').map((r) => r.headers)).toEqual(
      Array.from({ length: 3 }, () => ({ 'content-type': 'application/json' })),
    );
  });

  it('for a model of several inputs, or inputs of other ranks: no /prediction, every size left open taken as 1, each datatype its own', () => {
    const requests = warmUpRequests(
      'multi',
      description([
        { name: 'image', dtype: 'float32', shape: [-1, 2, 2, 1] },
        { name: 'flags', dtype: 'bool', shape: [-1, 2] },
        { name: 'ids', dtype: 'int64', shape: null },
      ]),
    );

    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /v2/models/multi/infer',
      'POST /v2/models/multi/infer',
      'GET /v2/models/multi/infer',
    ]);
    expect(bodyOf(requests[0].payload)).toEqual({
      inputs: [
        { name: 'image', shape: [1, 2, 2, 1], datatype: 'FP32', data: [0, 0, 0, 0] },
        { name: 'flags', shape: [1, 2], datatype: 'BOOL', data: [false, false] },
        { name: 'ids', shape: [1], datatype: 'INT64', data: [0] },
      ],
    });
  });
});
