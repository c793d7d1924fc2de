// Alert channels as configured (`[alerts.channels.NAME]`): a generic webhook (a JSON POST signed
// with HMAC-SHA256), an ntfy-compatible publish, and mail over SMTP. Secrets come from the config
// or a file and never appear in logs or API answers: a channel shows only its type and its host.

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import { readBodyHead } from '../common/http-body.js';
import { ConfigError } from '../protocol/errors.js';
import type { AlertMessage } from './message.js';
import type { QuietHoursInput } from './quiet-hours.js';

export interface Channel {
  readonly name: string;
  readonly type: 'webhook' | 'ntfy' | 'smtp';
  /** Where it sends, without secrets: a URL's origin, an SMTP host and port. */
  readonly target: string;
  /** Resolves once the receiver accepted the message; rejects with why not. */
  send(message: AlertMessage, signal: AbortSignal): Promise<void>;
  close(): void;
}

const Str = (max = 2048) => Type.String({ minLength: 1, maxLength: max });

export const ChannelInput = Type.Object(
  {
    type: Type.Union([Type.Literal('webhook'), Type.Literal('ntfy'), Type.Literal('smtp')]),
    url: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2048 })),
    secret: Type.Optional(Str(512)),
    secretFile: Type.Optional(Str()),
    topic: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
    priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 5 })),
    tags: Type.Optional(Type.Array(Str(64), { maxItems: 16 })),
    token: Type.Optional(Str(512)),
    tokenFile: Type.Optional(Str()),
    host: Type.Optional(Str(253)),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    tls: Type.Optional(Type.Union([Type.Literal('starttls'), Type.Literal('tls'), Type.Literal('none')])),
    caFile: Type.Optional(Str()),
    user: Type.Optional(Str(256)),
    password: Type.Optional(Str(512)),
    passwordFile: Type.Optional(Str()),
    from: Type.Optional(Str(256)),
    to: Type.Optional(Type.Array(Str(256), { minItems: 1, maxItems: 32 })),
    quietHours: Type.Optional(
      Type.Object(
        {
          from: Str(8),
          to: Str(8),
          timeZone: Type.Optional(Str(64)),
          allowCritical: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    retryMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600_000 })),
    maxQueue: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
let checkChannelCompiled: ReturnType<typeof Compile<typeof ChannelInput>> | undefined;
/** Compiled at first use: a secondary loads this module with its config and never checks one. */
const checkChannel = () => (checkChannelCompiled ??= Compile(ChannelInput));

export interface ChannelConfig {
  type: 'webhook' | 'ntfy' | 'smtp';
  url?: string;
  secret?: string;
  secretFile?: string;
  topic?: string;
  priority?: number;
  tags?: string[];
  token?: string;
  tokenFile?: string;
  host?: string;
  port?: number;
  tls?: 'starttls' | 'tls' | 'none';
  caFile?: string;
  user?: string;
  password?: string;
  passwordFile?: string;
  from?: string;
  to?: string[];
  quietHours?: QuietHoursInput;
  retries?: number;
  retryMs?: number;
  maxQueue?: number;
  timeoutMs?: number;
}

export const CHANNEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Checks a channel's settings, reading its secret files now (a missing file fails at start, not
 * at the first alert).
 * @throws ConfigError naming the channel and what is wrong
 */
export function channelConfigOf(name: string, given: unknown): ChannelConfig {
  const what = `alert channel "${name.slice(0, 64)}"`;
  if (!CHANNEL_NAME.test(name)) throw new ConfigError(`${what}: a name is letters, digits, ".", "_" and "-"`);
  if (!checkChannel().Check(given)) {
    const issue = checkChannel().Errors(given)[0];
    throw new ConfigError(`${what}: ${issue?.instancePath || '/'} ${issue?.message ?? 'is not a channel'}`);
  }
  const c = { ...(given as ChannelConfig) };
  const fromFile = (value: string | undefined, file: string | undefined, key: string): string | undefined => {
    if (value !== undefined && file !== undefined)
      throw new ConfigError(`${what}: give ${key} or ${key}File, not both`);
    if (file === undefined) return value;
    try {
      const text = readFileSync(file, 'utf8').trim();
      if (text === '') throw new ConfigError(`${what}: ${key}File ${file} is empty`);
      return text;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`${what}: cannot read ${key}File ${file}: ${(err as Error).message}`);
    }
  };
  c.secret = fromFile(c.secret, c.secretFile, 'secret');
  c.token = fromFile(c.token, c.tokenFile, 'token');
  c.password = fromFile(c.password, c.passwordFile, 'password');
  // Sent in an Authorization header: a character a header may not hold (a line break inside a
  // token file) would fail every send with an error that quotes the header, token and all.
  if (c.token !== undefined && !HEADER_VALUE.test(c.token)) {
    throw new ConfigError(`${what}: the token holds a character an HTTP header cannot carry (a line break?)`);
  }
  const need = (key: keyof ChannelConfig) => {
    if (c[key] === undefined) throw new ConfigError(`${what}: a ${c.type} channel needs "${key}"`);
  };
  if (c.type === 'webhook') need('url');
  if (c.type === 'ntfy') {
    need('url');
    need('topic');
  }
  if (c.url !== undefined) {
    let url: URL;
    try {
      url = new URL(c.url);
    } catch {
      // Not the URL itself: its path may hold a token (a Slack-style webhook).
      throw new ConfigError(`${what}: url is not a valid URL`);
    }
    if (url.username || url.password) {
      throw new ConfigError(`${what}: url must not carry a user or password (use secret or token)`);
    }
  }
  if (c.type === 'smtp') {
    need('host');
    need('from');
    need('to');
    if (c.user !== undefined) need('password');
    if (c.caFile !== undefined) {
      try {
        readFileSync(c.caFile);
      } catch (err) {
        throw new ConfigError(`${what}: cannot read caFile ${c.caFile}: ${(err as Error).message}`);
      }
    }
  }
  return c;
}

