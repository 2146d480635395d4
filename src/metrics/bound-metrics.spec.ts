import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BoundCounter, BoundGauge, BoundHistogram } from './bound-metrics';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const LABELS = ['model', 'version'];
const IRIS = { model: 'iris', version: '1' };
const MNIST = { model: 'mnist', version: '2' };

/**
 * The same observations made on prom-client's own metrics and on the bound ones must render
 * the same exposition text: Prometheus cannot tell them apart.
 */
describe('bound metrics', () => {
  it('render a histogram as prom-client does: cumulative buckets, +Inf, sum and count per label set', async () => {
    const reference = new Registry();
    const bound = new Registry();
    const theirs = new Histogram({
      name: 'latency_seconds',
      help: 'Latency.',
      labelNames: LABELS,
      buckets: BUCKETS,
      registers: [reference],
    });
    const ours = new BoundHistogram(bound, 'latency_seconds', 'Latency.', LABELS, BUCKETS);
    const observations: [Record<string, string>, number][] = [
      [IRIS, 0.0005],
      [IRIS, 0.01],
      [IRIS, 0.5],
      [IRIS, 7],
      [MNIST, 0.05],
    ];

    for (const [labels, value] of observations) {
      theirs.labels(labels).observe(value);
      ours.labels(labels).observe(value);
    }

    expect(await bound.metrics()).toBe(await reference.metrics());
  });

  it('render counters and gauges as prom-client does', async () => {
    const reference = new Registry();
    const bound = new Registry();
    const theirCounter = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: LABELS, registers: [reference] });
    const theirGauge = new Gauge({ name: 'in_flight', help: 'In flight.', labelNames: LABELS, registers: [reference] });
    const ourCounter = new BoundCounter(bound, 'requests_total', 'Requests.', LABELS);
    const ourGauge = new BoundGauge(bound, 'in_flight', 'In flight.', LABELS);

    theirCounter.labels(IRIS).inc();
    theirCounter.labels(IRIS).inc(2);
    theirCounter.labels(MNIST).inc();
    theirGauge.labels(IRIS).inc();
    theirGauge.labels(IRIS).inc();
    theirGauge.labels(IRIS).dec();
    theirGauge.labels(MNIST).set(5);
    ourCounter.labels(IRIS).inc();
    ourCounter.labels(IRIS).inc(2);
    ourCounter.labels(MNIST).inc();
    ourGauge.labels(IRIS).inc();
    ourGauge.labels(IRIS).inc();
    ourGauge.labels(IRIS).dec();
    ourGauge.labels(MNIST).set(5);

    expect(await bound.metrics()).toBe(await reference.metrics());
  });

  it('binds each label set once: the same child for the same values', () => {
    const counter = new BoundCounter(new Registry(), 'c_total', 'C.', LABELS);

    expect(counter.labels({ ...IRIS })).toBe(counter.labels({ version: '1', model: 'iris' }));
    expect(counter.labels(IRIS)).not.toBe(counter.labels(MNIST));
  });
});
