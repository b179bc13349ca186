import { describe, expect, it } from 'vitest';
import { RequestSubjects, Subjects, StreamSubjects, Streams, TrainingJobEventType } from './subjects.js';

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

const allStreamPatterns = Object.values(StreamSubjects).flat();

describe('NATS subjects', () => {
  it('puts every job event inside the training stream', () => {
    const subject = Subjects.trainingJobEvent('abc', TrainingJobEventType.Progress);
    expect(subject.split('.')).toEqual(['clara', 'training', 'jobs', 'abc', 'progress']);
    expect(StreamSubjects[Streams.TrainingJobs].some((p) => matches(p, subject))).toBe(true);
  });

  it('keeps every request/reply subject outside every JetStream stream (a stream would answer with its ack)', () => {
    expect(matches('clara.datasets.>', 'clara.datasets.rpc.search')).toBe(true); // the matcher itself works
    for (const subject of RequestSubjects) {
      expect(allStreamPatterns.filter((p) => matches(p, subject)), subject).toEqual([]);
    }
  });

  it('keeps the events other services consume inside their streams', () => {
    for (const [stream, subject] of [
      [Streams.Datasets, Subjects.datasetDocumentsIngested],
      [Streams.Datasets, Subjects.datasetVersionCreated],
      [Streams.Adapters, Subjects.adapterEvent('a1', 'registered')],
    ] as const) {
      expect(StreamSubjects[stream].some((p) => matches(p, subject)), subject).toBe(true);
    }
  });
});
