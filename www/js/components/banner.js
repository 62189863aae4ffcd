// The error banner (data-testid="error") and the notice line: every failed action shows the
// API's reason here, and every completed one says what it did.

import { h, replace } from '../dom.js';

const banner = () => document.getElementById('banner');
const notice = () => document.getElementById('notice');
let noticeTimer = null;
let noticeShownAt = 0;

export function showError(err) {
  const el = banner();
  const text = err instanceof Error ? err.message : String(err);
  replace(el, h('span', { class: 'banner-text', testid: 'error-text' }, text),
    h('button', { class: 'link', testid: 'error-close', onclick: clearMessages, 'aria-label': 'Dismiss' }, '×'));
  el.hidden = false;
  notice().hidden = true;
}

export function showNotice(text) {
  const el = notice();
  el.textContent = text;
  el.hidden = false;
  noticeShownAt = Date.now();
  banner().hidden = true;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 6000);
}

/** On moving to another page: the error goes, and a notice unless the move was its action's. */
export function clearStale() {
  banner().hidden = true;
  if (Date.now() - noticeShownAt > 1000) notice().hidden = true;
}

export function clearMessages() {
  banner().hidden = true;
  notice().hidden = true;
}

/**
 * Runs an action: clears old messages, disables `button` while it runs, shows the API's
 * error if it fails (and returns undefined) or `success` (a string or a function of the
 * result) if it works.
 */
export async function act(fn, { button, success } = {}) {
  clearMessages();
  if (button) button.disabled = true;
  try {
    const result = await fn();
    const msg = typeof success === 'function' ? success(result) : success;
    if (msg) showNotice(msg);
    return result ?? true;
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
