// The in-place receive path of FrameDecoder (issue 16) against a plain reference decoder: frames
// read straight out of a chunk, frames split at every byte offset, a header split from its body,
// zero-length and bad frames among good ones. The reference joins all bytes first and checks
// depth by a flat scan before JSON.parse, as the decoder did before it read frames in place.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameDecoder, type Message, ProtocolError } from '../../../src/protocol/index.js';
import { validateMessage } from '../../../src/protocol/messages.js';
import { referenceParseJson } from '../../helpers/reference-json.js';

const MAX_FRAME_BYTES = 200;

function frame(body: string | Buffer, declaredLength?: number): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(4);
  header.writeUInt32BE(declaredLength ?? bytes.length);
  return Buffer.concat([header, bytes]);
}

/** The checks of a frame body, in the order and with the words of the decoder before issue 16. */
function referenceDecodeBody(body: Buffer, maxDepth = 32): Message {
  const lenient = body.toString('utf8');
  let text = lenient;
  if (lenient.includes('\uFFFD')) {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
    } catch (err) {
      throw new ProtocolError('ERR_INVALID_UTF8', 'frame is not valid UTF-8', { cause: err });
    }
  }
  return validateMessage(referenceParseJson(text, maxDepth));
}

interface Outcome {
  /** Each message with the offset of the byte that completes its frame. */
  messages: { message: Message; end: number }[];
  /** The first bad frame: its error and the offset of the byte that reveals it. */
  error?: { err: ProtocolError; at: number };
  /** Offset where the unfinished frame starts (= input length when none is). */
  partialStart: number;
}

/** The reference: all bytes at once, frame after frame. */
function referenceDecode(bytes: Buffer, maxFrameBytes: number): Outcome {
  const messages: Outcome['messages'] = [];
  let offset = 0;
  while (bytes.length - offset >= 4) {
    const length = bytes.readUInt32BE(offset);
    if (length > maxFrameBytes) {
      const err = new ProtocolError(
        'ERR_FRAME_TOO_LARGE',
        `frame of ${length} bytes exceeds maxFrameBytes ${maxFrameBytes}`,
      );
      return { messages, error: { err, at: offset + 4 }, partialStart: offset };
    }
    const end = offset + 4 + length;
    if (end > bytes.length) break;
    try {
      messages.push({ message: referenceDecodeBody(bytes.subarray(offset + 4, end)), end });
    } catch (err) {
      return { messages, error: { err: err as ProtocolError, at: end }, partialStart: offset };
    }
    offset = end;
  }
  return { messages, partialStart: offset };
}

/** Feeds `bytes` cut at `cuts` and checks every push, and the state after it, against the reference. */
function checkAgainstReference(bytes: Buffer, cuts: number[], maxFrameBytes = MAX_FRAME_BYTES): void {
  const expected = referenceDecode(bytes, maxFrameBytes);
  const decoder = new FrameDecoder({ maxFrameBytes });
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    const chunk = bytes.subarray(start, cut);
    const completed = expected.messages.filter((m) => m.end > start && m.end <= cut).map((m) => m.message);
    if (expected.error !== undefined && expected.error.at <= cut) {
      const { err } = expected.error;
      const check = (e: unknown) =>
        e instanceof ProtocolError && e.code === err.code && e.message === err.message && e.name === err.name;
      assert.throws(() => decoder.push(chunk), check, `push of bytes ${start}..${cut}: expected ${err.message}`);
      // Refuses all further input, and holds nothing.
      assert.throws(() => decoder.push(Buffer.from(frame('{"t":"x-a"}'))), check);
      assert.equal(decoder.hasPartialFrame, false);
      assert.equal(decoder.bufferedBytes, 0);
      return;
    }
    assert.deepEqual(decoder.push(chunk), completed, `push of bytes ${start}..${cut}`);
    // What is held: the header bytes of the unfinished frame, else the body bytes read of it.
    const lastEnd = Math.max(0, ...expected.messages.filter((m) => m.end <= cut).map((m) => m.end));
    const held = cut - lastEnd;
    assert.equal(decoder.bufferedBytes, held < 4 ? held : held - 4, `held after byte ${cut}`);
    assert.equal(decoder.hasPartialFrame, held > 0, `partial after byte ${cut}`);
    start = cut;
  }
  assert.equal(expected.error, undefined);
}

const goodBodies = [
  '{"t":"ping","p":{}}',
  '{"t":"x-text","id":7,"p":{"s":"héllo 🌍 wörld","n":[1,2.5,-3]}}',
  '{"t":"ack","p":{"seq":42}}',
  '{"t":"x-a","p":"\uFFFD real"}',
  `{"t":"x-deep","p":${'['.repeat(31)}"[[[{{{"${']'.repeat(31)}}`,
  '{"t":"x-a","p":"constructor __proto__ prototype \\u0041"}',
  `{"t":"x-long","p":"${'x'.repeat(180)}"}`,
];

