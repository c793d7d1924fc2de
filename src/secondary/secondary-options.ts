// The options of a Secondary (src/secondary/secondary.ts), its states, events and plugins; the
// CLI fills the options from the settings table (src/cli/settings.ts).

import type { Logger } from '../common/logger.js';
import type { ReconnectOptions } from '../connection/backoff.js';
import type { Connection } from '../connection/connection.js';
import type { VitalsSource } from '../node/vitals-reader.js';
import type { DisconnectionError, PiclusterError } from '../protocol/errors.js';
import type { InfoPayload, Message, VitalsPayload } from '../protocol/messages.js';
import type { PrimaryAddress } from './primary-address.js';
import type { SecondaryTlsOptions } from './primary-trust.js';
import type { Secondary } from './secondary.js';

export interface SecondaryOptions {
  /** Primaries to try in turn: `[{host, port}]` or "host:port,host:port". */
  primary: PrimaryAddress[] | string;
  /** Node id, secrets and outbox live here. Default ./data. */
  dataDir?: string;
  /** Display name. Default the hostname. */
  name?: string;
  labels?: Record<string, string>;
  /** Cluster token for the first join (later joins use the node secret). */
  token?: string;
  /** Heartbeat until the primary announces its own in `hello`, ms. Default 5000. */
  heartbeatIntervalMs?: number;
  handshakeTimeoutMs?: number;
  /** Period of vitals samples, ms. Default 10000. */
  vitalsPeriodMs?: number;
  reconnect?: Partial<ReconnectOptions>;
  outboxMaxSamples?: number;
  /** How long `stop()` waits for the outbox to be acknowledged, ms. Default 2000. */
  stopTimeoutMs?: number;
  version?: string;
  logger?: Logger;
  /** Where samples come from (tests inject fakes). Default: a VitalsReader on this machine. */
  vitals?: VitalsSource;
  /** Machine info (default: read from this machine). */
  machineInfo?: () => Promise<InfoPayload>;
  /**
   * TLS to the primary (the default): whom to trust (a pinned fingerprint, a CA, or the first
   * certificate seen) and this node's own certificate for mutual TLS. With none of the three the
   * node refuses every primary. `false`: plaintext, for a primary run with `--no-tls`.
   */
  tls?: SecondaryTlsOptions | false;
  /** This node's wall clock, epoch ms (default Date.now; tests make it run ahead). */
  wallClock?: () => number;
  /** This machine's id (default: /etc/machine-id). */
  machineId?: () => Promise<string | undefined>;
}

export type SecondaryState = 'idle' | 'connecting' | 'online' | 'backoff' | 'stopping' | 'stopped';

export interface SecondaryEvents {
  state: [state: SecondaryState];
  /** Authenticated and registered. */
  online: [info: { nodeId: string; primaryId: string; address: string }];
  /** The link went down (the agent reconnects by itself). */
  offline: [error: DisconnectionError];
  /** The primary refused this node's credentials. */
  authFailed: [error: PiclusterError];
  /** A one-way message the agent does not handle itself. */
  message: [message: Message, connection: Connection];
  /** The primary acknowledged samples up to `seq` as stored. */
  ack: [seq: number];
  /** A sample was taken and put in the outbox. */
  sample: [sample: VitalsPayload];
}

/** Extends a secondary with custom behaviour: request handlers, message listeners, timers. */
export interface SecondaryPlugin {
  name: string;
  setup(secondary: Secondary): (() => void) | undefined;
}
