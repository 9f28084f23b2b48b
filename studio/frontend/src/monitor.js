// Monitor: the instance list (filters, counts, live) and one instance (graph, waits, records).
import { drawDefinition, statusesFromExecutions, applyStatuses } from "./graph.js";
import {
  badge, clear, confirmAction, errorText, flash, h, jsonBlock, relative, when,
} from "./ui.js";

const STATUSES = ["pending", "running", "suspended", "finished", "cancelled", "faulted"];
const ACTIVE = new Set(["pending", "running", "suspended"]);
const POLL_MS = 2000;
const PAGE_SIZE = 25;

function poller(fn) {
  let busy = false;
  let stopped = false;
  const tick = async () => {
    if (busy || stopped || document.hidden) return;
    busy = true;
    try { await fn(); } catch { /* shown by the next successful refresh */ } finally { busy = false; }
  };
  const timer = setInterval(tick, POLL_MS);
  return () => { stopped = true; clearInterval(timer); };
}

// ---- the instance list ------------------------------------------------------------------

export async function renderInstanceList(ctx, main) {
  const params = new URLSearchParams(window.location.search);
  const filters = {
    status: params.get("status") || "", definition_id: params.get("definition_id") || "",
    version: params.get("version") || "", correlation_id: params.get("correlation_id") || "",
    created_after: params.get("created_after") || "", created_before: params.get("created_before") || "",
  };
  // Keyset pages: the cursor of this page (from the last page's `next` or `previous`) and its
  // number, for the "26–50 of N" label.
  let cursor = params.get("cursor") || "";
  let pageNo = Math.max(1, Number(params.get("page") || 1));
  const firstPage = () => { cursor = ""; pageNo = 1; };
  const cursorOf = (url) => (url ? new URL(url, window.location.href).searchParams.get("cursor") || "" : "");

  const field = (name, label, attrs = {}) => h("label", { class: "field" }, label,
    h("input", { name, value: filters[name], ...attrs }));
  const statusSelect = h("select", { name: "status", id: "filter-status" },
    h("option", { value: "" }, "any"), STATUSES.map((s) => h("option", { value: s }, s)));
  statusSelect.value = filters.status;
  const form = h("form", { class: "filters", "aria-label": "Filter instances" },
    h("label", { class: "field", for: "filter-status" }, "Status", statusSelect),
    field("definition_id", "Definition"), field("version", "Version", { type: "number", min: 1 }),
    field("correlation_id", "Correlation id"),
    field("created_after", "Created after", { type: "datetime-local" }),
    field("created_before", "Created before", { type: "datetime-local" }),
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h("button", { type: "reset" }, "Clear"));
  const counts = h("div", { class: "counts", role: "group", "aria-label": "Instances by status" });
  const table = h("table", { class: "list", "aria-label": "Instances" });
  const pager = h("div", { class: "pager" });
  const live = h("span", { class: "muted live", "aria-live": "off" });
  clear(main).append(
    h("div", { class: "page-head" }, h("h1", {}, "Instances"), live), form, counts, table, pager);

  function query() {
    const q = {};
    for (const [key, value] of Object.entries(filters)) {
      if (!value) continue;
      q[key] = key.startsWith("created_") ? new Date(value).toISOString() : value;
    }
    return q;
  }

  function syncUrl() {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(filters)) if (value) search.set(key, value);
    if (cursor) { search.set("cursor", cursor); search.set("page", pageNo); }
    const text = search.toString();
    history.replaceState(null, "", window.location.pathname + (text ? `?${text}` : ""));
  }

  async function refresh() {
    const q = query();
    const { status, ...countQuery } = q;
    const [page, summary] = await Promise.all([
      ctx.api.get("/instances/", { ...q, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) }),
      ctx.api.get("/instances/counts/", countQuery),
    ]);
    // Above 1,000 a status's count is the database's estimate (listed in `approximate`).
    const approx = summary.approximate || [];
    clear(counts);
    counts.append(h("button", { type: "button", class: `count ${filters.status ? "" : "active"}`,
      onclick: () => { filters.status = ""; statusSelect.value = ""; firstPage(); syncUrl(); refresh(); } },
    `all ${approx.length ? "~" : ""}${summary.total}`));
    for (const s of STATUSES) {
      counts.append(h("button", { type: "button", class: `count status-${s} ${filters.status === s ? "active" : ""}`,
        "data-status": s, "aria-pressed": String(filters.status === s),
        onclick: () => { filters.status = s; statusSelect.value = s; firstPage(); syncUrl(); refresh(); } },
      `${s} `, h("span", { class: "n", title: approx.includes(s) ? "an estimate" : null },
        `${approx.includes(s) ? "~" : ""}${summary.counts[s]}`)));
    }
    clear(table).append(h("thead", {}, h("tr", {},
      ["Instance", "Definition", "Status", "Correlation id", "Created", "Updated"].map((t) => h("th", { scope: "col" }, t)))));
    const body = h("tbody");
    for (const instance of page.results) {
      body.append(h("tr", { "data-instance": instance.id },
        h("td", {}, ctx.link(`instances/${instance.id}`, instance.id.slice(0, 8), { title: instance.id })),
        h("td", {}, `${instance.definition_id} v${instance.version}`),
        h("td", {}, badge(instance.status)),
        h("td", {}, instance.correlation_id || ""),
        h("td", {}, when(instance.created_at)),
        h("td", {}, when(instance.updated_at))));
    }
    if (!page.results.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No instances match.")));
    table.append(body);
    // The list has no count (it pages by cursor); the status counts give the total.
    const total = filters.status ? summary.counts[filters.status] : summary.total;
    const start = (pageNo - 1) * PAGE_SIZE;
    const shown = page.results.length;
    clear(pager).append(
      h("button", { type: "button", disabled: !page.previous,
        onclick: () => {
          cursor = cursorOf(page.previous); pageNo = Math.max(1, pageNo - 1);
          if (pageNo === 1 && !cursor) firstPage();
          syncUrl(); refresh();
        } }, "Previous"),
      h("span", { class: "muted" }, shown ? `${start + 1}–${start + shown} of ${approx.length ? "about " : ""}${Math.max(total, start + shown)}` : "0"),
      h("button", { type: "button", disabled: !page.next,
        onclick: () => { cursor = cursorOf(page.next); pageNo += 1; syncUrl(); refresh(); } }, "Next"));
    live.textContent = `Live · updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const key of Object.keys(filters)) filters[key] = (data.get(key) || "").toString().trim();
    firstPage();
    syncUrl();
    refresh().catch((error) => flash(errorText(error), "error"));
  });
  form.addEventListener("reset", () => {
    for (const key of Object.keys(filters)) filters[key] = "";
    firstPage();
    syncUrl();
    setTimeout(() => refresh().catch((error) => flash(errorText(error), "error")));
  });
  await refresh();
  return poller(refresh);
}

// ---- one instance ------------------------------------------------------------------------

// "Why is this waiting?" in words, one sentence per bookmark.
export function waitingSentence(bookmark, tenant) {
  const data = bookmark.data || {};
  switch (bookmark.activity_type) {
    case "Event":
      return `Waiting for the event “${bookmark.name}”` +
        (bookmark.correlation_id ? ` with correlation id “${bookmark.correlation_id}”.` : " (any correlation id).");
    case "HttpEndpoint":
      return `Waiting for an HTTP request: ${(data.methods || ["POST"]).join(", ")} /hooks/${tenant}/${(data.path || bookmark.name).replace(/^\//, "")}.`;
    case "ExecuteWorkflow":
      return `Waiting for a child instance of “${data.definition_id || bookmark.name}” to finish:`;
    default:
      if (bookmark.due_at) {
        return `Waiting for a timer (${bookmark.activity_type}) due at ${when(bookmark.due_at)} (${relative(bookmark.due_at)}).`;
      }
      return `Waiting in ${bookmark.activity_type} “${bookmark.activity_id}” for “${bookmark.name}”.`;
  }
}

const ACTIONS = [
  { name: "suspend", label: "Suspend", when: ["pending", "running", "suspended"], unlessHeld: true, text: "Hold this instance: no new step runs until it is resumed." },
  { name: "resume", label: "Resume", when: ["suspended"], onlyHeld: true, text: "Release this instance: its steps run again." },
  { name: "retry", label: "Retry", when: ["faulted"], text: "Run this instance again from the activity that faulted." },
  { name: "cancel", label: "Cancel", when: ["pending", "running", "suspended"], text: "Cancel this instance, its pending steps, waits and children. This cannot be undone." },
  { name: "delete", label: "Delete", when: ["finished", "cancelled", "faulted"], text: "Delete this instance and its records. This cannot be undone." },
];

export async function renderInstance(ctx, main, instanceId) {
  const header = h("div", { class: "page-head" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "Operator actions" });
  const canvas = h("div", { class: "canvas monitor-canvas", id: "instance-graph", role: "img",
    "aria-label": "The workflow, coloured by what happened" });
  const legend = h("p", { class: "legend muted" },
    ["completed", "running", "waiting", "faulted", "cancelled"].map((s) => h("span", { class: `badge status-${s}` }, s)),
    h("span", { class: "badge not-reached" }, "not reached"));
  const waiting = h("section", { class: "card", id: "waiting", "aria-labelledby": "waiting-title" });
  const executions = h("section", { class: "card", "aria-labelledby": "exec-title" });
  const journal = h("section", { class: "card", "aria-labelledby": "journal-title" });
  const data = h("section", { class: "card", "aria-labelledby": "data-title" });
  clear(main).append(header, actions,
    h("div", { class: "instance-grid" }, h("div", {}, canvas, legend, waiting), h("div", {}, executions)),
    data, journal);

  let graph = null;
  let lastStatus = null;

  async function act(action, instance) {
    const ok = await confirmAction(`${action.label} instance?`, action.text, action.label,
      action.name === "cancel" || action.name === "delete" ? "danger" : "primary");
    if (!ok) return;
    try {
      if (action.name === "delete") {
        await ctx.api.del(`/instances/${instanceId}/`);
        flash("Instance deleted.");
        ctx.go("instances");
        return;
      }
      await ctx.api.post(`/instances/${instanceId}/${action.name}/`);
      flash(`${action.label}: done.`);
      await refresh();
    } catch (error) {
      flash(errorText(error), "error");
    }
  }

  async function resumeBookmark(bookmark, textarea) {
    let payload = null;
    try {
      payload = textarea.value.trim() ? JSON.parse(textarea.value) : null;
    } catch (error) {
      flash(`The payload is not JSON: ${error.message}`, "error");
      textarea.focus();
      return;
    }
    try {
      await ctx.api.post(`/bookmarks/${bookmark.id}/resume/`, { payload });
      flash("Resumed.");
      await refresh();
    } catch (error) {
      flash(errorText(error), "error");
    }
  }

  function renderHeader(instance) {
    clear(header).append(
      h("h1", {}, "Instance ", h("code", {}, instance.id)),
      h("p", { class: "meta" },
        ctx.link(`definitions/${encodeURIComponent(instance.definition_id)}`, `${instance.definition_id} v${instance.version}`),
        " · ", h("span", { id: "instance-status" }, badge(instance.status)),
        instance.correlation_id ? ` · correlation ${instance.correlation_id}` : "",
        ` · created ${when(instance.created_at)}`,
        instance.finished_at ? ` · finished ${when(instance.finished_at)}` : "",
        instance.parent_id ? [" · parent ", ctx.link(`instances/${instance.parent_id}`, instance.parent_id.slice(0, 8))] : ""));
    clear(actions);
    if (!ctx.can("operator")) return;
    for (const action of ACTIONS) {
      if (!action.when.includes(instance.status)) continue;
      if ((action.unlessHeld && instance.held) || (action.onlyHeld && !instance.held)) continue;
      actions.append(h("button", { type: "button", class: action.name === "cancel" || action.name === "delete" ? "danger" : "",
        "data-action": action.name, onclick: () => act(action, instance) }, action.label));
    }
  }

  function renderWaiting(instance, bookmarks, children) {
    clear(waiting).append(h("h2", { id: "waiting-title" }, "Why is this waiting?"));
    if (instance.held) {
      waiting.append(h("p", { class: "why" }, "An operator suspended this instance: no step runs until someone resumes it."));
    }
    if (!bookmarks.length) {
      if (!instance.held) {
        waiting.append(h("p", { class: "muted" }, ACTIVE.has(instance.status)
          ? "It is not waiting for anything: its next steps are queued or running on the workers."
          : `It is not waiting: it is ${instance.status}.`));
      }
      return;
    }
    for (const bookmark of bookmarks) {
      const item = h("div", { class: "bookmark", "data-bookmark": bookmark.id },
        h("p", { class: "why" }, waitingSentence(bookmark, ctx.api.tenant)),
        bookmark.activity_type === "ExecuteWorkflow" ? h("ul", { class: "children" }, children
          .filter((c) => c.definition_id === ((bookmark.data || {}).definition_id || bookmark.name))
          .map((c) => h("li", {}, ctx.link(`instances/${c.id}`, `${c.definition_id} ${c.id.slice(0, 8)}`), " ", badge(c.status)))) : null,
        h("p", { class: "muted" }, `Activity ${bookmark.activity_id} since ${when(bookmark.created_at)}`));
      if (ctx.can("operator")) {
        const id = `payload-${bookmark.id}`;
        const textarea = h("textarea", { id, rows: 3, class: "code", placeholder: '{"approved": true}' });
        item.append(h("label", { for: id }, "Resume with payload (JSON)"), textarea,
          h("button", { type: "button", class: "primary", "data-resume": bookmark.id,
            onclick: () => resumeBookmark(bookmark, textarea) }, "Resume this wait"));
      }
      waiting.append(item);
    }
  }

  function renderExecutions(list) {
    clear(executions).append(h("h2", { id: "exec-title" }, `Activity executions (${list.length})`));
    const table = h("table", { class: "list compact", "aria-label": "Activity executions" },
      h("thead", {}, h("tr", {}, ["Activity", "Type", "Status", "Attempt", "Outcome", "Started", "Finished"].map((t) => h("th", { scope: "col" }, t)))));
    const body = h("tbody");
    for (const e of list) {
      body.append(h("tr", { "data-activity": e.activity_id },
        h("td", {}, e.activity_id), h("td", {}, e.type), h("td", {}, badge(e.status)),
        h("td", {}, String(e.attempt)), h("td", {}, e.outcome || ""),
        h("td", {}, when(e.started_at)), h("td", {}, when(e.finished_at))));
      body.append(h("tr", { class: "details-row" }, h("td", { colspan: 7 },
        h("details", {}, h("summary", {}, `Input, output and error of ${e.activity_id}`),
          h("div", { class: "triple" },
            h("div", {}, h("h3", {}, "Input"), jsonBlock(e.input)),
            h("div", {}, h("h3", {}, "Output"), jsonBlock(e.output)),
            h("div", {}, h("h3", {}, "Error"), jsonBlock(e.error)))))));
    }
    table.append(body);
    executions.append(table);
  }

  function renderJournal(entries) {
    clear(journal).append(h("h2", { id: "journal-title" }, "Journal"));
    const list = h("ol", { class: "timeline" });
    for (const entry of entries) {
      list.append(h("li", { class: `event-${entry.event}` },
        h("time", { datetime: entry.timestamp }, when(entry.timestamp)), " ",
        h("strong", {}, entry.event), entry.activity_id ? ` ${entry.activity_id} (${entry.activity_type})` : "",
        entry.message ? ` — ${entry.message}` : ""));
    }
    journal.append(list);
  }

  function renderData(instance) {
    clear(data).append(h("h2", { id: "data-title" }, "Data"));
    const incidents = instance.incidents || [];
    data.append(h("div", { class: "quad" },
      h("div", {}, h("h3", {}, "Input"), jsonBlock(instance.input, "Input")),
      h("div", {}, h("h3", {}, "Variables"), jsonBlock(instance.variables, "Variables")),
      h("div", {}, h("h3", {}, "Outputs"), jsonBlock(instance.output, "Outputs")),
      h("div", { id: "incidents" }, h("h3", {}, `Incidents (${incidents.length})`),
        incidents.length ? h("ul", {}, incidents.map((i) => h("li", { class: "error" },
          `${i.activity_id} (${i.activity_type}): ${i.code} — ${i.message}`))) : h("p", { class: "muted" }, "None."))));
  }

  async function refresh() {
    // The instance first, its records after: records read later are never older than the
    // status shown (an instance that ends writes both in one transaction).
    const instance = await ctx.api.get(`/instances/${instanceId}/`);
    const [executionList, bookmarks, entries] = await Promise.all([
      ctx.api.all(`/instances/${instanceId}/activity-executions/`),
      ctx.api.all(`/instances/${instanceId}/bookmarks/`),
      ctx.api.all(`/instances/${instanceId}/journal/`),
    ]);
    renderHeader(instance);
    const waitsForChildren = bookmarks.some((b) => b.activity_type === "ExecuteWorkflow");
    const children = waitsForChildren
      ? (await ctx.api.get("/instances/", { parent_id: instanceId, limit: 50 })).results : [];
    renderWaiting(instance, bookmarks, children);
    renderExecutions(executionList);
    renderJournal(entries);
    renderData(instance);
    const statuses = statusesFromExecutions(executionList, bookmarks);
    if (!graph) {
      const definition = await ctx.api.get(
        `/definitions/${encodeURIComponent(instance.definition_id)}/versions/${instance.version}/`);
      graph = drawDefinition(canvas, definition, { statuses });
    } else {
      applyStatuses(graph.cy, statuses);
    }
    canvas.dataset.status = instance.status;
    lastStatus = instance.status;
  }

  await refresh();
  const stop = poller(async () => {
    if (lastStatus && !ACTIVE.has(lastStatus) && graph) return;
    await refresh();
  });
  return () => { stop(); if (graph) graph.destroy(); };
}
