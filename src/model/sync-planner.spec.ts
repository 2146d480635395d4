import type { VersionPolicy } from './model-config';
import { ModelState } from './model-status';
import { nextSyncStep, SyncView, VersionHeld } from './sync-planner';

const LATEST_ONE: VersionPolicy = { kind: 'latest', count: 1 };

/** A view of folders 1..n on disk, all loadable, with the given versions held. */
function view(onDisk: number[], held: Record<number, VersionHeld> = {}, overrides: Partial<SyncView> = {}): SyncView {
  return {
    policy: LATEST_ONE,
    loadable: onDisk.map((version) => ({ version, fingerprint: `f${version}` })),
    onDisk: new Set(onDisk),
    held: new Map(Object.entries(held).map(([version, entry]) => [Number(version), entry])),
    force: false,
    replaceLoaded: false,
    attempted: new Set(),
    ...overrides,
  };
}

const serving = (version: number): VersionHeld => ({ state: ModelState.AVAILABLE, fingerprint: `f${version}` });
const failed = (version: number, fingerprint = `f${version}`): VersionHeld => ({ state: ModelState.UNAVAILABLE, fingerprint });

describe(nextSyncStep.name, () => {
  it('loads the newest version first under latest', () => {
    expect(nextSyncStep(view([1, 2]))).toEqual({ kind: 'load', version: 2 });
  });

  it('retires the version a newer one replaced once the newer one serves', () => {
    expect(nextSyncStep(view([1, 2], { 1: serving(1), 2: serving(2) }))).toEqual({ kind: 'retire', version: 1 });
  });

  it('is done when the policy is met', () => {
    expect(nextSyncStep(view([1, 2], { 2: serving(2) }))).toBeNull();
  });

  it('falls back to the next older version when the newest failed, keeping the failure while nothing else serves', () => {
    const step = nextSyncStep(view([1, 2], { 2: failed(2) }, { attempted: new Set([2]) }));

    expect(step).toEqual({ kind: 'load', version: 1 });
  });

  it('keeps the older version serving when the newest failed, and retires nothing', () => {
    expect(nextSyncStep(view([1, 2], { 1: serving(1), 2: failed(2) }))).toBeNull();
  });

  it('does not retry a failed version whose folder did not change, unless forced', () => {
    expect(nextSyncStep(view([1], { 1: failed(1) }))).toBeNull();
    expect(nextSyncStep(view([1], { 1: failed(1) }, { force: true }))).toEqual({ kind: 'load', version: 1 });
  });

  it('retries a failed version whose folder changed', () => {
    expect(nextSyncStep(view([1], { 1: failed(1, 'before') }))).toEqual({ kind: 'load', version: 1 });
  });

  it('tries each version once per sync', () => {
    expect(nextSyncStep(view([1], { 1: failed(1) }, { force: true, attempted: new Set([1]) }))).toBeNull();
  });

  it('reloads serving versions when asked for fresh copies', () => {
    expect(nextSyncStep(view([1], { 1: serving(1) }, { replaceLoaded: true }))).toEqual({ kind: 'load', version: 1 });
  });

  it('retires a serving version whose folder is gone, even with nothing else serving', () => {
    expect(nextSyncStep(view([], { 1: serving(1) }))).toEqual({ kind: 'retire', version: 1 });
  });

  it('forgets a failed version no longer selected once another serves', () => {
    const policy: VersionPolicy = { kind: 'specific', versions: [2] };

    expect(nextSyncStep(view([1, 2], { 1: failed(1), 2: serving(2) }, { policy }))).toEqual({ kind: 'forget', version: 1 });
  });

  it('loads every version under all, oldest first', () => {
    expect(nextSyncStep(view([1, 2, 3], {}, { policy: { kind: 'all' } }))).toEqual({ kind: 'load', version: 1 });
  });

  it('loads no version folder that is not loadable yet', () => {
    expect(nextSyncStep(view([1], {}, { loadable: [] }))).toBeNull();
  });
});
