import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  encodeFrame,
  FrameBatch,
  FrameDecoder,
  type Message,
  ProtocolError,
  serializeMessage,
} from '../../../src/protocol/index.js';

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Random messages of unknown types (so any payload is valid), with keys that are never forbidden. */
const arbMessage: fc.Arbitrary<Message> = fc
  .record(
    {
      t: fc.string({ minLength: 1, maxLength: 20 }).map((s) => `x-${s}`),
      id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      p: fc.jsonValue({ maxDepth: 6 }),
    },
    { requiredKeys: ['t'] },
  )
  .filter((m) => !FORBIDDEN_KEYS_IN(JSON.stringify(m)));

function FORBIDDEN_KEYS_IN(json: string): boolean {
  return [...FORBIDDEN].some((k) => json.includes(k)) || json.includes('\\u');
}

/** What the receiver should see: the message after a JSON round trip (-0 becomes 0, and so on). */
const normalize = (m: Message) => JSON.parse(JSON.stringify(m)) as Message;

function decodeInChunks(bytes: Buffer, cuts: number[]): Message[] {
  const decoder = new FrameDecoder();
  const out: Message[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(start, cut)));
    start = cut;
  }
  assert.equal(decoder.hasPartialFrame, false);
  return out;
}

function frame(body: string | Buffer, declaredLength?: number): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(declaredLength ?? bytes.length);
  return Buffer.concat([header, bytes]);
}

function expectProtocolError(input: Buffer, code: string, decoder = new FrameDecoder()): void {
  assert.throws(
    () => decoder.push(input),
    (err: unknown) => err instanceof ProtocolError && err.code === code,
    `expected ProtocolError ${code}`,
  );
}

