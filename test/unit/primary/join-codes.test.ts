// Join codes: a use is taken at once by the node that proves the code; that node may use it again
// within its life (a lost welcome, a wait for approval), others may not once its uses are gone.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { JoinCodes } from '../../../src/primary/join-codes.js';

it('a one-use code is taken by the first node to prove it, and stays that node’s', () => {
  const codes = new JoinCodes();
  const { code } = codes.create();
  assert.deepEqual(codes.usableBy('a'), [code]);
  codes.claim(code, 'a');
  assert.deepEqual(codes.usableBy('b'), [], 'the last use is gone');
  assert.deepEqual(codes.usableBy('a'), [code], 'a may try again (its welcome was lost)');
  codes.claim(code, 'a');
  const two = codes.create({ uses: 2 });
  codes.claim(two.code, 'a');
  codes.claim(two.code, 'b');
  assert.deepEqual(codes.usableBy('c'), []);
});

it('refuses a bad life or use count, and ends codes past their life', async () => {
  const codes = new JoinCodes();
  assert.throws(() => codes.create({ ttlMs: 10 }), /ttlMs is 1 s to 7 days/);
  assert.throws(() => codes.create({ uses: 0 }), /uses is 1 to 1000/);
  codes.create({ ttlMs: 1000 });
  assert.equal(codes.usableBy('a').length, 1);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.deepEqual(codes.usableBy('a'), []);
});
