import { describe, expect, it } from 'vitest';
import { Subjects, StreamSubjects, Streams, TrainingJobEventType } from './subjects.js';

describe('NATS subjects', () => {
  it('puts every job event inside the training stream', () => {
    const subject = Subjects.trainingJobEvent('abc', TrainingJobEventType.Progress);
    expect(subject.split('.')).toEqual(['clara', 'training', 'jobs', 'abc', 'progress']);
    const [pattern] = StreamSubjects[Streams.TrainingJobs];
    expect(subject.startsWith(pattern.replace('>', ''))).toBe(true);
  });
});
