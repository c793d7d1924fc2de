// `picluster migrate-config rpicluster.cfg`: turns the original Python cluster's INI file
// (LEGACY-PROTOCOL.md, "The original config file") into picluster's TOML config, so the old
// settings carry over. Keys it does not know are reported on stderr, never dropped silently.
//
// The INI is read by hand, as Python's configparser (which wrote and read these files) reads it:
// `=` or `:` separators, `#`/`;` comment lines, indented continuation lines, case-insensitive
// keys, a [DEFAULT] section, `%(key)s` interpolation. npm's `ini` differs on each of these (and
// its current major needs Node 22), so it would misread files the original read fine.

import { readFileSync, writeFileSync } from 'node:fs';

export interface IniValue {
  value: string;
  /** 1-based line of the key, for messages. */
  line: number;
}

export interface IniFile {
  /** Section name → key (lowercased) → value; [DEFAULT] keys are merged into every section. */
  sections: Map<string, Map<string, IniValue>>;
  warnings: string[];
}

/** Parses INI text the way Python's configparser.ConfigParser() does, for the subset such files use. */
export function parseIni(text: string): IniFile {
  const sections = new Map<string, Map<string, IniValue>>();
  const defaults = new Map<string, IniValue>();
  const warnings: string[] = [];
  let current: Map<string, IniValue> | undefined;
  let last: IniValue | undefined;
  const lines = text.split(/\r?\n|\r/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      if (trimmed === '') last = undefined;
      return;
    }
    if (/^\s/.test(raw) && last) {
      last.value += `\n${trimmed}`; // a continuation line
      return;
    }
    const header = /^\[([^\]]+)\]$/.exec(trimmed);
    if (header) {
      const name = header[1] as string;
      if (name === 'DEFAULT') current = defaults;
      else {
        if (sections.has(name)) warnings.push(`line ${line}: section [${name}] appears twice; its keys are merged`);
        current = sections.get(name) ?? new Map();
        sections.set(name, current);
      }
      last = undefined;
      return;
    }
    const separator = trimmed.search(/[=:]/);
    if (separator <= 0) {
      warnings.push(`line ${line}: not "key = value", ignored: ${trimmed}`);
      return;
    }
    if (!current) {
      warnings.push(`line ${line}: key outside any [section], ignored: ${trimmed}`);
      return;
    }
    const key = trimmed.slice(0, separator).trim().toLowerCase();
    if (current.has(key)) warnings.push(`line ${line}: key ${key} appears twice in its section; the last one is used`);
    last = { value: trimmed.slice(separator + 1).trim(), line };
    current.set(key, last);
  });
  for (const section of sections.values()) {
    for (const [key, value] of defaults) if (!section.has(key)) section.set(key, value);
    for (const value of section.values()) value.value = interpolate(value.value, section, warnings, value.line);
  }
  return { sections, warnings };
}

/** configparser's BasicInterpolation: `%(key)s` from the same section, `%%` for a percent sign. */
function interpolate(value: string, section: Map<string, IniValue>, warnings: string[], line: number): string {
  return value.replace(/%(%|\(([^)]+)\)s)/g, (match, _all: string, key: string | undefined) => {
    if (key === undefined) return '%';
    const found = section.get(key.toLowerCase());
    if (found === undefined) warnings.push(`line ${line}: ${match} names no key of its section; kept as written`);
    return found?.value ?? match;
  });
}

/** The keys of rpicluster.cfg picluster understands, per section. */
const KNOWN_KEYS: Record<string, readonly string[]> = {
  node_config: ['node_type'],
  primary: ['socket_port', 'socket_bind_ip', 'influxdb_host', 'influxdb_port', 'influxdb_database_prefix'],
  secondary: ['socket_port', 'primary_ip'],
  webserver: ['webserver_port', 'webserver_host'],
};

export interface Migration {
  /** picluster's TOML config. */
  toml: string;
  /** One line each: keys not carried over, values that could not be. */
  warnings: string[];
}

