/**
 * Builds a real byte-level BPE tokenizer.json (GPT-2 byte alphabet + merges learned from a small built-in corpus)
 * for generated test checkpoints; @huggingface/tokenizers loads it like any Hub tokenizer.
 */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>', '<|system|>', '<|user|>', '<|assistant|>'] as const;

const CORPUS = `The quick brown fox jumps over the lazy dog. A model learns from data, and the data teaches the model.
Question: what is the capital of France? Answer: the capital of France is Paris. What is two plus two? Four.
Please summarise the following text in one sentence. The training loss falls as the adapter learns the task.
Low rank adaptation trains two small matrices for every projection while the base weights stay frozen.
Hello, how are you today? I am fine, thank you. Can you help me with my question? Yes, of course I can help.
The system answers questions about documents, datasets, jobs and adapters. Users write instructions; the assistant
responds with helpful, short and correct answers. Numbers like 1, 2, 3, 10, 42, 100 and 2024 appear in text too.
This is a tiny random model for tests: its weights are random, so its answers are meaningless until it is trained.
Translate to German: good morning. Guten Morgen. Thank you very much. Vielen Dank. Where is the station? Wo ist der Bahnhof?
def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n{"key": "value", "list": [1, 2, 3]}`;

/** GPT-2's reversible byte → printable character table. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}

/** Learns up to `numMerges` merges on `corpus` (ties broken by pair string so the result is deterministic). */
export function learnMerges(corpus: string, numMerges: number): [string, string][] {
  const table = bytesToUnicode();
  const counts = new Map<string, number>();
  for (const w of corpus.match(GPT2_SPLIT) ?? []) {
    const enc = [...Buffer.from(w, 'utf8')].map((b) => table[b]).join('\u0000');
    counts.set(enc, (counts.get(enc) ?? 0) + 1);
  }
  let words = [...counts].map(([w, c]) => ({ syms: w.split('\u0000'), c }));
  const merges: [string, string][] = [];
  while (merges.length < numMerges) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = syms[i] + '\u0000' + syms[i + 1];
        pairs.set(k, (pairs.get(k) ?? 0) + c);
      }
    }
    let best: string | undefined;
    let bestCount = 1; // merge only pairs seen at least twice
    for (const [k, c] of pairs) {
      if (c > bestCount || (c === bestCount && best !== undefined && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (!best) break;
    const [a, b] = best.split('\u0000') as [string, string];
    merges.push([a, b]);
    words = words.map(({ syms, c }) => {
      const out: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(syms[i]!);
      }
      return { syms: out, c };
    });
  }
  return merges;
}

/** tokenizer.json for a byte-level BPE with at most `maxVocab` entries; BOS added by the post-processor like Llama. */
export function buildByteLevelTokenizer(maxVocab: number): { tokenizer: Record<string, unknown>; vocabSize: number } {
  const base = SPECIAL_TOKENS.length + 256;
  if (maxVocab < base) throw new Error(`vocab size must be at least ${base} for the byte-level tokenizer (got ${maxVocab})`);
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  const table = bytesToUnicode();
  // Byte symbols in byte order after the special tokens.
  for (let b = 0; b < 256; b++) vocab[table[b]!] = SPECIAL_TOKENS.length + b;
  const merges = learnMerges(CORPUS, maxVocab - base);
  let next = base;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = next++;
  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, bos, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
  return { tokenizer, vocabSize: next };
}

/** Zephyr/TinyLlama-style chat template; assistant turns end with the EOS token. */
export const TINY_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";
