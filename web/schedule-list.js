// The tasks page's schedules: GET /api/schedules, each with its kind, target, when it runs (cron
// or every N), its next run and its last runs (linked to their tasks), and under them the form
// that adds one (given by the page). A primary without that route answers 404: then the section
// stays hidden and says nothing, so it shows up by itself once the primary has schedules.
// Refreshed when a scheduled task changes state, and at once when the form added a schedule.

import { ApiError, getJson } from './api.js';
import { dataTable, h, setText } from './dom.js';
import * as fmt from './format.js';
import { taskBadge, taskHref, timeEl } from './task-format.js';

const REFRESH_MIN_MS = 5000;
const LAST_RUNS_SHOWN = 5;

export class ScheduleList {
  #root;
  #tbody;
  #status;
  #available = true;
  #alive = true;
  #refreshTimer;
  #lastLoad = 0;
  #loads = 0;

  /** form: an element shown under the list (the "New schedule" form). */
  constructor({ form } = {}) {
    this.#tbody = h('tbody');
    this.#status = h('p', { class: 'muted', 'aria-live': 'polite' });
    this.#root = h(
      'section',
      { class: 'schedules', 'aria-labelledby': 'schedules-title', hidden: true },
      h('h2', { id: 'schedules-title', text: 'Schedules' }),
      dataTable('tasks schedules-table', ['Name', 'Kind', 'Target', 'When', 'Next run', 'Last runs'], this.#tbody),
      this.#status,
      form,
    );
  }

  get element() {
    return this.#root;
  }

  stop() {
    this.#alive = false;
    clearTimeout(this.#refreshTimer);
  }

  /** A task changed: when a schedule made it, its last runs changed too (refreshed at most every 5 s). */
  taskChanged(task) {
    if (!this.#available || !String(task?.submittedBy ?? '').startsWith('schedule')) return;
    if (this.#refreshTimer) return;
    const wait = Math.max(0, this.#lastLoad + REFRESH_MIN_MS - Date.now());
    this.#refreshTimer = setTimeout(() => {
      this.#refreshTimer = undefined;
      void this.load();
    }, wait);
  }

  async load() {
    this.#lastLoad = Date.now();
    const load = ++this.#loads;
    let body;
    try {
      ({ body } = await getJson('/api/schedules'));
    } catch (err) {
      if (!this.#alive || load !== this.#loads) return;
      if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
        // No schedules on this primary (yet): nothing to show, nothing to complain about.
        this.#available = false;
        this.#root.hidden = true;
        return;
      }
      this.#root.hidden = false;
      setText(this.#status, `Could not load schedules: ${err.message}`);
      return;
    }
    if (!this.#alive || load !== this.#loads) return; // a newer load answers (or answered) instead
    this.#available = true;
    this.#root.hidden = false;
    const list = Array.isArray(body?.schedules) ? body.schedules.filter((s) => s && typeof s === 'object') : [];
    this.#tbody.replaceChildren(...list.map((s) => scheduleRow(s)));
    this.#root.dataset.rows = String(list.length);
    setText(this.#status, list.length === 0 ? 'No schedules.' : '');
  }
}

function scheduleRow(s) {
  const when =
    typeof s.cron === 'string' ? `cron ${s.cron}` : Number.isFinite(s.everyMs) ? `every ${fmt.ms(s.everyMs)}` : '';
  const runs = Array.isArray(s.lastRuns) ? s.lastRuns.slice(0, LAST_RUNS_SHOWN) : [];
  return h(
    'tr',
    { dataset: { id: String(s.id ?? '') } },
    h('td', { text: String(s.name ?? s.id ?? '') }),
    h('td', { text: String(s.kind ?? '') }),
    h('td', { text: String(s.on ?? '') }),
    h('td', { class: 'mono', text: when }),
    h('td', null, Number.isFinite(s.nextRunAt) ? timeEl(s.nextRunAt) : fmt.NONE),
    h(
      'td',
      { class: 'last-runs' },
      runs.length === 0
        ? h('span', { class: 'muted', text: 'none yet' })
        : runs.map((r) =>
            h(
              'a',
              { href: taskHref(String(r?.taskId ?? '')), title: fmt.full(r?.createdAt), class: 'last-run' },
              taskBadge(r?.state),
            ),
          ),
    ),
  );
}
