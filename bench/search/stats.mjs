// Small helpers shared by the search benchmarks' reports.

/** The p-th percentile (nearest rank, from below) of xs. */
export const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const fmt = (x) => x.toFixed(1);
