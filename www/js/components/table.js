// Lists. `pagedTable` asks the API for one page at a time: filtering (`name`, `use_regex`),
// sorting (`sort`, `sort_reverse`) and paging happen on the server, and `columns` asks only
// for the fields the table shows, so a list of 10,000 queues costs one page of rows.
// `staticTable` shows a short list the page already has (bindings, consumers).

import { api, qs } from '../api.js';
import { h, replace, section } from '../dom.js';
import { num as fmt } from '../format.js';
import { showError } from './banner.js';

const PAGE_SIZES = [20, 50, 100, 200, 500];
/** Paging, filter and sort of each list, kept while the tab lives so "back" finds them. */
const remembered = new Map();

/** The value at a dotted path: get(row, 'message_stats.publish_details'). */
export function get(row, path) {
  return path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), row);
}

function cell(col, row) {
  const v = col.render ? col.render(row) : get(row, col.key);
  return h('td', { class: col.class }, v ?? '');
}

/** The API's columns for a table: each column's `fields` (its key by default). */
function columnsParam(columns, always) {
  const fields = new Set(always);
  for (const c of columns) for (const f of c.fields || [c.key]) fields.add(f);
  return [...fields].join(',');
}

/**
 * A server-paged list.
 *   testid   the table's data-testid (rows are `row-<rowKey(row)>`)
 *   path     () => API path of the list, e.g. '/queues/%2F'
 *   columns  [{key, label, sort?: field or false, fields?: [...], render?: row => node}]
 *   rowKey   row => the name in the row's testid (default row.name)
 *   always   fields fetched for every row (default name, vhost)
 */
export function pagedTable({ testid, path, columns, rowKey = (r) => r.name, always = ['name', 'vhost'], sort = '', empty = 'Nothing here yet.' }) {
  const state = remembered.get(testid) || { page: 1, size: 100, name: '', regex: false, sort, reverse: false };
  remembered.set(testid, state);
  let seq = 0;

  const filter = h('input', {
    type: 'search', testid: 'filter', placeholder: 'Filter by name', value: state.name, 'aria-label': 'Filter by name',
    oninput: debounce(() => { state.name = filter.value; state.page = 1; load(); }, 250),
  });
  const regex = h('input', {
    type: 'checkbox', testid: 'filter-regex', checked: state.regex,
    onchange: () => { state.regex = regex.checked; state.page = 1; load(); },
  });
  const size = h('select', {
    testid: 'page-size', 'aria-label': 'Page size',
    onchange: () => { state.size = Number(size.value); state.page = 1; load(); },
  }, PAGE_SIZES.map((n) => h('option', { value: n, selected: n === state.size }, `${n} per page`)));
  const counts = h('span', { class: 'counts', testid: 'counts' });
  const prev = h('button', { type: 'button', class: 'small', testid: 'page-prev', onclick: () => go(state.page - 1) }, '‹ Prev');
  const next = h('button', { type: 'button', class: 'small', testid: 'page-next', onclick: () => go(state.page + 1) }, 'Next ›');
  const pageSel = h('select', { testid: 'page-select', 'aria-label': 'Page', onchange: () => go(Number(pageSel.value)) });
  const pageInfo = h('span', { class: 'page-info', testid: 'page-info' });

  const heads = columns.map((c) => {
    const field = c.sort === undefined ? c.key : c.sort;
    if (!field) return h('th', { class: c.class }, c.label);
    const btn = h('button', { type: 'button', class: 'sort', testid: `sort-${c.key}`, onclick: () => sortBy(field) }, c.label);
    return h('th', { class: c.class, 'data-sort': field }, btn);
  });
  const tbody = h('tbody');
  const table = h('table', { class: 'list', testid, 'data-state': 'loading' }, h('thead', {}, h('tr', {}, heads)), tbody);
  const el = h('div', { class: 'list-wrap' },
    h('div', { class: 'toolbar' },
      h('label', { class: 'filter' }, filter),
      h('label', { class: 'check' }, regex, ' Regex'),
      size,
      h('span', { class: 'spacer' }),
      counts),
    h('div', { class: 'scroll' }, table),
    h('div', { class: 'pager', testid: 'pager' }, prev, pageInfo, pageSel, next));

  function sortBy(field) {
    if (state.sort === field) state.reverse = !state.reverse;
    else { state.sort = field; state.reverse = false; }
    state.page = 1;
    load();
  }

  function go(page) {
    state.page = Math.max(1, page);
    load();
  }

  function showSort() {
    for (const th of heads) {
      const on = th.dataset.sort && th.dataset.sort === state.sort;
      th.setAttribute('aria-sort', on ? (state.reverse ? 'descending' : 'ascending') : 'none');
    }
  }

  async function load() {
    const mine = ++seq;
    const started = performance.now();
    table.dataset.state = 'loading';
    const query = qs({
      page: state.page, page_size: state.size, name: state.name, use_regex: state.regex || undefined,
      sort: state.sort, sort_reverse: state.sort && state.reverse ? 'true' : undefined,
      columns: columnsParam(columns, always),
    });
    let res;
    try {
      res = await api('GET', path() + query);
    } catch (e) {
      if (mine !== seq) return;
      if (e.error === 'page_out_of_range' && state.page > 1) return go(1);
      table.dataset.state = 'error';
      showError(e);
      return;
    }
    if (mine !== seq) return;
    render(res);
    table.dataset.state = 'ready';
    table.dataset.renderMs = String(Math.round(performance.now() - started));
  }

  function render(res) {
    const items = res.items || [];
    replace(tbody, items.length
      ? items.map((row) => h('tr', { testid: `row-${rowKey(row)}` }, columns.map((c) => cell(c, row))))
      : h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, state.name ? 'No matches.' : empty)));
    const filtered = res.filtered_count ?? items.length;
    const total = res.total_count ?? items.length;
    const first = items.length ? (res.page - 1) * res.page_size + 1 : 0;
    counts.textContent = `${first ? `${fmt(first)}–${fmt(first + items.length - 1)} of ` : ''}${fmt(filtered)}`
      + (filtered !== total ? ` matching (${fmt(total)} in all)` : ` in all`);
    const pages = Math.max(1, res.page_count || 1);
    pageInfo.textContent = `Page ${fmt(res.page || 1)} of ${fmt(pages)}`;
    // A select of every page would be 10,000 options for 1,000,000 rows; near pages only.
    const around = [...new Set([1, ...range(state.page - 5, state.page + 5), pages])].filter((n) => n >= 1 && n <= pages);
    replace(pageSel, around.map((n) => h('option', { value: n, selected: n === state.page }, `page ${fmt(n)}`)));
    prev.disabled = state.page <= 1;
    next.disabled = state.page >= pages;
    showSort();
  }

  return { el, refresh: load, state };
}

/** A list the page already holds. */
export function staticTable({ testid, columns, rows, rowKey = (r) => r.name, empty = 'None.' }) {
  return h('table', { class: 'list', testid },
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class }, c.label)))),
    h('tbody', {}, rows.length
      ? rows.map((r) => h('tr', { testid: `row-${rowKey(r)}` }, columns.map((c) => cell(c, r))))
      : h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, empty))));
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

function debounce(fn, ms) {
  let t = null;
  return () => { clearTimeout(t); t = setTimeout(fn, ms); };
}

/** Shows a list page's heading and list, loads it, and refreshes it while the page is up. */
export async function showList(ctx, { title, heading, testid, list, refresh = list.refresh }) {
  ctx.root.append(h('h1', {}, title), section(heading, testid, list.el));
  await refresh();
  ctx.every(refresh);
}
