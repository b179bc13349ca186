import { describe, expect, it } from 'vitest';
import { StreamSubjects } from '@clara/contracts';
import { patternWithin, streamFor, subjectMatches } from './message-bus.js';

describe('subject matching', () => {
  it.each([
    ['a.b.c', 'a.b.c', true],
    ['a.*.c', 'a.b.c', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.b.c', 'a.b', false],
    ['*.b.>', 'x.b.y.z', true],
  ])('%s matches %s: %s', (p, s, expected) => expect(subjectMatches(p, s)).toBe(expected));

  it('finds the stream that persists a subject or a pattern', () => {
    const streams = StreamSubjects as unknown as Record<string, readonly string[]>;
    expect(streamFor(streams, 'clara.training.jobs.j1.progress')).toBe('CLARA_TRAINING_JOBS');
    expect(streamFor(streams, 'clara.training.jobs.*.progress')).toBe('CLARA_TRAINING_JOBS');
    expect(streamFor(streams, 'clara.training.jobs.>')).toBe('CLARA_TRAINING_JOBS');
    expect(streamFor(streams, 'clara.training.queue.wake')).toBeUndefined();
    expect(streamFor(streams, 'clara.>')).toBeUndefined();
    expect(patternWithin('a.*.c', 'a.b.c')).toBe(true);
    expect(patternWithin('a.b.c', 'a.*.c')).toBe(false);
  });
});
