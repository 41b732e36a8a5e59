// Unit tests of data.js, run by node's test runner (datajs_test.go).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { timelineOf } from './data.js';

test('timelineOf follows the Go join rule', () => {
  const fx = JSON.parse(readFileSync(new URL('../../../protocol/testdata/join.json', import.meta.url)));
  for (const c of fx.cases) {
    const tl = timelineOf(fx.result, c.field, c.declared);
    const want = c.want === null ? null : fx.result.timeline[c.want];
    assert.equal(tl, want, `${c.field} declared ${c.declared}`);
  }
});
