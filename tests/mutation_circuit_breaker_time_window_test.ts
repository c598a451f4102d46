// What mutation testing of src/circuit_breaker/time_window.ts found untested: the saved form
// (stores keep it), a clock that goes back, and the window emptied after a long gap.
import assert from "node:assert/strict";
import { TimeWindow } from "../src/circuit_breaker/time_window.ts";
import { test } from "./_harness.ts";

test("time window: save/load keeps calls, failures and slow calls; a foreign shape is ignored", () => {
  const w = new TimeWindow(1_000, 10);
  assert.deepEqual(w.save().at, -1, "never used: no newest bucket");
  w.add(true, true, 50);
  w.add(false, true, 150);
  w.add(false, false, 150);
  const saved = w.save();
  assert.equal(saved.at, 1);
  const r = new TimeWindow(1_000, 10);
  r.load(saved);
  assert.deepEqual([r.calls, r.failures, r.slowCalls], [3, 1, 2]);
  assert.deepEqual(r.save(), saved, "a loaded window saves the same");
  r.roll(1_050); // bucket 0 (t = 50) leaves the window
  assert.deepEqual([r.calls, r.failures, r.slowCalls], [2, 0, 1]);
  const other = new TimeWindow(1_000, 5);
  other.load(saved); // 10 buckets into a 5-bucket window: left empty
  assert.deepEqual([other.calls, other.failures, other.slowCalls], [0, 0, 0]);
  // A never-used saved window loads as never used: the first call starts it fresh.
  const fresh = new TimeWindow(1_000, 10);
  fresh.load(new TimeWindow(1_000, 10).save());
  fresh.add(true, false, 5_000);
  assert.deepEqual([fresh.calls, fresh.failures], [1, 1]);
  assert.equal(fresh.save().at, 50);
});

test("time window: an outcome dated earlier counts in its own bucket (dropped once outside); a long gap empties it", () => {
  const w = new TimeWindow(1_000, 10);
  w.add(true, false, 500);
  w.add(true, false, 300); // earlier than the newest bucket: in its own bucket (3), not rotated
  assert.deepEqual([w.calls, w.failures], [2, 2]);
  w.add(true, false, -600); // bucket -6: already out of the window ending in bucket 5
  assert.deepEqual([w.calls, w.failures], [2, 2]);
  w.roll(500); // same bucket: nothing leaves
  assert.equal(w.calls, 2);
  w.roll(1_300); // bucket 3 (t = 300) leaves at 1,300
  assert.equal(w.calls, 1);
  w.roll(1_499); // bucket 5 (t = 500) leaves only at 1,500
  assert.equal(w.calls, 1);
  w.roll(1_500);
  assert.equal(w.calls, 0);
  w.add(false, true, 1_600);
  w.roll(1_600 + 1_000); // exactly a window later: everything leaves
  assert.deepEqual([w.calls, w.failures, w.slowCalls], [0, 0, 0]);
  w.add(false, false, 2_650);
  assert.equal(w.calls, 1, "counting goes on after the gap");
});