const badBodies: (string | Buffer)[] = [
  '',
  'nope',
  '{"t":"x-a",',
  Buffer.from([...Buffer.from('{"t":"x-a","p":"'), 0xff, 0xfe, ...Buffer.from('"}')]),
  Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"t":"x-a"}')]),
  `{"t":"x-a","p":${'['.repeat(33)}${']'.repeat(33)}}`,
  `{"t":"x-a","p":${'['.repeat(40)}`,
  `{"t":"x-a","__proto__":{"a":1},"p":${'['.repeat(40)}${']'.repeat(40)}}`,
  '{"t":"x-a","p":{"__proto__":{"polluted":true}}}',
  '{"t":"x-a","p":[{"a":{"prototype":1}}],"constructor":2}',
  '{"t":"x-a","p":{"\\u005f_proto__":1}}',
  '{"t":"x-a","id":1.5}',
  '[1,2]',
];

/** A frame of one of the bodies above, or a header announcing a frame over the limit. */
const arbFrame = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...goodBodies).map((b) => frame(b)) },
  { weight: 1, arbitrary: fc.constantFrom(...badBodies).map((b) => frame(b)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: MAX_FRAME_BYTES + 1, max: 2 ** 32 - 1 }).map((n) => frame('', n)),
  },
);

describe('FrameDecoder, frames read in place', () => {
  it('agrees with a reference decoder however good and bad frames are cut into chunks (property)', () => {
    fc.assert(
      fc.property(fc.array(arbFrame, { minLength: 1, maxLength: 10 }), fc.array(fc.nat()), (frames, rawCuts) => {
        const bytes = Buffer.concat(frames);
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        checkAgainstReference(bytes, cuts);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with the reference on a stream cut into many small chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.array(arbFrame, { minLength: 1, maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }),
        (frames, sizes) => {
          const bytes = Buffer.concat(frames);
          const cuts: number[] = [];
          for (let at = 0, i = 0; ; i++) {
            at += sizes[i % sizes.length] as number;
            if (at >= bytes.length) break;
            cuts.push(at);
          }
          checkAgainstReference(bytes, cuts);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('decodes whole frames and one split frame in the same chunk, at every split point and every pair of them', () => {
    const bytes = Buffer.concat(goodBodies.slice(0, 4).map((b) => frame(b)));
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) checkAgainstReference(bytes, [i, j]);
    }
  });

  it('refuses a bad frame at every split point, after delivering the frames before it', () => {
    for (const bad of badBodies) {
      const bytes = Buffer.concat([frame(goodBodies[0] as string), frame(goodBodies[1] as string), frame(bad)]);
      for (let i = 0; i <= bytes.length; i++) checkAgainstReference(bytes, [i]);
    }
    const tooLarge = Buffer.concat([frame(goodBodies[2] as string), frame('', MAX_FRAME_BYTES + 1)]);
    for (let i = 0; i <= tooLarge.length; i++) {
      for (let j = i; j <= tooLarge.length; j++) checkAgainstReference(tooLarge, [i, j]);
    }
  });

  it('refuses a zero-length frame with ERR_INVALID_JSON wherever it is cut', () => {
    const bytes = Buffer.concat([frame('{"t":"ack","p":{"seq":1}}'), frame('')]);
    for (let i = 0; i <= bytes.length; i++) checkAgainstReference(bytes, [i]);
    assert.throws(
      () => new FrameDecoder().push(frame('')),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_INVALID_JSON',
    );
  });

  it('takes a frame of exactly maxFrameBytes and refuses one byte more, header split or not', () => {
    const body = `{"t":"x-a","p":"${'y'.repeat(MAX_FRAME_BYTES - 18)}"}`;
    assert.equal(Buffer.byteLength(body), MAX_FRAME_BYTES);
    for (let i = 0; i <= 8; i++) checkAgainstReference(frame(body), [i]);
    const over = frame(`${body} `);
    for (let i = 0; i <= 8; i++) checkAgainstReference(over, [i]);
  });

  it('follows a change of maxFrameBytes between chunks', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1000 });
    const big = frame(`{"t":"x-a","p":"${'z'.repeat(100)}"}`);
    assert.equal(decoder.push(big.subarray(0, 2)).length, 0);
    decoder.maxFrameBytes = 50;
    assert.throws(
      () => decoder.push(big.subarray(2)),
      (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_FRAME_TOO_LARGE',
    );
  });

  it('does not keep a copy of a chunk: a frame read in place is parsed before push returns', () => {
    const chunk = Buffer.concat([frame('{"t":"ack","p":{"seq":1}}'), frame('{"t":"ack","p":{"seq":2}}')]);
    const decoder = new FrameDecoder();
    const messages = decoder.push(chunk);
    chunk.fill(0);
    assert.deepEqual(messages, [
      { t: 'ack', p: { seq: 1 } },
      { t: 'ack', p: { seq: 2 } },
    ]);
    assert.equal(decoder.hasPartialFrame, false);
  });
});
