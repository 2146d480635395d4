import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_JSON, DEFAULT_MODEL_CONFIG, parseModelConfig, readModelConfig, selectVersions, VersionPolicy } from './model-config';
import { ModelFormatError } from './model-errors';
import { errorFrom } from '../../test/support/errors';

/** The error `fn` throws or rejects with; fails the test if it does not. */

describe('parseModelConfig', () => {
  it('gives the defaults (newest version only, no batching settings) for an empty object', () => {
    expect(parseModelConfig({})).toEqual({ versionPolicy: { kind: 'latest', count: 1 }, batching: {} });
    expect(parseModelConfig({})).toEqual(DEFAULT_MODEL_CONFIG);
  });

  it('reads latest with its num_versions', () => {
    expect(parseModelConfig({ version_policy: { latest: { num_versions: 3 } } }).versionPolicy).toEqual({
      kind: 'latest',
      count: 3,
    });
  });

  it('takes num_versions 1 when latest does not give it', () => {
    expect(parseModelConfig({ version_policy: { latest: {} } }).versionPolicy).toEqual({ kind: 'latest', count: 1 });
  });

  it('reads all', () => {
    expect(parseModelConfig({ version_policy: { all: {} } }).versionPolicy).toEqual({ kind: 'all' });
  });

  it('reads specific with its versions, sorted and without duplicates', () => {
    expect(parseModelConfig({ version_policy: { specific: { versions: [3, 1, 3] } } }).versionPolicy).toEqual({
      kind: 'specific',
      versions: [1, 3],
    });
  });

  it('maps the batching fields to camelCase', () => {
    const config = parseModelConfig({
      batching: { enabled: true, max_batch_size: 8, max_queue_delay_ms: 2.5, max_queue_size: 100 },
    });

    expect(config.batching).toEqual({ enabled: true, maxBatchSize: 8, maxQueueDelayMs: 2.5, maxQueueSize: 100 });
    expect(config.versionPolicy).toEqual({ kind: 'latest', count: 1 });
  });

  it('leaves batching fields that are not given undefined', () => {
    expect(parseModelConfig({ batching: { enabled: false } }).batching).toEqual({
      enabled: false,
      maxBatchSize: undefined,
      maxQueueDelayMs: undefined,
      maxQueueSize: undefined,
    });
  });

  it.each([
    ['an array', []],
    ['null', null],
    ['a string', 'latest'],
    ['a number', 3],
  ])('refuses %s as the whole file', async (_, json) => {
    const error = await errorFrom(() => parseModelConfig(json));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe(`${CONFIG_JSON} must hold a JSON object`);
  });

  it.each<[string, unknown, string]>([
    ['an unknown top-level key', { versions: 2 }, 'versions is not a known setting'],
    ['an unknown policy', { version_policy: { newest: {} } }, 'version_policy.newest is not a known setting'],
    [
      'an unknown key inside latest',
      { version_policy: { latest: { num_versions: 2, count: 1 } } },
      'version_policy.latest.count is not a known setting',
    ],
    ['an unknown batching key', { batching: { timeout: 5 } }, 'batching.timeout is not a known setting'],
    ['a version_policy that is not an object', { version_policy: 'latest' }, 'version_policy'],
    [
      'latest.num_versions 0',
      { version_policy: { latest: { num_versions: 0 } } },
      'version_policy.latest.num_versions must not be less than 1',
    ],
    [
      'a fractional latest.num_versions',
      { version_policy: { latest: { num_versions: 1.5 } } },
      'version_policy.latest.num_versions must be an integer number',
    ],
    [
      'latest.num_versions as a string',
      { version_policy: { latest: { num_versions: '2' } } },
      'version_policy.latest.num_versions must be an integer number',
    ],
    [
      'latest.num_versions above 1000',
      { version_policy: { latest: { num_versions: 1001 } } },
      'version_policy.latest.num_versions must not be greater than 1000',
    ],
    ['two policies at once', { version_policy: { latest: {}, all: {} } }, 'version_policy must name exactly one of latest, all, specific'],
    ['an empty version_policy', { version_policy: {} }, 'version_policy must name exactly one of latest, all, specific'],
    ['all that is not an object', { version_policy: { all: [] } }, 'version_policy.all must be an object'],
    ['specific without versions', { version_policy: { specific: {} } }, 'version_policy.specific.versions must be an array'],
    [
      'specific with no versions',
      { version_policy: { specific: { versions: [] } } },
      'version_policy.specific.versions should not be empty',
    ],
    [
      'specific with version 0',
      { version_policy: { specific: { versions: [1, 0] } } },
      'each value in version_policy.specific.versions must not be less than 1',
    ],
    [
      'specific with a fractional version',
      { version_policy: { specific: { versions: [1.5] } } },
      'each value in version_policy.specific.versions must be an integer number',
    ],
    [
      'specific with a version as a string',
      { version_policy: { specific: { versions: ['1'] } } },
      'each value in version_policy.specific.versions must be an integer number',
    ],
    [
      'specific.versions that is not a list',
      { version_policy: { specific: { versions: 1 } } },
      'version_policy.specific.versions must be an array',
    ],
    [
      'specific with more than 1000 versions',
      { version_policy: { specific: { versions: Array.from({ length: 1001 }, (_, i) => i + 1) } } },
      'version_policy.specific.versions must contain no more than 1000 elements',
    ],
    ['batching that is not an object', { batching: 3 }, 'batching'],
    ['batching.enabled as a string', { batching: { enabled: 'yes' } }, 'batching.enabled must be a boolean value'],
    ['batching.max_batch_size 0', { batching: { max_batch_size: 0 } }, 'batching.max_batch_size must not be less than 1'],
    ['a fractional batching.max_batch_size', { batching: { max_batch_size: 2.5 } }, 'batching.max_batch_size must be an integer number'],
    [
      'batching.max_batch_size above 100000',
      { batching: { max_batch_size: 100_001 } },
      'batching.max_batch_size must not be greater than 100000',
    ],
    [
      'a negative batching.max_queue_delay_ms',
      { batching: { max_queue_delay_ms: -1 } },
      'batching.max_queue_delay_ms must not be less than 0',
    ],
    [
      'batching.max_queue_delay_ms above a minute',
      { batching: { max_queue_delay_ms: 60_001 } },
      'batching.max_queue_delay_ms must not be greater than 60000',
    ],
    ['batching.max_queue_size 0', { batching: { max_queue_size: 0 } }, 'batching.max_queue_size must not be less than 1'],
  ])('refuses %s with a ModelFormatError naming the setting', async (_, json, message) => {
    const error = await errorFrom(() => parseModelConfig(json));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain(`${CONFIG_JSON}: `);
    expect(error.message).toContain(message);
  });

  // null passes @IsOptional; it must not fall through to serving every version.
  it('refuses latest: null instead of serving every version', async () => {
    const error = await errorFrom(() => parseModelConfig({ version_policy: { latest: null } }));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain('version_policy.latest');
  });

  it('refuses specific: null instead of serving every version', async () => {
    const error = await errorFrom(() => parseModelConfig({ version_policy: { specific: null } }));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain('version_policy.specific');
  });

  it('refuses an unknown key inside all', async () => {
    const error = await errorFrom(() => parseModelConfig({ version_policy: { all: { num_versions: 2 } } }));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain('version_policy.all.num_versions is not a known setting');
  });
});