describe('FrameDecoder', () => {
  it('gives the same messages however a multi-frame buffer is split (property)', () => {
    fc.assert(
      fc.property(fc.array(arbMessage, { minLength: 1, maxLength: 8 }), fc.array(fc.nat()), (messages, rawCuts) => {
        const bytes = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        assert.deepEqual(decodeInChunks(bytes, cuts), messages.map(normalize));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes every two-way split and byte-by-byte feeding of a fixed multi-frame buffer', () => {
    const messages: Message[] = [
      { t: 'ping', p: {} },
      { t: 'x-text', id: 7, p: { s: 'héllo 🌍 wörld', n: [1, 2.5, -3] } },
      { t: 'ack', p: { seq: 42 } },
    ];
    const bytes = Buffer.concat(messages.map((m) => encodeFrame(m)));
    for (let cut = 0; cut <= bytes.length; cut++) {
      assert.deepEqual(decodeInChunks(bytes, [cut]), messages, `split at ${cut}`);
    }
    const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
    assert.deepEqual(decodeInChunks(bytes, everyByte), messages);
  });

  it('decodes a 4-byte character split across two chunks', () => {
    const bytes = encodeFrame({ t: 'x-emoji', p: '🌍' });
    const emojiAt = bytes.indexOf(Buffer.from('🌍'));
    assert.deepEqual(decodeInChunks(bytes, [emojiAt + 2]), [{ t: 'x-emoji', p: '🌍' }]);
  });

  it('FrameBatch writes the same bytes as one encodeFrame per message', () => {
    const messages: Message[] = [{ t: 'a' }, { t: 'b', p: 'ü' }, { t: 'c', re: 3, p: [1] }];
    const batch = new FrameBatch();
    for (const m of messages) {
      const { json, bytes } = serializeMessage(m, 1024);
      batch.add(json, bytes);
    }
    assert.deepEqual(batch.take(), Buffer.concat(messages.map((m) => encodeFrame(m))));
    assert.equal(batch.bytes, 0);
  });

  describe('bad input gives a ProtocolError with its code', () => {
    it('ERR_FRAME_TOO_LARGE as soon as the header announces more than maxFrameBytes', () => {
      expectProtocolError(frame('', 1024 * 1024 + 1).subarray(0, 4), 'ERR_FRAME_TOO_LARGE');
      expectProtocolError(frame('{"t":"x-aaaa"}'), 'ERR_FRAME_TOO_LARGE', new FrameDecoder({ maxFrameBytes: 8 }));
    });
    it('ERR_INVALID_UTF8 for bytes FF FE inside a string', () => {
      expectProtocolError(
        frame(Buffer.from([...Buffer.from('{"t":"x-a","p":"'), 0xff, 0xfe, ...Buffer.from('"}')])),
        'ERR_INVALID_UTF8',
      );
    });
    it('a real U+FFFD is text; a byte-order mark is not JSON', () => {
      assert.deepEqual(new FrameDecoder().push(frame('{"t":"x-a","p":"\uFFFD"}')), [{ t: 'x-a', p: '\uFFFD' }]);
      expectProtocolError(frame(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"t":"x-a"}')])), 'ERR_INVALID_JSON');
    });
    it('ERR_INVALID_JSON', () => {
      expectProtocolError(frame('{"t":"x-a",'), 'ERR_INVALID_JSON');
      expectProtocolError(frame(''), 'ERR_INVALID_JSON');
    });
    it('ERR_TOO_DEEP for nesting of 33 and of 100,000, without a RangeError', () => {
      expectProtocolError(frame(`{"t":"x-a","p":${'['.repeat(32)}${']'.repeat(32)}}`), 'ERR_TOO_DEEP');
      expectProtocolError(frame(`{"t":"x-a","p":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 'ERR_TOO_DEEP');
      // 32 levels in all is fine; brackets inside strings do not count.
      const ok = new FrameDecoder().push(frame(`{"t":"x-a","p":${'['.repeat(31)}"[[[{{{"${']'.repeat(31)}}`));
      assert.equal(ok.length, 1);
    });
    it('ERR_INVALID_MESSAGE for a message that fails its schema', () => {
      expectProtocolError(frame('[1,2]'), 'ERR_INVALID_MESSAGE');
      expectProtocolError(frame('{"p":{}}'), 'ERR_INVALID_MESSAGE');
      expectProtocolError(frame('{"t":"x","id":1.5}'), 'ERR_INVALID_MESSAGE');
      expectProtocolError(frame('{"t":"ack","p":{"seq":-1}}'), 'ERR_INVALID_MESSAGE');
      expectProtocolError(frame(`{"t":"ack","p":{"seq":${2 ** 60}}}`), 'ERR_INVALID_MESSAGE');
    });
    it('ERR_FORBIDDEN_KEY for __proto__, constructor and prototype keys, escaped or not, and pollutes nothing', () => {
      for (const body of [
        '{"t":"x-a","p":{"__proto__":{"polluted":true}}}',
        '{"t":"x-a","__proto__":{"polluted":true}}',
        '{"t":"x-a","p":{"constructor":{"prototype":{"polluted":true}}}}',
        '{"t":"x-a","p":[{"a":{"prototype":1}}]}',
        '{"t":"x-a","p":{"\\u005f_proto__":{"polluted":true}}}',
      ]) {
        expectProtocolError(frame(body), 'ERR_FORBIDDEN_KEY');
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      // The words inside values are fine.
      assert.equal(new FrameDecoder().push(frame('{"t":"x-a","p":"constructor __proto__"}')).length, 1);
    });
    it('refuses further input after an error', () => {
      const decoder = new FrameDecoder();
      expectProtocolError(frame('nope'), 'ERR_INVALID_JSON', decoder);
      expectProtocolError(frame('{"t":"x-a"}'), 'ERR_INVALID_JSON', decoder);
    });
    it('random garbage never throws anything but ProtocolError (property)', () => {
      fc.assert(
        // Half the inputs start with a small length, so short and empty frames come up often.
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc
              .tuple(fc.nat(40), fc.uint8Array({ maxLength: 40 }))
              .map(([n, b]) => Buffer.concat([frame('', n).subarray(0, 4), b])),
          ),
          (bytes) => {
            try {
              new FrameDecoder({ maxFrameBytes: 1000 }).push(Buffer.from(bytes));
            } catch (err) {
              assert.ok(err instanceof ProtocolError, `unexpected ${String(err)}`);
            }
          },
        ),
        { numRuns: 1000 },
      );
    });
  });
});