/** Turns the text of an rpicluster.cfg into picluster's TOML config. `source` names the file in comments. */
export function migrateConfig(text: string, source = 'rpicluster.cfg'): Migration {
  const { sections, warnings } = parseIni(text);
  const get = (section: string, key: string) => sections.get(section)?.get(key);
  for (const [name, keys] of sections) {
    const known = KNOWN_KEYS[name];
    if (!Object.hasOwn(KNOWN_KEYS, name) || known === undefined) {
      warnings.push(`section [${name}] is unknown to picluster; not carried over: ${[...keys.keys()].join(', ')}`);
      continue;
    }
    for (const [key, { line }] of keys) {
      if (!known.includes(key))
        warnings.push(`line ${line}: [${name}] ${key} is unknown to picluster; not carried over`);
    }
  }
  const port = (section: string, key: string): number | undefined => {
    const found = get(section, key);
    if (found === undefined) return undefined;
    const n = /^\d+$/.test(found.value) ? Number(found.value) : Number.NaN;
    if (n >= 1 && n <= 65535) return n;
    warnings.push(`line ${found.line}: [${section}] ${key} = ${found.value} is not a port; not carried over`);
    return undefined;
  };

  const top: string[] = [];
  const influx: string[] = [];
  const nodeType = get('node_config', 'node_type');
  if (nodeType !== undefined) {
    top.push(
      nodeType.value === 'raspberrypi'
        ? '# node_type = raspberrypi: nothing to set; picluster reads the Pi temperature and throttling by itself.'
        : `# node_type = ${oneLine(nodeType.value)}: nothing to set; picluster reports a temperature wherever the machine has one.`,
    );
  }
  const primaryPort = port('primary', 'socket_port');
  if (primaryPort !== undefined) top.push(`port = ${primaryPort}`);
  const bind = get('primary', 'socket_bind_ip');
  if (bind !== undefined) {
    top.push(
      bind.value === '' ? 'bind = "0.0.0.0" # socket_bind_ip was empty: all interfaces' : `bind = ${str(bind.value)}`,
    );
  }
  const webPort = port('webserver', 'webserver_port');
  if (webPort !== undefined) top.push(`webPort = ${webPort}`);
  const webHost = get('webserver', 'webserver_host');
  if (webHost?.value === '')
    warnings.push(`line ${webHost.line}: [webserver] webserver_host is empty; not carried over`);
  else if (webHost !== undefined) {
    top.push(`webBind = ${str(webHost.value === 'localhost' ? '127.0.0.1' : webHost.value)}`);
  }
  const primaryIp = get('secondary', 'primary_ip');
  if (primaryIp !== undefined && primaryIp.value !== '') {
    const host = primaryIp.value.includes(':') ? `[${primaryIp.value}]` : primaryIp.value;
    const secondaryPort = port('secondary', 'socket_port');
    top.push(`primary = [${str(secondaryPort === undefined ? host : `${host}:${secondaryPort}`)}]`);
  }
  const influxHost = get('primary', 'influxdb_host');
  if (influxHost !== undefined && influxHost.value !== '') {
    const influxPort = port('primary', 'influxdb_port') ?? 8086;
    const host = influxHost.value.includes(':') ? `[${influxHost.value}]` : influxHost.value;
    influx.push(`url = ${str(`http://${host}:${influxPort}`)}`, 'layout = "legacy"');
    const prefix = get('primary', 'influxdb_database_prefix');
    if (prefix !== undefined) influx.push(`legacyPrefix = ${str(prefix.value)}`);
  } else if (get('primary', 'influxdb_port') || get('primary', 'influxdb_database_prefix')) {
    warnings.push(
      '[primary] influxdb_port or influxdb_database_prefix without influxdb_host: no InfluxDB carried over',
    );
  }

  if (sections.has('primary')) {
    top.push("legacy = true # accept the original cluster's nodes on the cluster port until all have moved");
  }
  const out = [`# picluster configuration, migrated from ${oneLine(source)} by picluster migrate-config.`, ...top];
  if (influx.length > 0) out.push('', '[influx]', ...influx);
  return { toml: `${out.join('\n')}\n`, warnings };
}

/** A TOML basic string (JSON's escapes are all valid TOML escapes). */
function str(text: string): string {
  return JSON.stringify(text);
}

/** Text safe inside a TOML comment. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

export interface MigrateOptions {
  out?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** The command: returns the exit code (0, or 2 when a file cannot be read or written). */
export function runMigrateConfig(file: string, options: MigrateOptions = {}): number {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    stderr.write(`picluster: cannot read ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  const { toml, warnings } = migrateConfig(text, file);
  for (const warning of warnings) stderr.write(`picluster: warning: ${file}: ${warning}\n`);
  if (options.out === undefined) {
    stdout.write(toml);
    return 0;
  }
  try {
    // 'wx': an existing config is never overwritten by accident.
    writeFileSync(options.out, toml, { flag: 'wx' });
  } catch (err) {
    stderr.write(`picluster: cannot write ${options.out}: ${(err as Error).message}\n`);
    return 2;
  }
  stderr.write(`picluster: wrote ${options.out}; start the primary with: picluster primary --config ${options.out}\n`);
  return 0;
}
