// A user-tags input with RabbitMQ's clickable tag names beside it.

import { h } from '../dom.js';
import { USER_TAGS } from '../known-args.js';

/** Buttons that add a tag to the form's `tags` input. */
export function tagPicker(formEl) {
  const input = formEl.elements.namedItem('tags');
  const add = (tag) => {
    const tags = input.value.split(',').map((t) => t.trim()).filter(Boolean);
    if (!tags.includes(tag)) tags.push(tag);
    input.value = tags.join(', ');
  };
  input.after(h('div', { class: 'arg-links' }, 'Set: ',
    USER_TAGS.map((t) => h('button', { type: 'button', class: 'arg-link', testid: `tag-${t}`, onclick: () => add(t) }, t)),
    h('button', { type: 'button', class: 'arg-link', testid: 'tag-none', onclick: () => { input.value = ''; } }, 'none')));
  return formEl;
}

/** A user's tags as text (the API lists them; older answers had a comma-separated string). */
export function tagList(u) {
  return (Array.isArray(u.tags) ? u.tags : String(u.tags || '').split(',')).filter(Boolean).join(', ');
}
