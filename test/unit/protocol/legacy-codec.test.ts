// The legacy codec on its own: "\r"-ended JSON decoded however the bytes are cut into reads, the
// native limits (size, UTF-8, JSON, depth, forbidden keys) and the mapping of legacy payloads.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/protocol/errors.js';
import {
  encodeLegacyMessage,
  isLegacyUuid,
  LegacyDecoder,
  type LegacyMessage,
  parseLegacyBaseInfo,
  parseLegacyVitals,
  toLegacyBaseInfo,
} from '../../../src/protocol/legacy-codec.js';
import { legacyMessage } from '../../fixtures/legacy-node.js';

/** A session's worth of messages, one with a "\r" and non-ASCII inside a string. */
const SESSION: LegacyMessage[] = [
  { type: 'info', payload: 'uuid' },
  { type: 'node_baseinfo', payload: { hostname: 'pi-ä', ram: 1024, cpu: 'ARM\r"quoted"' } },
  { type: 'info', payload: 'node_baseinfo' },
  { type: 'vitals', payload: { cpu_percentage: 1.5, ram_free: 1, swap_free: 0 } },
  { type: 'message', payload: 'I am still alive, client: 0123456789abcdef0123456789abcdef' },
];
const BYTES = Buffer.concat(SESSION.map((m) => legacyMessage(m.type, m.payload)));

function decodeInChunks(bytes: Buffer, cuts: number[], decoder = new LegacyDecoder()): LegacyMessage[] {
  const out: LegacyMessage[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(start, cut)));
    start = cut;
  }
  assert.equal(decoder.hasPartialMessage, false);
  return out;
}

function expectProtocolError(input: Buffer, code: string, decoder = new LegacyDecoder()): void {
  assert.throws(
    () => decoder.push(input),
    (err: unknown) => err instanceof ProtocolError && err.code === code,
    `expected ProtocolError ${code}`,
  );
}

describe('LegacyDecoder', () => {
  it('decodes several messages from one read', () => {
    assert.deepEqual(new LegacyDecoder().push(BYTES), SESSION);
  });

  it('decodes the same messages whatever single point the bytes are split at', () => {
    for (let cut = 0; cut <= BYTES.length; cut++) {
      assert.deepEqual(decodeInChunks(BYTES, [cut]), SESSION, `split at ${cut}`);
    }
  });

  it('decodes the same messages when every byte arrives in its own read', () => {
    const cuts = Array.from({ length: BYTES.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(decodeInChunks(BYTES, cuts), SESSION);
  });

  it('decodes the same messages for any set of cuts (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: BYTES.length }), { maxLength: 30 }), (cuts) => {
        assert.deepEqual(
          decodeInChunks(
            BYTES,
            cuts.sort((a, b) => a - b),
          ),
          SESSION,
        );
      }),
    );
  });

  it('holds an unfinished message until its "\\r" arrives', () => {
    const decoder = new LegacyDecoder();
    const one = legacyMessage('info', 'uuid');
    assert.deepEqual(decoder.push(one.subarray(0, 10)), []);
    assert.equal(decoder.hasPartialMessage, true);
    assert.equal(decoder.bufferedBytes, 10);
    assert.deepEqual(decoder.push(one.subarray(10)), [{ type: 'info', payload: 'uuid' }]);
    assert.equal(decoder.bufferedBytes, 0);
  });

  it('skips blank lines and takes a "\\n" after the "\\r" as whitespace', () => {
    const bytes = Buffer.from('\r\r  \r{"type": "info", "payload": "uuid"}\r\n{"type": "message"}\r\n');
    assert.deepEqual(new LegacyDecoder().push(bytes), [
      { type: 'info', payload: 'uuid' },
      { type: 'message', payload: null },
    ]);
  });

  it('encodes what it decodes', () => {
    const bytes = encodeLegacyMessage('secondary_details', { a: { uuid: 'a', address: '127.0.0.1:1' } });
    assert.equal(bytes.at(-1), 0x0d);
    assert.deepEqual(new LegacyDecoder().push(bytes), [
      { type: 'secondary_details', payload: { a: { uuid: 'a', address: '127.0.0.1:1' } } },
    ]);
  });

  describe('limits', () => {
    it('fails a line without "\\r" as soon as it passes maxMessageBytes, holding no more than that', () => {
      const decoder = new LegacyDecoder({ maxMessageBytes: 1000 });
      const chunk = Buffer.alloc(300, 0x61);
      chunk[0] = 0x7b;
      for (let i = 0; i < 3; i++) decoder.push(chunk);
      assert.equal(decoder.bufferedBytes, 900);
      expectProtocolError(chunk, 'ERR_FRAME_TOO_LARGE', decoder);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('fails a huge read without "\\r" at once, without copying it', () => {
      expectProtocolError(Buffer.alloc(5 * 1024 * 1024, 0x7b), 'ERR_FRAME_TOO_LARGE');
    });

    it('fails a terminated message longer than maxMessageBytes, and accepts one of exactly that size', () => {
      const message = legacyMessage('message', 'x'.repeat(100));
      const size = message.length - 1;
      assert.equal(new LegacyDecoder({ maxMessageBytes: size }).push(message).length, 1);
      expectProtocolError(message, 'ERR_FRAME_TOO_LARGE', new LegacyDecoder({ maxMessageBytes: size - 1 }));
    });

    it('refuses all input after a failure', () => {
      const decoder = new LegacyDecoder();
      expectProtocolError(Buffer.from('{nope\r'), 'ERR_INVALID_JSON', decoder);
      expectProtocolError(legacyMessage('info', 'uuid'), 'ERR_INVALID_JSON', decoder);
    });
  });

  describe('garbage', () => {
    const cases: Array<[string, Buffer, string]> = [
      ['invalid JSON', Buffer.from('{"type": "info", \r'), 'ERR_INVALID_JSON'],
      ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0d]), 'ERR_INVALID_UTF8'],
      [
        'JSON nested 33 deep',
        Buffer.from(`{"type": "x", "payload": ${'['.repeat(32)}${']'.repeat(32)}}\r`),
        'ERR_TOO_DEEP',
      ],
      ['a __proto__ key', Buffer.from('{"type": "vitals", "payload": {"__proto__": {"a": 1}}}\r'), 'ERR_FORBIDDEN_KEY'],
      [
        'a constructor key spelled with \\u',
        Buffer.from('{"type": "x", "\\u0063onstructor": 1}\r'),
        'ERR_FORBIDDEN_KEY',
      ],
      ['an array', Buffer.from('[1, 2]\r'), 'ERR_INVALID_MESSAGE'],
      ['no type', Buffer.from('{"payload": "uuid"}\r'), 'ERR_INVALID_MESSAGE'],
      ['a number as type', Buffer.from('{"type": 7, "payload": "uuid"}\r'), 'ERR_INVALID_MESSAGE'],
      [
        'an HTTP request after a valid message',
        Buffer.from('{"type": "info"}\rGET / HTTP/1.1\r\n\r\n'),
        'ERR_INVALID_JSON',
      ],
    ];
    for (const [what, bytes, code] of cases) {
      it(`fails ${what} with ${code}`, () => expectProtocolError(bytes, code));
    }
  });
});

