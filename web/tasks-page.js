// The tasks page (#/tasks, #/tasks/ID, with ?node=ID&state=S): the form that runs a task, the
// task open in detail, the history, and the schedules (with the form that adds one). It routes the
// stream's `task` and `task-output` messages to its parts, and loads everything again after a
// reconnect (what the stream missed). Choosing another task changes only the detail: the form
// keeps what was typed.

import { h } from './dom.js';
import { ScheduleForm } from './schedule-form.js';
import { ScheduleList } from './schedule-list.js';
import { TaskDetail } from './task-detail.js';
import { TaskForm } from './task-form.js';
import { TaskHistory } from './task-history.js';

export class TasksPage {
  #model;
  #root;
  #form;
  #detail;
  #history;
  #schedules;
  #node;
  #state;
  /** The form opened the task it submitted: focus stays in the form, for the next one. */
  #fromForm = false;
  #unsubscribe = [];

  /** route: {id?, node?, state?} from the URL. */
  constructor(model, route) {
    this.#model = model;
    this.#node = route.node || '';
    this.#state = route.state || '';
    this.#form = new TaskForm({ onSubmitted: (task) => this.#onSubmitted(task) });
    this.#detail = new TaskDetail(model, {
      onRunAgain: (task) => {
        this.#form.fill(task);
        this.#form.element.scrollIntoView({ block: 'nearest' });
      },
    });
    this.#history = new TaskHistory(model, {
      node: this.#node,
      state: this.#state,
      onFilter: ({ state }) => {
        this.#state = state;
        history.replaceState(null, '', this.#hash(this.#detail.id));
      },
    });
    const scheduleForm = new ScheduleForm({ onCreated: () => void this.#schedules.load() });
    this.#schedules = new ScheduleList({ form: scheduleForm.element });
    this.#root = h(
      'section',
      { class: 'page tasks-page' },
      h('h1', { tabindex: '-1', text: 'Tasks' }),
      h('div', { class: 'tasks-top' }, this.#form.element, this.#detail.element),
      this.#history.element,
      this.#schedules.element,
    );
    this.#select(route.id);
  }

  get element() {
    return this.#root;
  }

  mount() {
    document.title = 'Tasks · picluster';
    this.#unsubscribe.push(
      this.#model.onTask((task) => {
        this.#history.addLive(task);
        this.#schedules.taskChanged(task);
      }),
      this.#model.subscribe((ids, kind) => {
        if (ids === null) {
          // Resynced after a reconnect (or the first snapshot): fill the gap.
          void this.#history.load();
          void this.#detail.reload();
        }
        if (kind === 'vitals') return; // names and the fleet change only with node messages
        this.#form.setNodes(this.#model.nodes.values());
        this.#history.refresh();
        this.#detail.refresh();
      }),
    );
    this.#form.setNodes(this.#model.nodes.values());
    this.#detail.mount();
    void this.#history.load();
    void this.#schedules.load();
  }

  unmount() {
    for (const off of this.#unsubscribe) off();
    this.#detail.unmount();
    this.#history.stop();
    this.#schedules.stop();
  }

  /**
   * The URL changed within the tasks page. Another task (or none) opens in place, the filters kept
   * (links to a task carry no filters: the URL gets them back); the same task with other filters
   * (an edited URL, "Show all tasks") returns false: the page is built again.
   */
  route(r) {
    const id = r.id || undefined;
    if (id === this.#detail.id) return (r.node || '') === this.#node && (r.state || '') === this.#state;
    this.#select(id);
    history.replaceState(null, '', this.#hash(id));
    if (id) {
      this.#detail.element.scrollIntoView({ block: 'nearest' });
      if (!this.#fromForm) this.#detail.heading.focus({ preventScroll: true });
    }
    this.#fromForm = false;
    return true;
  }

  #select(id) {
    this.#detail.show(id || undefined);
    this.#history.select(id || undefined);
  }

  #onSubmitted(task) {
    this.#history.addLive(task);
    this.#fromForm = true;
    location.hash = this.#hash(task.id);
  }

  #hash(id) {
    const q = new URLSearchParams();
    if (this.#node) q.set('node', this.#node);
    if (this.#state) q.set('state', this.#state);
    const query = q.toString();
    return `#/tasks${id ? `/${encodeURIComponent(id)}` : ''}${query ? `?${query}` : ''}`;
  }
}
