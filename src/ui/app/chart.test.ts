import { describe, expect, it } from 'vitest';
import { chartPoints, pushSample } from './chart.js';
import { diffSummary } from './diff.js';

describe('the stats charts', () => {
  it('keep the newest samples, replace a repeated timestamp and drop non-numbers', () => {
    let s = pushSample([], { t: 1, v: 1 }, 3);
    s = pushSample(s, { t: 2, v: 2 }, 3);
    s = pushSample(s, { t: 2, v: 5 }, 3);
    s = pushSample(s, { t: 3, v: NaN }, 3);
    s = pushSample(s, { t: 4, v: 4 }, 3);
    s = pushSample(s, { t: 5, v: 5 }, 3);
    expect(s).toEqual([
      { t: 2, v: 5 },
      { t: 4, v: 4 },
      { t: 5, v: 5 },
    ]);
  });

  it('scale the line to the box, the largest sample at the top, and draw one sample flat', () => {
    expect(chartPoints([], 100, 50)).toEqual({ points: '', max: 0 });
    expect(chartPoints([{ t: 0, v: 3 }], 100, 50).points).toBe('0,1.0 100,1.0');
    expect(
      chartPoints(
        [
          { t: 0, v: 0 },
          { t: 10, v: 10 },
        ],
        100,
        50,
      ),
    ).toEqual({ points: '0.0,49.0 100.0,1.0', max: 10 });
  });
});

describe('the diff summary', () => {
  it('counts changed fields through objects, groups and tasks', () => {
    expect(diffSummary(null)).toBe('–');
    expect(
      diffSummary({
        Type: 'Edited',
        ID: 'web',
        Fields: [{ Type: 'None', Name: 'Priority', Old: '50', New: '50', Annotations: null }],
        Objects: null,
        TaskGroups: [
          {
            Type: 'Edited',
            Name: 'g',
            Fields: [{ Type: 'Edited', Name: 'Count', Old: '3', New: '5', Annotations: null }],
            Objects: null,
            Updates: null,
            Tasks: [
              {
                Type: 'Edited',
                Name: 't',
                Annotations: null,
                Fields: null,
                Objects: [
                  {
                    Type: 'Edited',
                    Name: 'Config',
                    Fields: [{ Type: 'Added', Name: 'args', Old: '', New: 'x', Annotations: null }],
                    Objects: null,
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).toBe('2 changes');
  });
});
