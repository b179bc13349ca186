/**
 * The search benchmarks' deterministic synthetic corpus: German administrative-law-like documents (30,000-word
 * vocabulary drawn with Zipf p(r) ∝ 1/(r+20), function words, 30 % of sentences cite e.g. "§ 35 BauGB") and queries
 * from the same distribution. One random sequence: documents 0…N−1 are drawn first, then the queries, so the same N
 * gives the same queries.
 */
let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
const SYLLABLES = ('bau recht an lage ge neh mi gung dach pho to vol ta ik wind ener gie aus sen be reich schutz denk mal lärm ' +
  'im mis sion ver wal tung plan flä che grund stück nut zung ord nung frei fahrt wasser straße wohn haus ab stand ein griff').split(' ');
const VOCAB = [];
const seen = new Set();
while (VOCAB.length < 30000) {
  const n = 2 + Math.floor(rnd() * 3);
  let w = '';
  for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rnd() * SYLLABLES.length)];
  if (!seen.has(w)) {
    seen.add(w);
    VOCAB.push(w);
  }
}
const FUNCTION = 'die der das und ist nach dem den im für mit von zu auf bei wird sind nicht eine ein'.split(' ');
const LAWS = ['BauGB', 'VwVfG', 'BImSchG', 'EEG', 'BauNVO', 'WHG'];
const DOMAINS = ['verwaltungsrecht', 'umweltrecht', 'baurecht', 'energierecht', 'planungsrecht'];
const TYPES = ['regulation', 'ruling', 'guideline', 'commentary'];
// Zipf word choice, p(rank r) ∝ 1 / (r + 20): content words after stop-words (the FUNCTION list plays those)
const CDF = [];
{
  let total = 0;
  for (let r = 0; r < VOCAB.length; r++) CDF.push((total += 1 / (r + 20)));
  for (let r = 0; r < CDF.length; r++) CDF[r] /= total;
}
function zipfIndex() {
  const u = rnd();
  let lo = 0;
  let hi = CDF.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CDF[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const word = () => VOCAB[zipfIndex()];
const citation = () => (rnd() < 0.15 ? `Art. ${1 + Math.floor(rnd() * 20)} GG` : `§ ${1 + Math.floor(rnd() * 120)} ${LAWS[Math.floor(rnd() * LAWS.length)]}`);
function sentence() {
  const words = [];
  const len = 8 + Math.floor(rnd() * 10);
  for (let i = 0; i < len; i++) words.push(rnd() < 0.35 ? FUNCTION[Math.floor(rnd() * FUNCTION.length)] : word());
  if (rnd() < 0.3) words.push('nach', citation());
  const s = words.join(' ');
  return s[0].toUpperCase() + s.slice(1) + '.';
}
export function document(i) {
  const sentences = [];
  for (let k = 0, n = 6 + Math.floor(rnd() * 5); k < n; k++) sentences.push(sentence());
  return {
    id: `bench-${i}`,
    title: `${word()} ${word()} ${word()}`,
    content: sentences.join(' '),
    domain: DOMAINS[i % DOMAINS.length],
    document_type: TYPES[i % TYPES.length],
    language: 'de',
  };
}
export function queries(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const words = [];
    for (let k = 0, len = 2 + Math.floor(rnd() * 3); k < len; k++) words.push(word());
    if (rnd() < 0.4) words.push(citation());
    out.push(words.join(' '));
  }
  return out;
}

