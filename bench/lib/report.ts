// Shared shapes and arithmetic for Kiln's benchmarks: every bench returns results that carry
// their own target, so `bench/run.ts` can print value, target and the ratio between them.

export interface BenchResult {
  /** What was measured, e.g. "cancel → local CANCELLED p50". */
  name: string;
  value: number;
  unit: string;
  /** The goal; `better` says which side of it passes. */
  target?: number;
  better?: 'lower' | 'higher';
  /** Extra context (samples, sizes, machine noise). */
  note?: string;
}

export interface BenchContext {
  /** Fewer iterations / smaller builds (KILN_BENCH_QUICK=1). */
  quick: boolean;
  log(line: string): void;
}

export type BenchFn = (ctx: BenchContext) => Promise<BenchResult[]>;

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? NaN;
}

export function mean(samples: readonly number[]): number {
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

export function passes(r: BenchResult): boolean | undefined {
  if (r.target === undefined) return undefined;
  return (r.better ?? 'lower') === 'lower' ? r.value <= r.target : r.value >= r.target;
}

/** value / target for "lower is better", target / value… no: always value ÷ target, with a verdict. */
export function formatResult(r: BenchResult): string {
  const v = fmt(r.value);
  if (r.target === undefined) return `  ${r.name}: ${v} ${r.unit}${r.note ? `   (${r.note})` : ''}`;
  const ok = passes(r);
  const ratio = r.value / r.target;
  const cmp = (r.better ?? 'lower') === 'lower' ? '≤' : '≥';
  return `  ${ok ? 'PASS' : 'MISS'}  ${r.name}: ${v} ${r.unit}  (target ${cmp} ${fmt(r.target)} ${r.unit}; ${fmt(ratio)}× of target)${r.note ? `   ${r.note}` : ''}`;
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}
