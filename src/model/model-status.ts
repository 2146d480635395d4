import type { VersionPolicy } from './model-config';
import type { VersionDescription } from './model-types';

/** States of a model version, as TF Serving and Triton name them. */
export enum ModelState {
  LOADING = 'LOADING',
  AVAILABLE = 'AVAILABLE',
  UNAVAILABLE = 'UNAVAILABLE',
  UNLOADING = 'UNLOADING',
}

/** A whole model: AVAILABLE when some version serves; UNLOADED when unloaded on request. */
export type ModelAvailability = 'AVAILABLE' | 'LOADING' | 'UNAVAILABLE' | 'UNLOADED';

export interface ModelVersionStatus {
  name: string;
  version: number;
  state: ModelState;
  /** Why the version is not available. */
  reason?: string;
  loadedAt?: Date;
  loadMs?: number;
}

export interface ModelStatus {
  name: string;
  state: ModelAvailability;
  /** Why no version serves, or what is wrong beside the versions that do. */
  reason?: string;
  versionPolicy?: VersionPolicy;
  versions: ModelVersionStatus[];
}

/** A version's status, with what it says about itself while it is loaded. */
export interface ModelVersionDetails {
  status: ModelVersionStatus;
  description?: VersionDescription;
}

/** What the registry knows of one model, for working out its status. */
export interface ModelFacts {
  name: string;
  versionPolicy?: VersionPolicy;
  versions: ModelVersionStatus[];
  /** Why the model's config.json cannot be used. */
  configError?: string;
  unloaded: boolean;
  /** Version folders still being written. */
  pending: number[];
  /** Whether the start-up load of the repository has finished. */
  started: boolean;
}

/** A model's state: AVAILABLE once any version serves, with what else is wrong as the reason. */
export function modelStatus(facts: ModelFacts): ModelStatus {
  const versions = [...facts.versions].sort((a, b) => a.version - b.version);
  const base = { name: facts.name, ...(facts.versionPolicy ? { versionPolicy: facts.versionPolicy } : {}), versions };
  if (facts.unloaded) return { ...base, state: 'UNLOADED', reason: 'unloaded on request' };
  const problems = [
    ...(facts.configError ? [facts.configError] : []),
    ...versions.filter((v) => v.state === ModelState.UNAVAILABLE).map((v) => `version ${v.version} is UNAVAILABLE: ${v.reason}`),
  ];
  if (versions.some((v) => v.state === ModelState.AVAILABLE)) {
    return { ...base, state: 'AVAILABLE', ...(problems.length > 0 ? { reason: problems.join('; ') } : {}) };
  }
  if (versions.some((v) => v.state === ModelState.LOADING) || !facts.started) return { ...base, state: 'LOADING' };
  if (problems.length === 0) {
    problems.push(
      facts.pending.length > 0
        ? `version ${facts.pending.join(', ')} is still being written`
        : 'no version folder holding a model that its version policy selects',
    );
  }
  return { ...base, state: 'UNAVAILABLE', reason: problems.join('; ') };
}
