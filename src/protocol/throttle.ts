// The names of a Raspberry Pi's throttling flags, as vitals carry them (`throttled: {now,
// sinceBoot}`) and /metrics labels them. Its own module: the reader on the node and the metrics on
// the primary share the names without loading the message schemas.

/** Names of bits 0–3 (now) and 16–19 (since boot) of the firmware's throttled word. */
export const THROTTLE_FLAG_NAMES = ['under-voltage', 'freq-capped', 'throttled', 'soft-temp-limit'] as const;
