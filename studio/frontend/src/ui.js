// Small DOM helpers: elements, dialogs, messages, formatting.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function clear(element) {
  while (element.firstChild) element.firstChild.remove();
  return element;
}

let flashTimer = null;
export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  clear(box).append(h("div", { class: `flash ${kind}` }, message));
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => clear(box), kind === "error" ? 12000 : 5000);
}

export function errorText(error) {
  if (!error) return "";
  const errors = (error.details && error.details.errors) || [];
  const more = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
  return more ? `${error.message} (${more})` : error.message;
}

// A modal <dialog>; resolves with the value of the button pressed (or null on Escape).
export function dialog({ title, body, buttons }) {
  return new Promise((resolve) => {
    const form = h("form", { method: "dialog" });
    const box = h("dialog", { class: "modal", "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title", text: title }), body, form);
    for (const button of buttons) {
      form.append(h("button", { value: button.value, class: button.class || "",
        type: "submit" }, button.label));
    }
    box.addEventListener("close", () => { box.remove(); resolve(box.returnValue || null); });
    document.body.append(box);
    box.showModal();
    const first = form.querySelector("button.primary, button.danger") || form.querySelector("button");
    if (first) first.focus();
  });
}

export async function confirmAction(title, message, label, kind = "danger") {
  const answer = await dialog({ title, body: h("p", {}, message), buttons: [
    { value: "cancel", label: "Keep it" }, { value: "ok", label, class: kind },
  ] });
  return answer === "ok";
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

export function jsonBlock(value, label) {
  return h("pre", { class: "json", "aria-label": label || null }, value === undefined ? "" : pretty(value));
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { hour12: false });
}

export function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  if (seconds === 0) return "just now";
  const abs = Math.abs(seconds);
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min`
    : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return seconds >= 0 ? `in ${text}` : `${text} ago`;
}

export function badge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
