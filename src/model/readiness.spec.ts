import type { ModelStatus } from './model-status';
import { readinessProblems, RepositoryState } from './readiness';

const STARTED: RepositoryState = { started: true, stopping: false };

function model(name: string, state: ModelStatus['state'], reason?: string): ModelStatus {
  return { name, state, versions: [], ...(reason ? { reason } : {}) };
}

describe(readinessProblems.name, () => {
  const listed = (...names: string[]) => ({ kind: 'listed' as const, names });

  it('is ready when the listed models serve, while another is broken', () => {
    const models = [model('iris', 'AVAILABLE'), model('broken', 'UNAVAILABLE', 'bad model.json')];

    expect(readinessProblems(listed('iris'), STARTED, models)).toEqual([]);
  });

  it.each<[ModelStatus['state'], string]>([
    ['UNAVAILABLE', 'required model iris is UNAVAILABLE: why'],
    ['LOADING', 'required model iris is LOADING: why'],
    ['UNLOADED', 'required model iris is UNLOADED: why'],
  ])('is not ready while a required model is %s, saying why', (state, problem) => {
    expect(readinessProblems(listed('iris'), STARTED, [model('iris', state, 'why')])).toEqual([problem]);
  });

  it('names a required model the repository lacks', () => {
    expect(readinessProblems(listed('iris', 'mnist'), STARTED, [model('iris', 'AVAILABLE')])).toEqual([
      'required model mnist is not in the repository',
    ]);
  });

  it('requires every model under "every"', () => {
    const models = [model('iris', 'AVAILABLE'), model('broken', 'UNAVAILABLE', 'bad')];

    expect(readinessProblems({ kind: 'every' }, STARTED, models)).toEqual(['required model broken is UNAVAILABLE: bad']);
  });

  it.each<[string, RepositoryState, string]>([
    ['still loading', { started: false, stopping: false }, 'the model repository is still loading'],
    ['shutting down', { started: true, stopping: true }, 'the model repository is shutting down'],
    [
      'unreadable',
      { started: true, stopping: false, error: 'cannot read the model repository /m: EACCES' },
      'cannot read the model repository /m: EACCES',
    ],
  ])('is not ready while the repository is %s', (_case, repository, problem) => {
    expect(readinessProblems(listed('iris'), repository, [model('iris', 'AVAILABLE')])).toEqual([problem]);
  });
});
