// Forms: a list of fields turned into labelled inputs, and a submit that runs through `act`
// so a failure shows the API's reason and a success says what happened.

import { h } from '../dom.js';
import { act } from './banner.js';
import { argsEditor } from './args.js';

/**
 * fields: [{name, label, type?, value?, options?, required?, placeholder?, help?, known?}]
 *   type: text (default), password, number, checkbox, select, textarea, file, args
 *   options (select): ['a', 'b'] or [[value, label], ...]
 * onSubmit(values, form) -> promise; `success` as for `act`; the form resets on success
 * unless `keep` is set.
 */
export function form({ testid, title, fields, submit, onSubmit, success, keep = false, inline = false }) {
  const editors = new Map();
  const button = h('button', { type: 'submit', class: 'primary', testid: `${testid}-submit` }, submit);
  const el = h('form', { class: inline ? 'form inline' : 'form', testid, novalidate: true },
    title ? h('h3', {}, title) : null,
    fields.map((f) => field(f, editors)),
    h('div', { class: 'actions' }, button));
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ok = await act(async () => onSubmit(values(el, fields, editors), el), { button, success });
    if (ok !== undefined && !keep) {
      el.reset();
      for (const ed of editors.values()) ed.clear();
    }
  });
  return el;
}

function field(f, editors) {
  const id = `f-${Math.random().toString(36).slice(2, 9)}`;
  let input;
  switch (f.type) {
    case 'args': {
      const ed = argsEditor({ known: f.known || [], testid: `field-${f.name}` });
      editors.set(f.name, ed);
      input = ed.el;
      break;
    }
    case 'select':
      input = h('select', { id, name: f.name, testid: `field-${f.name}` }, (f.options || []).map((o) => {
        const [value, label] = Array.isArray(o) ? o : [o, o];
        const opt = h('option', { value }, label);
        // defaultSelected/defaultValue, so that form.reset() goes back to them.
        opt.defaultSelected = f.value !== undefined && String(f.value) === String(value);
        return opt;
      }));
      break;
    case 'textarea':
      input = h('textarea', { id, name: f.name, testid: `field-${f.name}`, rows: f.rows || 4, placeholder: f.placeholder }, f.value || '');
      break;
    case 'checkbox':
      input = h('input', { id, type: 'checkbox', name: f.name, testid: `field-${f.name}` });
      input.defaultChecked = !!f.value;
      break;
    default:
      input = h('input', {
        id, type: f.type || 'text', name: f.name, testid: `field-${f.name}`, value: f.value ?? '',
        placeholder: f.placeholder, required: f.required, autocomplete: f.autocomplete || 'off',
        min: f.min, accept: f.accept,
      });
      if (f.type !== 'file') input.defaultValue = f.value ?? '';
  }
  return h('div', { class: `field field-${f.type || 'text'}` },
    h('label', { for: id }, f.label, f.required ? h('span', { class: 'mand', title: 'required' }, ' *') : null),
    h('div', { class: 'input' }, input, f.help ? h('div', { class: 'help' }, f.help) : null));
}

/** The form's values by field type; throws (shown in the banner) on a missing required one. */
function values(el, fields, editors) {
  const out = {};
  for (const f of fields) {
    if (f.type === 'args') {
      out[f.name] = editors.get(f.name).value();
      continue;
    }
    const input = el.elements.namedItem(f.name);
    if (f.type === 'checkbox') out[f.name] = input.checked;
    else if (f.type === 'file') out[f.name] = input.files[0] || null;
    else if (f.type === 'number') out[f.name] = input.value === '' ? undefined : Number(input.value);
    else out[f.name] = input.value;
    const empty = out[f.name] === undefined || out[f.name] === '' || out[f.name] === null;
    if (f.required && empty) throw new Error(`${f.label} is required`);
  }
  return out;
}

/** A button that runs an action, after a confirmation if `confirm` is given. */
export function actionButton({ label, testid, confirm: question, run, success, danger = false, small = false }) {
  const b = h('button', {
    type: 'button', testid, class: [danger ? 'danger' : '', small ? 'small' : ''].join(' ').trim(),
    onclick: async () => {
      if (question && !window.confirm(question)) return;
      await act(run, { button: b, success });
    },
  }, label);
  return b;
}