describe('readModelConfig', () => {
  let directory: string;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'model-config-'));
  });

  afterEach(() => rm(directory, { recursive: true, force: true }));

  it('gives the defaults when config.json is absent', async () => {
    await expect(readModelConfig(directory)).resolves.toEqual({
      versionPolicy: { kind: 'latest', count: 1 },
      batching: {},
    });
  });

  it('gives the defaults when the model folder itself is absent', async () => {
    await expect(readModelConfig(join(directory, 'missing'))).resolves.toEqual(DEFAULT_MODEL_CONFIG);
  });

  it('reads and parses config.json', async () => {
    await writeFile(
      join(directory, CONFIG_JSON),
      JSON.stringify({ version_policy: { specific: { versions: [2, 5] } }, batching: { max_batch_size: 4 } }),
    );

    const config = await readModelConfig(directory);

    expect(config.versionPolicy).toEqual({ kind: 'specific', versions: [2, 5] });
    expect(config.batching.maxBatchSize).toBe(4);
  });

  it('refuses a config.json that is not valid JSON', async () => {
    await writeFile(join(directory, CONFIG_JSON), '{"version_policy": ');

    const error = await errorFrom(() => readModelConfig(directory));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/^config\.json is not valid JSON: /);
  });

  it('refuses a config.json with an invalid setting, naming it', async () => {
    await writeFile(join(directory, CONFIG_JSON), JSON.stringify({ version_policy: { latest: { num_versions: 0 } } }));

    const error = await errorFrom(() => readModelConfig(directory));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toContain('version_policy.latest.num_versions');
  });

  it('refuses a config.json that cannot be read, with the error code', async () => {
    await mkdir(join(directory, CONFIG_JSON));

    const error = await errorFrom(() => readModelConfig(directory));

    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe(`cannot read ${CONFIG_JSON}: EISDIR`);
  });
});

describe('selectVersions', () => {
  const latest = (count: number): VersionPolicy => ({ kind: 'latest', count });

  it('keeps the newest version under the default policy, whatever the order on disk', () => {
    expect(selectVersions(latest(1), [3, 10, 2])).toEqual([10]);
  });

  it('keeps the newest n versions, ascending', () => {
    expect(selectVersions(latest(2), [1, 3, 2])).toEqual([2, 3]);
  });

  it('keeps every version when latest asks for more than there are', () => {
    expect(selectVersions(latest(5), [2, 1])).toEqual([1, 2]);
  });

  it('keeps every version, ascending, under all', () => {
    expect(selectVersions({ kind: 'all' }, [3, 1, 2])).toEqual([1, 2, 3]);
  });

  it('keeps exactly the requested versions that are on disk under specific', () => {
    expect(selectVersions({ kind: 'specific', versions: [1, 3] }, [1, 2, 3, 4])).toEqual([1, 3]);
  });

  it('leaves out requested versions that are not on disk', () => {
    expect(selectVersions({ kind: 'specific', versions: [1, 3, 5] }, [2, 3])).toEqual([3]);
    expect(selectVersions({ kind: 'specific', versions: [7] }, [1, 2])).toEqual([]);
  });

  it('selects nothing when no version is on disk', () => {
    expect(selectVersions(latest(1), [])).toEqual([]);
    expect(selectVersions({ kind: 'all' }, [])).toEqual([]);
    expect(selectVersions({ kind: 'specific', versions: [1] }, [])).toEqual([]);
  });

  it('does not reorder the list it is given', () => {
    const onDisk = [3, 1, 2];

    selectVersions({ kind: 'all' }, onDisk);

    expect(onDisk).toEqual([3, 1, 2]);
  });
});
