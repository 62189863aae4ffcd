// The arguments editor of RabbitMQ's forms: rows of key = value with a type, one empty row
// always at the end, and known keys as links that fill a row with the key and its type.

import { h } from '../dom.js';

const TYPES = [['string', 'String'], ['number', 'Number'], ['boolean', 'Boolean'], ['list', 'List']];

/** An editor; `known` are [{key, label, type, value?}]. `value()` throws on a bad value. */
export function argsEditor({ known = [], testid = 'args' } = {}) {
  const rows = h('div', { class: 'args-rows' });
  const el = h('div', { class: 'args', testid }, rows);
  if (known.length) {
    el.append(h('div', { class: 'arg-links' }, 'Add: ',
      known.map((k) => h('button', {
        type: 'button', class: 'arg-link', testid: `arg-${k.key}`, title: `${k.key} (${k.type})`,
        onclick: () => fill(k),
      }, k.label))));
  }

  function addRow(key = '', value = '', type = 'string') {
    const keyIn = h('input', { type: 'text', class: 'arg-key', placeholder: 'key', value: key, 'aria-label': 'Argument name', oninput: keepEmptyRow });
    const valIn = h('input', { type: 'text', class: 'arg-value', placeholder: 'value', value, 'aria-label': 'Argument value', oninput: keepEmptyRow });
    const typeSel = h('select', { class: 'arg-type', 'aria-label': 'Argument type' },
      TYPES.map(([v, label]) => h('option', { value: v, selected: v === type }, label)));
    const row = h('div', { class: 'arg-row' }, keyIn, h('span', {}, '='), valIn, typeSel,
      h('button', { type: 'button', class: 'link', title: 'Remove', onclick: () => { row.remove(); keepEmptyRow(); } }, '×'));
    rows.append(row);
    return row;
  }

  const all = () => [...rows.children].map((r) => ({
    row: r, key: r.querySelector('.arg-key'), val: r.querySelector('.arg-value'), type: r.querySelector('.arg-type'),
  }));

  function keepEmptyRow() {
    const last = all().at(-1);
    if (!last || last.key.value || last.val.value) addRow();
  }

  function fill(k) {
    let target = all().find((r) => r.key.value === k.key) || all().find((r) => !r.key.value && !r.val.value);
    if (!target) {
      addRow();
      target = all().at(-1);
    }
    target.key.value = k.key;
    if (k.value !== undefined && !target.val.value) target.val.value = k.value;
    target.type.value = k.type === 'boolean' || k.type === 'number' || k.type === 'list' ? k.type : 'string';
    keepEmptyRow();
    target.val.focus();
  }

  function value() {
    const out = {};
    for (const { key, val, type } of all()) {
      const k = key.value.trim();
      if (!k) continue;
      out[k] = typed(k, val.value, type.value);
    }
    return out;
  }

  function clear() {
    rows.replaceChildren();
    addRow();
  }

  addRow();
  return { el, value, clear, fill };
}

function typed(key, raw, type) {
  switch (type) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || Number.isNaN(n)) throw new Error(`Argument ${key}: "${raw}" is not a number`);
      return n;
    }
    case 'boolean':
      if (raw !== 'true' && raw !== 'false') throw new Error(`Argument ${key}: a boolean is true or false`);
      return raw === 'true';
    case 'list': {
      let v;
      try {
        v = JSON.parse(raw);
      } catch {
        throw new Error(`Argument ${key}: a list is written as JSON, e.g. ["a", 1]`);
      }
      if (!Array.isArray(v)) throw new Error(`Argument ${key}: a list is written as JSON, e.g. ["a", 1]`);
      return v;
    }
    default:
      return raw;
  }
}
