import { selectVersions, VersionPolicy } from './model-config';
import { ModelState } from './model-status';

/** A version folder that may be loaded now. */
export interface VersionOnDisk {
  version: number;
  /** Changes whenever the folder's files do. */
  fingerprint: string;
}

/** A version the registry holds, in whatever state. */
export interface VersionHeld {
  state: ModelState;
  fingerprint: string;
}

/** Everything one step of bringing a model in line with its folder depends on. */
export interface SyncView {
  policy: VersionPolicy;
  /** Version folders that may be loaded now (complete, or given up waiting for). */
  loadable: readonly VersionOnDisk[];
  /** Every version folder on disk, loadable or not. */
  onDisk: ReadonlySet<number>;
  held: ReadonlyMap<number, VersionHeld>;
  /** Retry versions that failed even if their folder did not change (start-up, load, reload). */
  force: boolean;
  /** Load fresh copies of versions already serving (reload). */
  replaceLoaded: boolean;
  /** Versions whose load was already tried in this sync: each is tried once. */
  attempted: ReadonlySet<number>;
}

export type SyncStep =
  /** Load the version (aside, while a copy of it serves). */
  | { kind: 'load'; version: number }
  /** Stop the version taking requests, let it finish the ones it has, and free it. */
  | { kind: 'retire'; version: number }
  /** Drop a version that is not serving (a failure no longer worth reporting). */
  | { kind: 'forget'; version: number };

/**
 * The next step that brings a model in line with its folder and version policy, or null once
 * it is. Applied one at a time, because what comes next depends on how a load went:
 *
 * 1. The versions the policy selects are loaded if new, if they failed and their folder has
 *    changed since (or the sync is forced), or if serving and a reload asks for fresh copies.
 * 2. Under `latest`, a selected version that failed gives its place to the next older one,
 *    until the policy's count serves.
 * 3. Versions no longer wanted are retired (serving ones) or forgotten (failed ones), but only
 *    once a wanted version serves, or when their folder is gone: a failed update never takes
 *    down the version serving.
 */
export function nextSyncStep(view: SyncView): SyncStep | null {
  const selected = selectVersions(
    view.policy,
    view.loadable.map((v) => v.version),
  );
  for (const version of selected) {
    if (view.attempted.has(version)) continue;
    const held = view.held.get(version);
    const retry =
      !held ||
      (held.state === ModelState.AVAILABLE && view.replaceLoaded) ||
      (held.state === ModelState.UNAVAILABLE && (view.force || held.fingerprint !== fingerprintOf(view, version)));
    if (retry) return { kind: 'load', version };
  }

  const wanted = [...selected];
  const serves = (version: number) => view.held.get(version)?.state === ModelState.AVAILABLE;
  if (view.policy.kind === 'latest') {
    const older = view.loadable
      .map((v) => v.version)
      .filter((v) => !selected.includes(v))
      .sort((a, b) => b - a);
    for (const version of older) {
      if (wanted.filter(serves).length >= view.policy.count) break;
      const held = view.held.get(version);
      const untried = !held || (held.state === ModelState.UNAVAILABLE && held.fingerprint !== fingerprintOf(view, version));
      if (untried && !view.attempted.has(version)) return { kind: 'load', version };
      if (serves(version)) wanted.push(version);
    }
  }

  const serving = wanted.some(serves);
  for (const [version, held] of view.held) {
    if (wanted.includes(version) || !(serving || !view.onDisk.has(version))) continue;
    return { kind: held.state === ModelState.AVAILABLE ? 'retire' : 'forget', version };
  }
  return null;
}

function fingerprintOf(view: SyncView, version: number): string | undefined {
  return view.loadable.find((v) => v.version === version)?.fingerprint;
}
