import type { Registry } from 'prom-client';

type Labels = Record<string, string>;
type MetricType = 'counter' | 'gauge' | 'histogram';

/** One sample as prom-client's registry renders it: `metricName{labels} value`. */
interface Sample {
  labels: Record<string, string | number>;
  value: number;
  /** `<name>_bucket`, `_sum`, `_count` for histograms; the metric's name otherwise. */
  metricName?: string;
}

/**
 * Metrics updated on every request: one child per label set, bound once, holding plain numbers,
 * registered in prom-client's registry through its metric interface (`get()`, which the
 * registry renders at scrape time). prom-client's own labelled children validate and hash
 * their label values on every call, several times per request here (about 4 % of a replica's
 * CPU under load); these do that once, when a child is first bound.
 */
abstract class BoundMetric<Child> {
  readonly aggregator = 'sum' as const;
  private readonly children = new Map<string, { labels: Labels; child: Child }>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    private readonly labelNames: readonly string[],
  ) {
    registry.registerMetric(this as never);
  }

  /** The child of these label values, made on first use. */
  labels(labels: Labels): Child {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let found = this.children.get(key);
    if (!found) {
      const own = Object.fromEntries(this.labelNames.map((name) => [name, labels[name]]));
      found = { labels: own, child: this.createChild() };
      this.children.set(key, found);
    }
    return found.child;
  }

  get(): { name: string; help: string; type: MetricType; aggregator: 'sum'; values: Sample[] } {
    const values = [...this.children.values()].flatMap(({ labels, child }) => this.valuesOf(labels, child));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Every child made so far; callers hold them, so they are zeroed in place, never replaced. */
  protected eachChild(): IterableIterator<{ labels: Labels; child: Child }> {
    return this.children.values();
  }

  protected abstract createChild(): Child;

  protected abstract valuesOf(labels: Labels, child: Child): Sample[];
}

export class CounterChild {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }

  reset(): void {
    this.value = 0;
  }
}

export class GaugeChild {
  value = 0;

  inc(): void {
    this.value++;
  }

  dec(): void {
    this.value--;
  }

  set(value: number): void {
    this.value = value;
  }
}

export class HistogramChild {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }

  observe(value: number): void {
    for (let i = 0; i < this.bounds.length; i++) {
      if (value <= this.bounds[i]) {
        this.counts[i]++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class BoundCounter extends BoundMetric<CounterChild> {
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
    super(registry, name, help, 'counter', labelNames);
  }

  /** Every count back to 0 (a gauge has no such thing: it says how things are now). */
  reset(): void {
    for (const { child } of this.eachChild()) child.reset();
  }

  protected createChild(): CounterChild {
    return new CounterChild();
  }

  protected valuesOf(labels: Labels, child: CounterChild): Sample[] {
    return [{ labels, value: child.value }];
  }
}

export class BoundGauge extends BoundMetric<GaugeChild> {
  constructor(registry: Registry, name: string, help: string, labelNames: readonly string[]) {
    super(registry, name, help, 'gauge', labelNames);
  }

  protected createChild(): GaugeChild {
    return new GaugeChild();
  }

  protected valuesOf(labels: Labels, child: GaugeChild): Sample[] {
    return [{ labels, value: child.value }];
  }
}

/** Cumulative buckets with `le` labels, then `_sum` and `_count`, as Prometheus histograms are written. */
export class BoundHistogram extends BoundMetric<HistogramChild> {
  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(registry, name, help, 'histogram', labelNames);
  }

  reset(): void {
    for (const { child } of this.eachChild()) child.reset();
  }

  protected createChild(): HistogramChild {
    return new HistogramChild(this.buckets);
  }

  protected valuesOf(labels: Labels, child: HistogramChild): Sample[] {
    let cumulative = 0;
    const bucket = `${this.name}_bucket`;
    return [
      ...this.buckets.map((le, i) => ({ labels: { le, ...labels }, value: (cumulative += child.counts[i]), metricName: bucket })),
      { labels: { le: '+Inf', ...labels }, value: child.count, metricName: bucket },
      { labels, value: child.sum, metricName: `${this.name}_sum` },
      { labels, value: child.count, metricName: `${this.name}_count` },
    ];
  }
}
