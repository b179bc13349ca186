import { describe, expect, it } from 'vitest';
import { cypher, inlineParams } from './cypher.js';

describe('Neo4j Cypher builders', () => {
  it('expand inlines the hop bound and filters hubs with a list predicate in the neo4j dialect', () => {
    const q = cypher.expand(['kw:photovoltaik'], 3, 50, 500);
    expect(q.text).toContain('-[*1..3]-');
    expect(q.text).toContain("all(x IN nodes(p)[1..-1] WHERE x.kind <> 'chunk' AND x.degree <= $maxFanout)");
    expect(q.params).toEqual({ seeds: ['kw:photovoltaik'], limit: 50, maxFanout: 500 });
    expect(cypher.expand(['x'], 2, 5, 10, 'age').text).not.toContain('all(');
    expect(q.text).toContain('s.degree <= $maxFanout');
    expect(() => cypher.expand(['x'], 9, 5, 10)).toThrow(RangeError);
  });

  it('inlines parameters as escaped literals', () => {
    const text = inlineParams({ text: 'MATCH (n) WHERE n.id IN $ids AND n.x = $m RETURN n', params: { ids: ["a'b", 'c\\d'], m: { k: 1 } } });
    expect(text).toBe("MATCH (n) WHERE n.id IN ['a\\'b', 'c\\\\d'] AND n.x = {k: 1} RETURN n");
    expect(() => inlineParams({ text: 'RETURN $x', params: {} })).toThrow(/missing/);
  });

  it('every query references only parameters it provides', () => {
    const queries = [
      cypher.upsertNodes([{ id: 'a', kind: 'chunk', label: 'A' }]),
      cypher.upsertEdges([{ src: 'a', dst: 'b', kind: 'MENTIONS' }]),
      cypher.refreshDegrees(['a']),
      cypher.expand(['a'], 2, 10, 100),
      cypher.deleteDocuments(['d1']),
      cypher.countNodes(),
    ];
    for (const q of queries) expect(() => inlineParams(q)).not.toThrow();
  });
});
