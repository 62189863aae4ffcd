// Building the DOM without innerHTML: every name, payload and reason from the broker is set
// as text, so nothing the API returns can run as markup.

/**
 * h('tr', {testid: 'row-q1', class: 'x', onclick: fn}, child, [children], null)
 * Attributes: `testid` becomes data-testid, `on<event>` a listener, `class`/`text`/`value`/
 * `checked`/`disabled`/`selected`/`hidden` set as properties, anything else setAttribute;
 * null/undefined/false attributes and children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'testid') el.dataset.testid = v;
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (['value', 'checked', 'disabled', 'selected', 'hidden'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, strings and numbers (as text), nested arrays; skips null/false. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A link to a console route; segments are URL-encoded. */
export function link(text, ...segments) {
  return h('a', { href: route(...segments) }, text);
}

/** '#/queues/%2F/my%20queue' from ('queues', '/', 'my queue'). */
export function route(...segments) {
  return '#/' + segments.map(encodeURIComponent).join('/');
}

/** A titled section of a page. */
export function section(title, testid, ...children) {
  return h('section', { class: 'panel', testid }, h('h2', {}, title), ...children);
}

/** A two-column table of facts: [[label, value], ...]; a null value hides the row. */
export function facts(rows, testid) {
  return h('table', { class: 'facts', testid },
    h('tbody', {}, rows.filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));
}
