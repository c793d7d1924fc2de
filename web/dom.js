// A tiny element builder. Text from the network only ever becomes text nodes or attribute values
// (never HTML): there is no innerHTML anywhere in the dashboard.

/**
 * h('a', {class: 'x', href: '#/', text: 'Nodes'}, child, 'text', ...)
 * Attributes: `class`, `text` (textContent), `dataset` (object), `on<event>` (listener); other
 * keys are set with setAttribute (null/false skip them, true sets an empty value).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = String(value);
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(typeof child === 'object' ? child : String(child)); // strings become text nodes
  }
}

/** Sets textContent only when it differs (a DOM write costs more than a string compare). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Removes every child. */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

/** Label chips `key=value`. */
export function labelChips(labels, max = Number.POSITIVE_INFINITY) {
  const entries = Object.entries(labels ?? {});
  const chips = entries.slice(0, max).map(([k, v]) => h('span', { class: 'chip', text: `${k}=${v}` }));
  if (entries.length > max) {
    const rest = entries.slice(max).map(([k, v]) => `${k}=${v}`);
    chips.push(h('span', { class: 'chip more', title: rest.join(', '), text: `+${rest.length}` }));
  }
  return chips;
}

/** A table in its scrolling wrapper: a header row of column `headings`, then `tbody`. */
export function dataTable(className, headings, tbody) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: className },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          headings.map((text) => h('th', { scope: 'col', text })),
        ),
      ),
      tbody,
    ),
  );
}

/**
 * Shows exactly `elements` in `parent`, in that order, moving only those out of place (an element
 * left where it is keeps the keyboard focus).
 */
export function placeChildren(parent, elements) {
  let cursor = parent.firstChild;
  for (const el of elements) {
    if (el === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(el, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

/** A class-name-safe token for a value from the network (states, event types). */
export function safeClass(value) {
  return String(value).replace(/[^a-z0-9-]/gi, '_');
}

/**
 * `fn` run at the next animation frame, once however often it is asked for before then (a burst of
 * stream messages is one redraw); `cancel()` when the view goes.
 */
export function frameTask(fn) {
  let frame = 0;
  return {
    request() {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        fn();
      });
    },
    cancel() {
      cancelAnimationFrame(frame);
      frame = 0;
    },
  };
}
