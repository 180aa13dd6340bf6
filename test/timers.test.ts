// Delays longer than one Node timer can take (2^31 - 1 ms, about 24.8 days).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { stopSignal } from '../src/commands/command.ts';
import { MAX_TIMER_MS, setLongTimeout } from '../src/timers.ts';

test('a long timeout fires once its whole delay has passed, not after 1 ms; cancelled, it never fires', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const delay = 2 * MAX_TIMER_MS + 5;
  let fired = 0;
  setLongTimeout(() => fired++, delay);
  const cancel = setLongTimeout(() => fired++, delay);
  t.mock.timers.tick(MAX_TIMER_MS);
  cancel();
  t.mock.timers.tick(MAX_TIMER_MS);
  t.mock.timers.tick(4);
  assert.equal(fired, 0);
  t.mock.timers.tick(1);
  assert.equal(fired, 1);
  t.mock.timers.tick(10 * MAX_TIMER_MS);
  assert.equal(fired, 1);
});

test('--duration longer than a Node timer (3,000,000 s) does not stop the command at once', async () => {
  const signal = stopSignal(3_000_000);
  await sleep(50);
  assert.equal(signal.aborted, false);
  const short = stopSignal(0.01);
  await sleep(50);
  assert.equal(short.aborted, true);
});