describe('legacy payloads', () => {
  it('maps node_baseinfo to picluster names, leaving out what it lacks', () => {
    assert.deepEqual(
      parseLegacyBaseInfo({
        hostname: 'pi-1',
        ram: 4_044_734_464,
        swap: 104_853_504,
        cpu: 'ARMv7 Processor rev 3 (v7l)',
        cpu_cores: 4,
        cpu_frequency_max: 1500.0,
        cpu_frequency_min: 600.0,
      }),
      {
        hostname: 'pi-1',
        ramTotalBytes: 4_044_734_464,
        swapTotalBytes: 104_853_504,
        cpuModel: 'ARMv7 Processor rev 3 (v7l)',
        cpuCores: 4,
        cpuMaxMhz: 1500,
        cpuMinMhz: 600,
      },
    );
    // psutil's None (no cpufreq in a VM) and platform.processor()'s "" are "not known": absent.
    assert.deepEqual(parseLegacyBaseInfo({ hostname: 'vm', cpu: '', cpu_frequency_max: null, ram: 1 }), {
      hostname: 'vm',
      ramTotalBytes: 1,
    });
  });

  it('maps vitals to picluster names; no temperature stays absent', () => {
    assert.deepEqual(
      parseLegacyVitals({
        cpu_percentage: 12.5,
        cpu_frequency: 1500.0,
        ram_free: 123,
        swap_free: 0,
        cpu_temperature: 47.2,
      }),
      { cpuPercent: 12.5, cpuMhz: 1500, ramAvailableBytes: 123, swapFreeBytes: 0, tempC: 47.2 },
    );
    const plain = parseLegacyVitals({ cpu_percentage: 0, cpu_frequency: 800, ram_free: 1, swap_free: 2 });
    assert.deepEqual(plain, { cpuPercent: 0, cpuMhz: 800, ramAvailableBytes: 1, swapFreeBytes: 2 });
    assert.equal('load1' in plain || 'uptimeS' in plain || 'tempC' in plain, false);
  });

  it('rejects payloads of the wrong shape with ERR_INVALID_MESSAGE', () => {
    const bad: unknown[] = [
      'uuid',
      { ram: 1 },
      { hostname: '' },
      { hostname: 'x', ram: -1 },
      { hostname: 'x', ram: 1.5 },
      { hostname: 'x', cpu_cores: '4' },
    ];
    for (const payload of bad) {
      assert.throws(
        () => parseLegacyBaseInfo(payload),
        (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_INVALID_MESSAGE',
      );
    }
    for (const payload of [
      null,
      {},
      { cpu_percentage: 'high', ram_free: 1, swap_free: 1 },
      { cpu_percentage: 101, ram_free: 1, swap_free: 1 },
    ]) {
      assert.throws(
        () => parseLegacyVitals(payload),
        (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_INVALID_MESSAGE',
      );
    }
  });

  it("writes picluster's machine info back in the legacy keys, without the fields it lacks", () => {
    assert.deepEqual(
      toLegacyBaseInfo({
        hostname: 'primary',
        ramTotalBytes: 8,
        swapTotalBytes: 0,
        cpuModel: 'x',
        cpuCores: 2,
        cpuMaxMhz: 3000,
      }),
      { hostname: 'primary', ram: 8, swap: 0, cpu: 'x', cpu_cores: 2, cpu_frequency_max: 3000 },
    );
  });

  it('knows a legacy uuid when it sees one', () => {
    assert.equal(isLegacyUuid('0123456789abcdef0123456789abcdef'), true);
    assert.equal(isLegacyUuid('0123456789abcdef-0123456789abcde'), false);
    assert.equal(isLegacyUuid('0123456789ABCDEF0123456789ABCDEF'), false);
  });
});
