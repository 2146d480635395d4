import type { ModelStatus } from './model-status';

/**
 * The models a replica must serve to be ready: the listed ones, or every model in the
 * repository. A model outside the list may be broken or loading without failing the probe,
 * so that one bad upload to a shared repository never takes every replica out of rotation.
 */
export type RequiredModels = { kind: 'every' } | { kind: 'listed'; names: readonly string[] };

/** Where the repository as a whole stands. */
export interface RepositoryState {
  started: boolean;
  stopping: boolean;
  /** Why the repository folder cannot be read. */
  error?: string;
}

/** Whether the model is one the replica must serve. */
export function isRequired(required: RequiredModels, name: string): boolean {
  return required.kind === 'every' || required.names.includes(name);
}

/** What keeps the replica from being ready, one line per problem; empty when it is ready. */
export function readinessProblems(required: RequiredModels, repository: RepositoryState, models: readonly ModelStatus[]): string[] {
  if (repository.stopping) return ['the model repository is shutting down'];
  if (!repository.started) return ['the model repository is still loading'];
  if (repository.error) return [repository.error];
  const byName = new Map(models.map((model) => [model.name, model]));
  const names = required.kind === 'every' ? [...byName.keys()] : required.names;
  if (names.length === 0) return ['the model repository holds no model'];
  const problems: string[] = [];
  for (const name of names) {
    const model = byName.get(name);
    if (!model) {
      problems.push(`required model ${name} is not in the repository`);
    } else if (model.state !== 'AVAILABLE') {
      problems.push(`required model ${name} is ${model.state}${model.reason ? `: ${model.reason}` : ''}`);
    }
  }
  return problems;
}
