// The dashboard's rule form offers what the primary accepts: web/rule-format.js (a browser module,
// no build step, so it cannot import the TypeScript) holds copies of src/alerts/rules.ts's lists,
// and this keeps them equal.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RULE_KINDS, VITALS } from '../../../src/alerts/rules.js';
import { THROTTLE_FLAG_NAMES } from '../../../src/protocol/throttle.js';

it("the rule form's kinds, vitals and flags are the primary's", async () => {
  const web = (await import(new URL('../../../web/rule-format.js', import.meta.url).href)) as {
    RULE_KINDS: string[];
    VITALS: Record<string, { unit: string; bad: string }>;
    THROTTLE_FLAGS: string[];
    DISK_VITALS: Set<string>;
  };
  assert.deepEqual([...web.RULE_KINDS].sort(), [...RULE_KINDS].sort());
  assert.deepEqual(web.VITALS, VITALS);
  assert.deepEqual(web.THROTTLE_FLAGS, [...THROTTLE_FLAG_NAMES]);
  assert.deepEqual([...web.DISK_VITALS].sort(), ['diskFreeBytes', 'diskFreePercent']);
});
