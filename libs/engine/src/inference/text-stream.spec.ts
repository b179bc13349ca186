import { describe, expect, it } from 'vitest';
import { TextStream, type Detokenizer } from './text-stream.js';

// one character per id; id 9 renders half of a two-token character until id 10 follows
const chars = 'abcdefgh X';
const tok: Detokenizer = {
  decode: (ids) => {
    let s = '';
    ids.forEach((id, i) => (s += id === 9 ? (ids[i + 1] === 10 ? '' : '\uFFFD') : id === 10 ? 'é' : chars[id]));
    return s;
  },
};

describe('TextStream', () => {
  it('emits text as it comes and cuts at the first stop sequence, holding back possible prefixes', () => {
    const s = new TextStream(tok, ['cd', 'h']);
    const out: string[] = [];
    for (const id of [0, 1, 2, 3, 4]) {
      out.push(s.push(id));
      if (s.stopped) break;
    }
    expect(out).toEqual(['a', 'b', '', '']);
    expect(s.stopped).toBe(true);
    expect(s.completion).toBe('ab');
  });

  it('releases a held-back prefix when the stop does not complete', () => {
    const s = new TextStream(tok, ['cd']);
    expect(s.push(2)).toBe('');
    expect(s.push(4)).toBe('ce');
    expect(s.stopped).toBe(false);
  });

  it('holds back an incomplete character until it is whole', () => {
    const s = new TextStream(tok, []);
    expect(s.push(0)).toBe('a');
    expect(s.push(9)).toBe('');
    expect(s.push(10)).toBe('é');
    expect(s.offsets).toEqual([0, 1, 1]);
  });

  it('incremental decoding equals decoding everything at once, however tokens merge', () => {
    // a tokenizer whose rendering of a token depends on its neighbour (like a BPE space marker)
    const merging: Detokenizer = { decode: (ids) => ids.map((id, i) => (id === 0 ? (i === 0 ? 'X' : ' ') : id === 9 ? (ids[i + 1] === 10 ? '' : '\uFFFD') : id === 10 ? 'é' : chars[id])).join('') };
    const ids = [1, 0, 2, 9, 10, 3, 0, 0, 4, 9, 10, 9];
    const s = new TextStream(merging, []);
    let out = '';
    for (const id of ids) out += s.push(id);
    out += s.flush();
    expect(out).toBe(merging.decode(ids));
  });
});
