// What the alerts page's rules table and rule form share: the kinds of rule, the vitals a rule can
// watch (their unit, and which side of the threshold is bad by default), the throttle flags, and a
// rule as words: its condition ("temperature above 80 °C (clear 75 °C)", "under-voltage now"), how
// long it must hold, how often it repeats. The lists follow src/alerts/rules.ts (what the primary
// accepts); a rule's fields come from the config file or the API and only ever become text.

import * as fmt from './format.js';

/** The kinds of rule (the vital ones watch a threshold; throttle: the Raspberry Pi's flags). */
export const RULE_KINDS = ['vital', 'offline', 'throttle', 'clock-skew', 'task-failed'];

/** vital → its unit ('' for none, 'B' for bytes) and the side that is bad by default. */
export const VITALS = {
  temperature: { unit: '°C', bad: 'above' },
  cpuPercent: { unit: '%', bad: 'above' },
  loadPerCore: { unit: '', bad: 'above' },
  ramAvailablePercent: { unit: '%', bad: 'below' },
  ramAvailableBytes: { unit: 'B', bad: 'below' },
  swapUsedPercent: { unit: '%', bad: 'above' },
  diskFreePercent: { unit: '%', bad: 'below' },
  diskFreeBytes: { unit: 'B', bad: 'below' },
};

/** The vitals measured per mount (a rule may watch one mount). */
export const DISK_VITALS = new Set(['diskFreePercent', 'diskFreeBytes']);

export const THROTTLE_FLAGS = ['under-voltage', 'freq-capped', 'throttled', 'soft-temp-limit'];

/** A vital's value with its unit: "80 °C", "10 %", "1.0 GiB". */
function valueText(vital, value) {
  const unit = VITALS[vital]?.unit ?? '';
  if (unit === 'B') return fmt.bytes(value);
  return unit ? `${value} ${unit}` : String(value);
}

/** The rule's condition in words: "temperature above 80 °C (clear 75 °C)", "offline", "under-voltage now". */
export function conditionText(rule) {
  switch (rule.kind) {
    case 'vital': {
      const value = (n) => valueText(rule.vital, n);
      const parts = [`${rule.vital} ${rule.op} ${value(rule.threshold)}`];
      if (typeof rule.clear === 'number' && rule.clear !== rule.threshold) parts.push(`(clear ${value(rule.clear)})`);
      if (rule.mount) parts.push(`on ${rule.mount}`);
      return parts.join(' ');
    }
    case 'offline':
      return 'offline';
    case 'throttle':
      return `${rule.flag} ${rule.when === 'since-boot' ? 'since boot' : 'now'}`;
    case 'clock-skew': {
      const clear = typeof rule.clear === 'number' && rule.clear !== rule.threshold ? ` (clear ${rule.clear} ms)` : '';
      return `clock off by ${rule.threshold} ms or more${clear}`;
    }
    case 'task-failed':
      return rule.task ? `task ${rule.task} failed` : 'any task failed';
    default:
      return String(rule.kind ?? '');
  }
}

/** How long the condition must hold before the alert fires: "5 min", "at once". */
export function forText(rule) {
  return rule.forMs === 0 ? 'at once' : fmt.ms(rule.forMs);
}

/** How often a firing alert is sent again: "4 h", "never". */
export function repeatText(rule) {
  return rule.repeatMs === 0 ? 'never' : fmt.ms(rule.repeatMs);
}

/** The channels a rule sends to: "hook, phone", or "all". */
export function channelsText(rule) {
  return Array.isArray(rule.channels) && rule.channels.length > 0 ? rule.channels.join(', ') : 'all';
}
