// A signal for one try: aborted after a timeout or when a longer-lived signal (a stop) aborts.
// Not `AbortSignal.any([halt, AbortSignal.timeout(ms)])`: on Node 20 the timeout signal inside
// the composite is held only weakly, so a garbage collection before it fires means it never fires
// (nodejs/node#57736: a hung try then hangs forever), and every composite stays listed on the
// long-lived source (nodejs/node#55351).

export interface Deadline {
  readonly signal: AbortSignal;
  /** Stops the timer and lets go of `halt`; call when the try has ended. */
  clear(): void;
}

/** Aborts with `timeoutReason()` after `ms`, or with `halt`'s reason when `halt` aborts first. */
export function deadline(ms: number, timeoutReason: () => Error, halt?: AbortSignal): Deadline {
  const controller = new AbortController();
  const onHalt = () => controller.abort(halt?.reason);
  const timer = setTimeout(() => controller.abort(timeoutReason()), ms);
  if (halt?.aborted) onHalt();
  else halt?.addEventListener('abort', onHalt, { once: true });
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      halt?.removeEventListener('abort', onHalt);
    },
  };
}