/** The JSON body of a webhook (README, "Alerts"): version 1. */
export function webhookBody(message: AlertMessage): string {
  const { type, title, text, severity, alerts, sentAt } = message;
  return JSON.stringify({ version: 1, type, title, text, severity, sentAt, alerts });
}

/** `sha256=` and the hex HMAC-SHA256 of the body under the channel's secret. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** An error's text without URLs past their origin (a path or query may hold a token). */
export function scrubbed(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s'"<>]+/gi, (u) => {
    try {
      return new URL(u).origin;
    } catch {
      return '(a URL)';
    }
  });
}

/** What HTTP lets a header value hold (RFC 9110: visible ASCII, space, tab, obs-text), as fetch checks it. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** How much of an answer is read: enough to quote an error, never a receiver's whole body. */
export const MAX_ANSWER_BYTES = 4096;

async function post(url: string, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
  const answer = await fetch(url, { method: 'POST', body, headers, signal, redirect: 'error' });
  const { text } = await readBodyHead(answer, MAX_ANSWER_BYTES).catch(() => ({ text: '' }));
  if (!answer.ok) throw new Error(`HTTP ${answer.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

function webhook(name: string, c: ChannelConfig): Channel {
  const url = c.url as string;
  return {
    name,
    type: 'webhook',
    target: new URL(url).origin,
    send(message, signal) {
      const body = webhookBody(message);
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'picluster',
        'X-Picluster-Event': message.type,
      };
      if (c.secret) headers['X-Picluster-Signature'] = signatureOf(c.secret, body);
      return post(url, body, headers, signal);
    },
    close() {},
  };
}

/** ntfy priorities: 5 urgent (critical, firing), 4 high (firing), 3 default (resolved, digest, test). */
function ntfy(name: string, c: ChannelConfig): Channel {
  const url = (c.url as string).replace(/\/+$/, '');
  return {
    name,
    type: 'ntfy',
    target: new URL(url).origin,
    send(message, signal) {
      const firing = message.type === 'firing' || message.type === 'repeat';
      const priority = c.priority ?? (firing ? (message.severity === 'critical' ? 5 : 4) : 3);
      const icon = message.type === 'resolved' ? 'white_check_mark' : firing ? 'rotating_light' : 'bell';
      // ntfy's JSON publish (POST to the root URL): UTF-8 titles without header encoding.
      const body = JSON.stringify({
        topic: c.topic,
        title: message.title,
        message: message.text,
        priority,
        tags: [icon, ...(c.tags ?? [])],
      });
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'picluster' };
      if (c.token) headers.Authorization = `Bearer ${c.token}`;
      return post(url, body, headers, signal);
    },
    close() {},
  };
}

function smtp(name: string, c: ChannelConfig): Channel {
  const mode = c.tls ?? 'starttls';
  const port = c.port ?? (mode === 'tls' ? 465 : 587);
  const timeoutMs = c.timeoutMs ?? 10_000;
  let transport: import('nodemailer').Transporter | undefined;
  return {
    name,
    type: 'smtp',
    target: `${c.host}:${port}`,
    async send(message, signal) {
      if (!transport) {
        // Loaded at the first mail: a primary without a mail channel never carries it.
        const { default: nodemailer } = await import('nodemailer');
        transport = nodemailer.createTransport({
          host: c.host,
          port,
          secure: mode === 'tls',
          requireTLS: mode === 'starttls',
          ignoreTLS: mode === 'none',
          auth: c.user ? { user: c.user, pass: c.password as string } : undefined,
          tls: c.caFile ? { ca: readFileSync(c.caFile, 'utf8') } : undefined,
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        });
      }
      // The signal ends a try cut off by its timeout (no second mail from a slow first one).
      await transport.sendMail({ from: c.from, to: c.to, subject: message.title, text: message.text, signal });
    },
    close() {
      transport?.close();
    },
  };
}

export function channelOf(name: string, c: ChannelConfig): Channel {
  if (c.type === 'webhook') return webhook(name, c);
  if (c.type === 'ntfy') return ntfy(name, c);
  return smtp(name, c);
}
