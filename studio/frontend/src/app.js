// Weft Studio: a small router over the page's <main>; every view talks to the REST API.
import { Api } from "./api.js";
import { clear, errorText, flash, h } from "./ui.js";
import { renderInstanceList, renderInstance } from "./monitor.js";
import { renderDefinitionList } from "./definitions.js";
import { renderDesigner } from "./designer.js";
import { renderDiff } from "./diff.js";
import { renderOperations } from "./operations.js";

const ROLES = ["viewer", "operator", "editor", "admin"];
const TENANT_KEY = "weft-studio-tenant";

const root = document.getElementById("studio");
const main = document.getElementById("view");
const base = root.dataset.base; // "/studio/"
const api = new Api({ base: root.dataset.api, csrf: root.dataset.csrf });

const ctx = {
  api, base, me: null, role: "viewer",
  can(role) { return ROLES.indexOf(ctx.role) >= ROLES.indexOf(role); },
  // A view with unsaved work sets this; leaving it asks first.
  leaveGuard: null,
  go(path, { replace = false } = {}) {
    if (!mayLeave()) return;
    const url = base + path.replace(/^\//, "");
    if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
    route();
  },
  link(path, text, attrs = {}) {
    return h("a", { href: base + path.replace(/^\//, ""), "data-link": "", ...attrs }, text);
  },
};

let cleanup = null;
let currentUrl = window.location.pathname + window.location.search;

function mayLeave() {
  if (ctx.leaveGuard && ctx.leaveGuard()) {
    return window.confirm("You have unsaved changes. Leave this page and lose them?");
  }
  return true;
}

function routeFor(path) {
  const parts = path.split("/").filter(Boolean);
  if (parts.length === 0 || (parts[0] === "instances" && parts.length === 1)) {
    return ["instances", () => renderInstanceList(ctx, main)];
  }
  if (parts[0] === "instances") return ["instances", () => renderInstance(ctx, main, parts[1])];
  if (parts[0] === "definitions" && parts.length === 1) {
    return ["definitions", () => renderDefinitionList(ctx, main)];
  }
  if (parts[0] === "definitions" && parts[2] === "diff") {
    return ["definitions", () => renderDiff(ctx, main, decodeURIComponent(parts[1]))];
  }
  if (parts[0] === "definitions") {
    return ["definitions", () => renderDesigner(ctx, main, parts[1] === "new" ? null : decodeURIComponent(parts[1]))];
  }
  if (parts[0] === "operations") return ["operations", () => renderOperations(ctx, main)];
  return [null, () => { clear(main).append(h("p", {}, "Nothing here.")); }];
}

async function route() {
  ctx.leaveGuard = null;
  currentUrl = window.location.pathname + window.location.search;
  if (cleanup) { try { cleanup(); } catch { /* a view that is gone */ } cleanup = null; }
  const path = window.location.pathname.slice(base.length);
  const [section, render] = routeFor(path);
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(main).append(h("p", { class: "muted" }, "Loading…"));
  try {
    cleanup = (await render()) || null;
  } catch (error) {
    clear(main).append(h("p", { class: "error", role: "alert" }, errorText(error)));
  }
}

function applyRole() {
  const membership = ctx.me.tenants.find((t) => t.tenant === api.tenant);
  ctx.role = membership ? membership.role : "viewer";
  document.body.dataset.role = ctx.role;
  document.getElementById("role-badge").textContent = ctx.role;
}

async function start() {
  try {
    ctx.me = await api.get("/me/");
  } catch (error) {
    clear(main).append(h("p", { class: "error" }, errorText(error)));
    return;
  }
  const select = document.getElementById("tenant-switch");
  const tenants = ctx.me.tenants;
  if (!tenants.length) {
    clear(main).append(h("p", { class: "error", role: "alert" },
      "You are not a member of any tenant yet: ask an admin to add you."));
    return;
  }
  for (const t of tenants) select.append(h("option", { value: t.tenant }, `${t.tenant_name || t.tenant} (${t.role})`));
  const saved = window.localStorage.getItem(TENANT_KEY);
  api.tenant = tenants.some((t) => t.tenant === saved) ? saved : tenants[0].tenant;
  select.value = api.tenant;
  select.addEventListener("change", () => {
    if (!mayLeave()) { select.value = api.tenant; return; }
    api.tenant = select.value;
    window.localStorage.setItem(TENANT_KEY, api.tenant);
    applyRole();
    flash(`Switched to tenant ${api.tenant}.`);
    route();
  });
  applyRole();
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-link], nav a[data-nav]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    if (!mayLeave()) return;
    history.pushState(null, "", link.getAttribute("href"));
    route();
  });
  window.addEventListener("popstate", () => {
    if (!mayLeave()) { history.pushState(null, "", currentUrl); return; }
    route();
  });
  route();
}

start();
