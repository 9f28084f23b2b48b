// Designer: the canvas, palette, property panel, JSON tab, validation, save/publish, try it.
import { drawDefinition, statusesFromExecutions, applyStatuses } from "./graph.js";
import { publishBadges } from "./definitions.js";
import {
  badge, clear, debounce, dialog, errorText, flash, h, jsonBlock, pretty,
} from "./ui.js";
import { sideBySide } from "./diff.js";

const CHILD_TYPES = new Set(["activities", "activity"]);

function emptyDefinition() {
  return {
    name: "New workflow", description: "", inputs: [], outputs: [], variables: [],
    options: {}, root: { type: "Flowchart", id: "main", activities: [], connections: [] },
  };
}

const DOCUMENT_KEYS = ["definition_id", "name", "description", "inputs", "outputs", "variables", "options", "root"];
function documentOf(definition) {
  const doc = {};
  for (const key of DOCUMENT_KEYS) if (definition[key] !== undefined) doc[key] = definition[key];
  return doc;
}

// Every activity in the document with its JSON path and the Flowchart that holds it.
function activitiesOf(doc) {
  const found = [];
  function walk(activity, path, flowchart) {
    if (!activity || typeof activity !== "object") return;
    found.push({ activity, path, flowchart });
    const inner = activity.type === "Flowchart" ? activity : null;
    for (const slot of ["activities", "branches"]) {
      if (Array.isArray(activity[slot])) activity[slot].forEach((a, i) => walk(a, `${path}.${slot}[${i}]`, inner));
    }
    for (const slot of ["then", "else", "body", "default"]) {
      if (activity[slot] && typeof activity[slot] === "object" && activity[slot].type) walk(activity[slot], `${path}.${slot}`, null);
    }
    if (Array.isArray(activity.cases)) activity.cases.forEach((c, i) => c && c.activity && walk(c.activity, `${path}.cases[${i}].activity`, null));
  }
  walk(doc.root, "root", null);
  return found;
}

function valueMode(value) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    if ("expr" in value) return "expr";
    if ("template" in value) return "template";
    if ("literal" in value) return "literal";
  }
  return "literal";
}

function literalOf(value) {
  if (value && typeof value === "object" && !Array.isArray(value) && "literal" in value) return value.literal;
  return value;
}

export async function renderDesigner(ctx, main, definitionId) {
  const editable = ctx.can("editor");
  const params = new URLSearchParams(window.location.search);
  const askedVersion = params.get("version");
  const types = await ctx.api.get("/activity-types/");
  const descriptors = Object.fromEntries(types.map((t) => [t.type, t]));

  let meta = null; // the saved version: {version, is_published, published_version, etag}
  let doc = emptyDefinition();
  let readOnly = !editable;
  if (definitionId) {
    const response = askedVersion
      ? await ctx.api.request("GET", `/definitions/${encodeURIComponent(definitionId)}/versions/${askedVersion}/`)
      : await ctx.api.request("GET", `/definitions/${encodeURIComponent(definitionId)}/`);
    const definition = response.data;
    meta = { ...definition, etag: response.headers.get("ETag") };
    doc = documentOf(definition);
    if (askedVersion && !definition.is_latest) readOnly = true;
  }
  let savedJson = JSON.stringify(doc);
  let undoStack = [];
  let redoStack = [];
  let selected = null;
  let problems = [];
  let graph = null;
  // Set when the user leaves: answers and timers still on their way (validation, a reload)
  // must not draw on the destroyed graph nor make a new one on the detached canvas.
  let left = false;
  let lastStatuses = null;

  // ---- layout of the page -------------------------------------------------------------
  const title = h("h1", { id: "designer-title" });
  const badges = h("span", { class: "badges" });
  const dirtyMark = h("span", { class: "dirty muted", "aria-live": "polite" });
  const toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": "Designer" });
  const palette = h("aside", { class: "palette", "aria-label": "Activity palette" });
  const canvas = h("div", { class: "canvas designer-canvas", id: "designer-canvas", tabindex: "0",
    role: "application", "aria-label": "Workflow canvas: arrow keys select activities, Enter edits, Delete removes" });
  const minimap = h("div", { class: "minimap", id: "designer-minimap", "aria-hidden": "true" });
  const jsonText = h("textarea", { id: "json-editor", class: "code", spellcheck: "false",
    "aria-label": "Definition JSON", rows: 30, readonly: readOnly });
  const jsonError = h("p", { class: "field-error", id: "json-error", role: "alert" });
  const canvasPane = h("div", { class: "pane", id: "pane-canvas" }, canvas, minimap);
  const jsonPane = h("div", { class: "pane", id: "pane-json", hidden: true },
    jsonText, jsonError);
  const tabCanvas = h("button", { type: "button", role: "tab", id: "tab-canvas", "aria-selected": "true", "aria-controls": "pane-canvas" }, "Canvas");
  const tabJson = h("button", { type: "button", role: "tab", id: "tab-json", "aria-selected": "false", "aria-controls": "pane-json" }, "JSON");
  const panel = h("aside", { class: "properties", id: "properties", "aria-label": "Properties" });
  const problemList = h("section", { class: "problems", id: "problems", "aria-live": "polite", "aria-label": "Problems" });
  const tryPanel = h("section", { class: "card try", id: "try-panel", hidden: true, "aria-label": "Try it" });

  clear(main).append(
    h("div", { class: "page-head" }, title, badges, dirtyMark), toolbar,
    h("div", { class: "designer" }, editable && !readOnly ? palette : h("div"),
      h("div", { class: "center" }, h("div", { role: "tablist", class: "tabs", "aria-label": "View" }, tabCanvas, tabJson),
        canvasPane, jsonPane, problemList, tryPanel),
      panel));

  function isDirty() { return JSON.stringify(doc) !== savedJson; }

  function renderTitle() {
    title.textContent = doc.name || "Untitled";
    clear(badges);
    if (meta) badges.append(...publishBadges(meta));
    else badges.append(h("span", { class: "badge draft" }, "not saved yet"));
    if (readOnly && editable) badges.append(h("span", { class: "badge" }, "read-only (an older version)"));
    dirtyMark.textContent = isDirty() ? "Unsaved changes" : "";
  }

  // ---- editing -----------------------------------------------------------------------
  function snapshot() { return JSON.stringify(doc); }

  function change(mutate, { relayout = false, pushUndo = true } = {}) {
    if (readOnly) return;
    if (pushUndo) { undoStack.push(snapshot()); redoStack = []; }
    mutate(doc);
    refresh({ relayout });
  }

  function undo() {
    if (!undoStack.length || readOnly) return;
    redoStack.push(snapshot());
    doc = JSON.parse(undoStack.pop());
    refresh({ relayout: false });
  }

  function redo() {
    if (!redoStack.length || readOnly) return;
    undoStack.push(snapshot());
    doc = JSON.parse(redoStack.pop());
    refresh({ relayout: false });
  }

  function findActivity(id) { return activitiesOf(doc).find((entry) => entry.activity.id === id) || null; }

  function rootFlowchart() {
    if (!doc.root || doc.root.type !== "Flowchart") return null;
    doc.root.activities = doc.root.activities || [];
    doc.root.connections = doc.root.connections || [];
    return doc.root;
  }

  function newId(type) {
    const stem = type.split(".").pop().replace(/[^A-Za-z0-9]/g, "").toLowerCase() || "activity";
    const taken = new Set(activitiesOf(doc).map((e) => e.activity.id));
    let n = 1;
    while (taken.has(`${stem}${n}`)) n += 1;
    return `${stem}${n}`;
  }

  function addActivity(type, position) {
    const flowchart = rootFlowchart();
    if (!flowchart) { flash("Activities are added to a Flowchart root; edit this definition in the JSON tab.", "error"); return; }
    const id = newId(type);
    const activity = { id, type };
    const descriptor = descriptors[type];
    if (descriptor && descriptor.input_map) activity[descriptor.input_map] = {};
    const anchor = selected && graph && graph.cy.getElementById(selected);
    const at = position || (anchor && anchor.nonempty() ? { x: anchor.position("x"), y: anchor.position("y") + 110 }
      : graph ? { x: graph.cy.extent().x1 + graph.cy.extent().w / 2, y: graph.cy.extent().y1 + 60 } : { x: 0, y: 0 });
    pendingPositions[id] = at;
    change((d) => d.root.activities.push(activity));
    select(id);
    flash(`Added ${type} “${id}”.`);
  }

  function deleteActivity(id) {
    const entry = findActivity(id);
    if (!entry || readOnly) return;
    change(() => {
      for (const e of activitiesOf(doc)) {
        for (const slot of ["activities", "branches"]) {
          if (Array.isArray(e.activity[slot])) e.activity[slot] = e.activity[slot].filter((a) => a.id !== id);
        }
        if (Array.isArray(e.activity.connections)) {
          e.activity.connections = e.activity.connections.filter((c) => c.source !== id && c.target !== id);
        }
        for (const slot of ["then", "else", "body", "default"]) if (e.activity[slot] && e.activity[slot].id === id) delete e.activity[slot];
      }
    });
    select(null);
  }

  function renameActivity(oldId, newIdValue) {
    change(() => {
      const entry = findActivity(oldId);
      entry.activity.id = newIdValue;
      for (const e of activitiesOf(doc)) {
        for (const c of e.activity.connections || []) {
          if (c.source === oldId) c.source = newIdValue;
          if (c.target === oldId) c.target = newIdValue;
        }
        if (e.activity.start === oldId) e.activity.start = newIdValue;
      }
    }, { pushUndo: false });
    if (positions[oldId]) { positions[newIdValue] = positions[oldId]; delete positions[oldId]; }
    selected = newIdValue;
  }

  function setConnection(flowchart, source, outcome, target) {
    change(() => {
      const list = flowchart.connections = flowchart.connections || [];
      const kept = list.filter((c) => !(c.source === source && (c.outcome || "done") === outcome));
      if (target) kept.push(outcome === "done" ? { source, target } : { source, outcome, target });
      flowchart.connections = kept;
    });
  }

  // ---- canvas ------------------------------------------------------------------------
  const positions = {};
  const pendingPositions = {};

  function rememberPositions() {
    if (!graph) return;
    graph.cy.nodes().forEach((n) => { if (!n.isParent()) positions[n.id()] = { ...n.position() }; });
  }

  function drawCanvas(relayout) {
    if (left) return;
    if (!graph) {
      graph = drawDefinition(canvas, doc, { minimap, onSelect: (id) => select(id, { fromCanvas: true }) });
      graph.cy.on("dragfree", "node", () => rememberPositions());
      graph.ready.then(() => { rememberPositions(); markProblems(); });
      return;
    }
    rememberPositions();
    Object.assign(positions, pendingPositions);
    for (const key of Object.keys(pendingPositions)) delete pendingPositions[key];
    const { cy } = graph;
    const { nodes, edges } = graph.elementsOf(doc);
    cy.batch(() => { cy.elements().remove(); cy.add([...nodes, ...edges]); });
    let missing = false;
    cy.nodes().forEach((n) => {
      if (n.isParent()) return;
      if (positions[n.id()] && !relayout) n.position(positions[n.id()]); else missing = true;
    });
    if (selected) cy.getElementById(selected).select();
    if (lastStatuses) applyStatuses(cy, lastStatuses);
    if (missing || relayout) graph.relayout().then(() => { rememberPositions(); markProblems(); });
    else { canvas.dataset.ready = "true"; markProblems(); }
  }

  function select(id, { fromCanvas = false } = {}) {
    selected = id;
    if (graph && !fromCanvas) {
      graph.cy.$(":selected").unselect();
      if (id) graph.cy.getElementById(id).select();
    }
    renderPanel();
  }

  // ---- validation ----------------------------------------------------------------------
  // A problem's JSON path belongs to the activity whose path is its longest prefix.
  function ownerOf(path) {
    // A connection's problem belongs to the activity it leaves from (its outcome selects).
    const connection = /^(.*)\.connections\[(\d+)\]/.exec(path);
    if (connection) {
      const flowchart = connection[1] === "root" ? doc.root
        : (activitiesOf(doc).find((e) => e.path === connection[1]) || {}).activity;
      const found = flowchart && (flowchart.connections || [])[Number(connection[2])];
      if (found && findActivity(found.source)) {
        return { activity: found.source, field: `connect:${found.outcome || "done"}` };
      }
    }
    let best = null;
    for (const entry of activitiesOf(doc)) {
      if (path === entry.path || path.startsWith(`${entry.path}.`) || path.startsWith(`${entry.path}[`)) {
        if (!best || entry.path.length > best.path.length) best = entry;
      }
    }
    if (!best) return { activity: null, field: path.split(/[.[]/)[0] };
    const rest = path.slice(best.path.length).replace(/^\./, "");
    let field = rest.split(/[.[]/)[0] || null;
    const descriptor = descriptors[best.activity.type];
    if (descriptor && descriptor.input_map && field === descriptor.input_map) field = rest.split(/[.[]/)[1] || field;
    return { activity: best.activity.id, field };
  }

  function markProblems() {
    if (left) return;
    const invalid = new Set();
    for (const p of problems) {
      const owner = ownerOf(p.path);
      if (owner.activity) invalid.add(owner.activity);
    }
    if (graph) {
      graph.cy.nodes().removeClass("invalid");
      for (const id of invalid) graph.cy.getElementById(id).addClass("invalid");
    }
    canvas.dataset.problems = String(problems.length);
    canvas.dataset.invalidActivities = [...invalid].sort().join(",");
  }

  function renderProblems() {
    clear(problemList);
    if (!problems.length) { problemList.append(h("p", { class: "ok" }, "✓ No problems.")); return; }
    problemList.append(h("h2", {}, `Problems (${problems.length})`));
    const list = h("ul");
    for (const p of problems) {
      const owner = ownerOf(p.path);
      list.append(h("li", {}, h("button", { type: "button", class: "link",
        onclick: () => { if (owner.activity) select(owner.activity); focusField(owner.field); } },
      `${p.path}: ${p.message}`)));
    }
    problemList.append(list);
  }

  let validationRun = 0;
  const validate = debounce(async () => {
    const run = ++validationRun;
    try {
      const result = await ctx.api.post("/definitions/validate/", doc);
      if (run !== validationRun) return;
      problems = result.errors || [];
    } catch (error) {
      if (run !== validationRun) return;
      problems = (error.details && error.details.errors) || [{ path: "", message: errorText(error) }];
    }
    markProblems();
    renderProblems();
    renderFieldErrors();
  }, 300);

  function renderFieldErrors() {
    for (const slot of panel.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const input of panel.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    const forActivity = selected || null;
    for (const p of problems) {
      const owner = ownerOf(p.path);
      if (owner.activity !== forActivity) continue;
      const slot = panel.querySelector(`[data-error-for="${CSS.escape(owner.field || "")}"]`) || panel.querySelector("[data-error-for='_activity']");
      if (slot) {
        slot.textContent = slot.textContent ? `${slot.textContent}; ${p.message}` : p.message;
        const input = panel.querySelector(`[data-field="${CSS.escape(owner.field || "")}"]`);
        if (input) input.setAttribute("aria-invalid", "true");
      }
    }
  }

  function focusField(field) {
    const input = field && panel.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (input) input.focus();
  }

  // ---- the property panel --------------------------------------------------------------
  function fieldRow(name, labelText, control, help) {
    const id = control.id || `field-${name}`;
    control.id = id;
    control.dataset.field = name;
    control.setAttribute("aria-describedby", `error-${id}`);
    return h("div", { class: "field-row" }, h("label", { for: id }, labelText), control,
      help ? h("small", { class: "muted" }, help) : null,
      h("div", { class: "field-error", id: `error-${id}`, "data-error-for": name, role: "alert" }));
  }

  // Applies typing to the document: one undo step per field visit, not per keystroke.
  function liveInput(control, apply) {
    let pushed = false;
    control.addEventListener("focus", () => { pushed = false; });
    const handler = () => {
      if (readOnly) return;
      if (!pushed) { undoStack.push(snapshot()); redoStack = []; pushed = true; }
      apply(control);
      refresh({ relayout: false, fromPanel: true });
    };
    control.addEventListener("input", handler);
    if (control.tagName === "SELECT" || control.type === "checkbox") control.addEventListener("change", handler);
  }

  function literalControl(property, value) {
    const disabled = readOnly;
    if (property.choices) {
      const select = h("select", { disabled }, h("option", { value: "" }, "(default)"),
        property.choices.map((c) => h("option", { value: c }, c)));
      select.value = value ?? "";
      return [select, (s) => (s.value === "" ? undefined : s.value)];
    }
    if (property.type === "boolean") {
      const box = h("input", { type: "checkbox", disabled });
      box.checked = Boolean(value);
      return [box, (b) => b.checked];
    }
    if (property.type === "number" || property.type === "integer") {
      const input = h("input", { type: "number", step: property.type === "integer" ? "1" : "any", value: value ?? "", disabled });
      return [input, (i) => (i.value === "" ? undefined : Number(i.value))];
    }
    if (property.type === "string") {
      const input = h("input", { type: "text", value: value ?? "", disabled });
      return [input, (i) => (i.value === "" ? undefined : i.value)];
    }
    if (property.type === "any") {
      // Text as typed; JSON when it reads as an object, array, number, boolean or null.
      const area = h("textarea", { class: "code", rows: 2, disabled },
        value === undefined || value === null ? "" : typeof value === "string" ? value : pretty(value));
      return [area, (a) => {
        const text = a.value;
        if (text.trim() === "") return undefined;
        if (/^\s*([[{]|-?\d|true\s*$|false\s*$|null\s*$)/.test(text)) {
          try { return JSON.parse(text); } catch { return text; }
        }
        return text;
      }];
    }
    const area = h("textarea", { class: "code", rows: 3, disabled }, value === undefined ? "" : pretty(value));
    return [area, (a) => {
      if (a.value.trim() === "") return undefined;
      try { a.setCustomValidity(""); return JSON.parse(a.value); } catch { a.setCustomValidity("Not JSON"); return a.value; }
    }];
  }

  function propertyEditor(activity, property, holder) {
    const current = holder[property.name];
    const modes = property.expressions ? ["literal", "expr", "template"] : ["literal"];
    let mode = valueMode(current);
    const row = h("div", { class: "property" });
    function build() {
      clear(row);
      const value = holder[property.name];
      let control;
      let read;
      if (mode === "expr" || mode === "template") {
        const text = value && typeof value === "object" ? (value[mode] ?? "") : "";
        control = h("input", { type: "text", class: "code", value: text, disabled: readOnly,
          placeholder: mode === "expr" ? "input.amount > 100" : "Hello {{ input.name }}" });
        read = (c) => ({ [mode]: c.value });
      } else {
        [control, read] = literalControl(property, literalOf(value));
      }
      const help = [property.type, property.required ? "required" : "", property.description].filter(Boolean).join(" · ");
      control.id = `prop-${activity.id}-${property.name}`;
      liveInput(control, (c) => {
        const next = read(c);
        if (next === undefined) delete holder[property.name]; else holder[property.name] = next;
      });
      const modeSelect = modes.length > 1 ? h("select", { class: "mode", "aria-label": `${property.name}: value form`,
        id: `mode-${activity.id}-${property.name}`, disabled: readOnly },
      h("option", { value: "literal" }, "Literal"), h("option", { value: "expr" }, "Expression"),
      h("option", { value: "template" }, "Template")) : null;
      if (modeSelect) {
        modeSelect.value = mode;
        modeSelect.addEventListener("change", () => {
          mode = modeSelect.value;
          change(() => {
            const old = holder[property.name];
            const plain = old && typeof old === "object" ? (old.expr ?? old.template ?? old.literal ?? "") : (old ?? "");
            holder[property.name] = mode === "literal" ? plain : { [mode]: typeof plain === "string" ? plain : JSON.stringify(plain) };
          });
          const again = document.getElementById(`prop-${activity.id}-${property.name}`);
          if (again) again.focus();
        });
      }
      row.append(fieldRow(property.name, `${property.name}${property.required ? " *" : ""}`, control, help));
      if (modeSelect) row.querySelector(".field-row label").after(modeSelect);
    }
    build();
    return row;
  }

  function connectionsEditor(entry) {
    const { activity, flowchart } = entry;
    if (!flowchart) return null;
    const descriptor = descriptors[activity.type] || { outcomes: ["done"] };
    const outcomes = new Set(descriptor.outcomes || ["done"]);
    if (Array.isArray(activity.cases)) activity.cases.forEach((c) => c && c.outcome && outcomes.add(c.outcome));
    for (const c of flowchart.connections || []) if (c.source === activity.id) outcomes.add(c.outcome || "done");
    const siblings = (flowchart.activities || []).map((a) => a.id).filter((id) => id !== activity.id);
    const box = h("fieldset", { class: "connections" }, h("legend", {}, "Connections (outcome → next activity)"));
    for (const outcome of outcomes) {
      const current = (flowchart.connections || []).find((c) => c.source === activity.id && (c.outcome || "done") === outcome);
      const select = h("select", { id: `connect-${activity.id}-${outcome}`, disabled: readOnly, "data-outcome": outcome },
        h("option", { value: "" }, "(nothing)"), siblings.map((id) => h("option", { value: id }, id)));
      select.value = current ? current.target : "";
      select.addEventListener("change", () => setConnection(flowchart, activity.id, outcome, select.value));
      select.dataset.field = `connect:${outcome}`;
      box.append(h("div", { class: "field-row inline" }, h("label", { for: select.id }, outcome), select),
        h("div", { class: "field-error", "data-error-for": `connect:${outcome}`, role: "alert" }));
    }
    return box;
  }

  function workflowPanel() {
    const fields = h("div");
    const name = h("input", { type: "text", value: doc.name || "", disabled: readOnly });
    liveInput(name, (c) => { doc.name = c.value; });
    fields.append(fieldRow("name", "Name *", name));
    const id = h("input", { type: "text", value: doc.definition_id || "", disabled: readOnly || Boolean(meta),
      placeholder: "derived from the name" });
    liveInput(id, (c) => { if (c.value) doc.definition_id = c.value; else delete doc.definition_id; });
    fields.append(fieldRow("definition_id", "Definition id", id));
    const description = h("textarea", { rows: 2, disabled: readOnly }, doc.description || "");
    liveInput(description, (c) => { doc.description = c.value; });
    fields.append(fieldRow("description", "Description", description));
    for (const key of ["inputs", "outputs", "variables", "options"]) {
      const area = h("textarea", { class: "code", rows: 3, disabled: readOnly }, pretty(doc[key] ?? (key === "options" ? {} : [])));
      liveInput(area, (c) => { try { doc[key] = JSON.parse(c.value); c.setCustomValidity(""); } catch { c.setCustomValidity("Not JSON"); } });
      fields.append(fieldRow(key, `${key[0].toUpperCase()}${key.slice(1)} (JSON)`, area));
    }
    return fields;
  }

  function renderPanel() {
    clear(panel);
    const entries = activitiesOf(doc).filter((e) => e.path !== "root" || doc.root.type !== "Flowchart");
    const picker = h("select", { id: "activity-picker" }, h("option", { value: "" }, "(the workflow itself)"),
      entries.map((e) => h("option", { value: e.activity.id }, `${e.activity.id} (${e.activity.type})`)));
    picker.value = selected || "";
    picker.addEventListener("change", () => select(picker.value || null));
    panel.append(h("div", { class: "field-row" }, h("label", { for: "activity-picker" }, "Activity to edit"), picker));
    const entry = selected ? findActivity(selected) : null;
    if (!entry) {
      panel.append(h("h2", {}, "Workflow"), workflowPanel());
      renderFieldErrors();
      return;
    }
    const { activity } = entry;
    const descriptor = descriptors[activity.type];
    panel.append(h("h2", {}, activity.type), descriptor ? h("p", { class: "muted small" }, descriptor.description) : h("p", { class: "error" }, `Unknown activity type ${activity.type}`));
    panel.append(h("div", { class: "field-error", "data-error-for": "_activity", role: "alert" }));
    const idInput = h("input", { type: "text", value: activity.id, disabled: readOnly, id: "prop-id" });
    idInput.addEventListener("change", () => {
      const value = idInput.value.trim();
      if (!value || value === activity.id) return;
      if (findActivity(value)) { flash(`An activity “${value}” exists already.`, "error"); idInput.value = activity.id; return; }
      undoStack.push(snapshot()); redoStack = [];
      renameActivity(activity.id, value);
    });
    panel.append(fieldRow("id", "Id", idInput));
    const nameInput = h("input", { type: "text", value: activity.name || "", disabled: readOnly, id: "prop-name" });
    liveInput(nameInput, (c) => { if (c.value) activity.name = c.value; else delete activity.name; });
    panel.append(fieldRow("name", "Display name", nameInput));
    if (descriptor) {
      const holder = descriptor.input_map ? (activity[descriptor.input_map] = activity[descriptor.input_map] || {}) : activity;
      for (const property of descriptor.properties) {
        if (CHILD_TYPES.has(property.type) || (activity.type === "Flowchart" && property.name === "connections")) continue;
        panel.append(propertyEditor(activity, property, holder));
      }
      if (descriptor.trigger) {
        const box = h("input", { type: "checkbox", disabled: readOnly });
        box.checked = Boolean(activity.trigger);
        liveInput(box, (c) => { if (c.checked) activity.trigger = true; else delete activity.trigger; });
        panel.append(fieldRow("trigger", "Starts the workflow (trigger)", box));
      }
    }
    if (descriptor && descriptor.kind === "task") {
      // Task activities also take a retry policy and a timeout (SPEC: retry, timeout).
      const timeout = h("input", { type: "number", min: "0", step: "any", value: activity.timeout ?? "", disabled: readOnly, id: `prop-${activity.id}-timeout` });
      liveInput(timeout, (c) => { if (c.value === "") delete activity.timeout; else activity.timeout = Number(c.value); });
      panel.append(fieldRow("timeout", "Timeout (seconds)", timeout));
      const retry = h("textarea", { class: "code", rows: 2, disabled: readOnly, id: `prop-${activity.id}-retry`,
        placeholder: pretty(descriptor.retry || { max_attempts: 3 }) }, activity.retry ? pretty(activity.retry) : "");
      liveInput(retry, (c) => {
        if (c.value.trim() === "") { delete activity.retry; return; }
        try { activity.retry = JSON.parse(c.value); c.setCustomValidity(""); } catch { c.setCustomValidity("Not JSON"); }
      });
      panel.append(fieldRow("retry", "Retry policy (JSON; empty: the type's default)", retry));
    }
    const connections = connectionsEditor(entry);
    if (connections) panel.append(connections);
    if (!readOnly) {
      panel.append(h("button", { type: "button", class: "danger", id: "delete-activity",
        onclick: () => deleteActivity(activity.id) }, `Delete ${activity.id}`));
    }
    renderFieldErrors();
  }

  // ---- palette -----------------------------------------------------------------------
  function renderPalette() {
    const search = h("input", { type: "search", id: "palette-search", placeholder: "Search activities" });
    const groups = h("div", { class: "palette-groups" });
    function draw() {
      clear(groups);
      const term = search.value.trim().toLowerCase();
      const families = {};
      for (const t of types) {
        if (term && !`${t.type} ${t.family} ${t.description}`.toLowerCase().includes(term)) continue;
        (families[t.family] = families[t.family] || []).push(t);
      }
      for (const [family, list] of Object.entries(families).sort()) {
        groups.append(h("h3", {}, family), h("ul", {}, list.map((t) => h("li", {},
          h("button", { type: "button", class: "palette-item", draggable: "true", "data-type": t.type,
            title: t.description, "aria-label": `Add ${t.type}`,
            ondragstart: (event) => { event.dataTransfer.setData("application/x-weft-activity", t.type); event.dataTransfer.effectAllowed = "copy"; },
            onclick: () => addActivity(t.type) }, t.type)))));
      }
    }
    search.addEventListener("input", draw);
    clear(palette).append(h("h2", {}, "Activities"), h("label", { for: "palette-search", class: "sr-only" }, "Search activities"), search, groups);
    draw();
  }

  canvas.addEventListener("dragover", (event) => {
    if (event.dataTransfer.types.includes("application/x-weft-activity")) { event.preventDefault(); event.dataTransfer.dropEffect = "copy"; }
  });
  canvas.addEventListener("drop", (event) => {
    const type = event.dataTransfer.getData("application/x-weft-activity");
    if (!type || !graph) return;
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    const pan = graph.cy.pan();
    const zoom = graph.cy.zoom();
    addActivity(type, { x: (event.clientX - box.left - pan.x) / zoom, y: (event.clientY - box.top - pan.y) / zoom });
  });
  canvas.addEventListener("keydown", (event) => {
    if ((event.key === "Delete" || event.key === "Backspace") && selected) { event.preventDefault(); deleteActivity(selected); return; }
    // Arrow keys walk the activities in document order; Enter goes to the first property.
    if (event.key === "ArrowDown" || event.key === "ArrowUp" || event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const ids = activitiesOf(doc).filter((e) => e.path !== "root" || doc.root.type !== "Flowchart").map((e) => e.activity.id);
      if (!ids.length) return;
      event.preventDefault();
      const step = event.key === "ArrowDown" || event.key === "ArrowRight" ? 1 : -1;
      const at = ids.indexOf(selected);
      const next = ids[(at + step + ids.length) % ids.length] ?? ids[0];
      select(at === -1 ? ids[step > 0 ? 0 : ids.length - 1] : next);
      if (graph) graph.cy.animate({ center: { eles: graph.cy.getElementById(selected) } }, { duration: 150 });
    } else if (event.key === "Enter" && selected) {
      event.preventDefault();
      const first = panel.querySelector("input:not([disabled]), select:not(#activity-picker), textarea");
      if (first) first.focus();
    }
  });

  // ---- JSON tab ----------------------------------------------------------------------
  function showTab(which) {
    const json = which === "json";
    tabCanvas.setAttribute("aria-selected", String(!json));
    tabJson.setAttribute("aria-selected", String(json));
    canvasPane.hidden = json;
    jsonPane.hidden = !json;
    if (json) { jsonText.value = pretty(doc); jsonError.textContent = ""; jsonText.focus(); }
    else if (graph) { graph.cy.resize(); graph.fit(); }
  }
  tabCanvas.addEventListener("click", () => showTab("canvas"));
  tabJson.addEventListener("click", () => showTab("json"));
  let jsonUndoPushed = false;
  jsonText.addEventListener("focus", () => { jsonUndoPushed = false; });
  jsonText.addEventListener("input", debounce(() => {
    let parsed;
    try {
      parsed = JSON.parse(jsonText.value);
    } catch (error) {
      jsonError.textContent = `Not valid JSON yet: ${error.message}`;
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) { jsonError.textContent = "The definition must be a JSON object."; return; }
    jsonError.textContent = "";
    if (!jsonUndoPushed) { undoStack.push(snapshot()); redoStack = []; jsonUndoPushed = true; }
    doc = parsed;
    refresh({ relayout: true, fromJson: true });
  }, 350));

  // ---- save, publish, retract, versions, try it -----------------------------------------
  async function reloadFromServer() {
    const response = await ctx.api.request("GET", `/definitions/${encodeURIComponent(doc.definition_id || meta.definition_id)}/`);
    meta = { ...response.data, etag: response.headers.get("ETag") };
    return response.data;
  }

  async function save({ overwrite = false } = {}) {
    if (readOnly) return false;
    try {
      if (!meta) {
        const response = await ctx.api.request("POST", "/definitions/", { body: doc });
        doc.definition_id = response.data.definition_id;
        await reloadFromServer();
        savedJson = JSON.stringify(doc);
        flash(`Saved ${doc.definition_id} (version ${meta.version}).`);
        history.replaceState(null, "", `${ctx.base}definitions/${encodeURIComponent(doc.definition_id)}`);
      } else {
        const headers = overwrite ? {} : (meta.etag ? { "If-Match": meta.etag } : {});
        const response = await ctx.api.request("PUT", `/definitions/${encodeURIComponent(meta.definition_id)}/`, { body: doc, headers });
        meta = { ...response.data, etag: response.headers.get("ETag") };
        savedJson = JSON.stringify(doc);
        flash(`Saved (version ${meta.version}).`);
      }
      renderTitle();
      renderToolbar();
      renderVersions();
      return true;
    } catch (error) {
      if (error.status === 409 && error.code === "revision_conflict") return conflict(error);
      flash(errorText(error), "error");
      if (error.details && error.details.errors) { problems = error.details.errors; markProblems(); renderProblems(); renderFieldErrors(); }
      return false;
    }
  }

  // Someone saved meanwhile: show theirs next to ours; nothing typed is lost either way.
  async function conflict(error) {
    const theirs = await ctx.api.get(`/definitions/${encodeURIComponent(meta.definition_id)}/`);
    const mine = pretty(doc);
    const answer = await dialog({
      title: "Someone else saved this definition meanwhile",
      body: h("div", { class: "conflict" },
        h("p", {}, `${error.message} Yours is not saved yet. Compare them, then keep yours (it replaces theirs as a new save) or take theirs (yours stays in the box below to copy from).`),
        sideBySide(pretty(documentOf(theirs)), mine, `Saved: version ${theirs.version}${theirs.created_by ? ` by ${theirs.created_by}` : ""}`, "Yours (not saved)")),
      buttons: [{ value: "later", label: "Keep editing" }, { value: "theirs", label: "Take theirs" },
        { value: "mine", label: "Save mine over theirs", class: "primary" }],
    });
    if (answer === "mine") {
      await reloadFromServer();
      return save();
    }
    if (answer === "theirs") {
      undoStack.push(snapshot());
      await reloadFromServer();
      doc = documentOf(theirs);
      savedJson = JSON.stringify(doc);
      refresh({ relayout: true });
      tryPanel.hidden = false;
      clear(tryPanel).append(h("h2", {}, "Your unsaved version"), h("p", { class: "muted" }, "Undo (Ctrl+Z) brings it back onto the canvas."), h("textarea", { class: "code", rows: 10, readonly: true, "aria-label": "Your unsaved version" }, mine));
      return false;
    }
    return false;
  }

  async function publish() {
    if (isDirty() && !(await save())) return;
    if (!meta) return;
    try {
      await ctx.api.post(`/definitions/${encodeURIComponent(meta.definition_id)}/publish/`);
      await reloadFromServer();
      flash(`Published version ${meta.version}.`);
      renderTitle();
      renderToolbar();
    } catch (error) {
      flash(errorText(error), "error");
      if (error.details && error.details.errors) { problems = error.details.errors; markProblems(); renderProblems(); }
    }
  }

  async function retract() {
    try {
      await ctx.api.post(`/definitions/${encodeURIComponent(meta.definition_id)}/retract/`);
      await reloadFromServer();
      flash("Retracted: nothing of this definition is published now.");
      renderTitle();
      renderToolbar();
    } catch (error) { flash(errorText(error), "error"); }
  }

  let watchTimer = null;
  function renderTry() {
    tryPanel.hidden = !tryPanel.hidden;
    if (tryPanel.hidden) return;
    const sample = {};
    for (const input of doc.inputs || []) sample[input.name] = input.default ?? (input.type === "number" || input.type === "integer" ? 0 : input.type === "boolean" ? false : "");
    const inputArea = h("textarea", { id: "try-input", class: "code", rows: 4 }, pretty(sample));
    const correlation = h("input", { id: "try-correlation", type: "text" });
    const result = h("div", { id: "try-result", "aria-live": "polite" });
    const run = h("button", { type: "button", class: "primary", id: "try-run" }, "Run");
    run.addEventListener("click", async () => {
      let input;
      try { input = JSON.parse(inputArea.value || "{}"); } catch (error) { flash(`Input is not JSON: ${error.message}`, "error"); return; }
      if (isDirty()) { flash("Save and publish first: Try it runs the published version.", "error"); return; }
      clear(result).append(h("p", { class: "muted" }, "Running…"));
      try {
        let instance = await ctx.api.post(`/definitions/${encodeURIComponent(meta.definition_id)}/execute/`,
          { input, correlation_id: correlation.value.trim() || null });
        const colour = async () => {
          const [executions, bookmarks] = await Promise.all([
            ctx.api.all(`/instances/${instance.id}/activity-executions/`), ctx.api.all(`/instances/${instance.id}/bookmarks/`)]);
          lastStatuses = statusesFromExecutions(executions, bookmarks);
          if (graph) applyStatuses(graph.cy, lastStatuses);
          canvas.dataset.runStatus = instance.status;
        };
        await colour();
        // A run that waits (an event, a timer) goes on: keep colouring it until it ends.
        clearInterval(watchTimer);
        if (["pending", "running", "suspended"].includes(instance.status)) {
          watchTimer = setInterval(async () => {
            if (document.hidden) return;
            try {
              instance = await ctx.api.get(`/instances/${instance.id}/`);
              await colour();
              const shown = result.querySelector(".badge");
              if (shown) { shown.textContent = instance.status; shown.className = `badge status-${instance.status}`; }
              if (!["pending", "running", "suspended"].includes(instance.status)) clearInterval(watchTimer);
            } catch { clearInterval(watchTimer); }
          }, 2000);
        }
        clear(result).append(h("div", {}, h("p", {}, "Instance ", ctx.link(`instances/${instance.id}`, instance.id.slice(0, 8)), " ", badge(instance.status),
          ` (version ${instance.version})`), h("h3", {}, "Outputs"), jsonBlock(instance.output),
        (instance.incidents || []).length ? h("ul", { class: "error" }, instance.incidents.map((i) => h("li", {}, `${i.activity_id}: ${i.message}`))) : null,
        h("button", { type: "button", onclick: () => { lastStatuses = null; applyStatuses(graph.cy, null); delete canvas.dataset.runStatus; } }, "Clear run colours")));
      } catch (error) {
        clear(result).append(h("p", { class: "error", role: "alert" }, errorText(error)));
      }
    });
    clear(tryPanel).append(h("h2", {}, "Try it"),
      h("p", { class: "muted" }, meta && meta.is_published ? `Runs published version ${meta.version} synchronously.` : "Runs the published version: publish first."),
      h("label", { for: "try-input" }, "Input (JSON)"), inputArea,
      h("label", { for: "try-correlation" }, "Correlation id (optional)"), correlation, run, result);
    inputArea.focus();
  }

  const versionSelect = h("select", { id: "version-picker", "aria-label": "Version" });
  async function renderVersions() {
    clear(versionSelect);
    if (!meta) return;
    const page = await ctx.api.get(`/definitions/${encodeURIComponent(meta.definition_id)}/versions/`, { limit: 500 });
    for (const v of page.results) {
      versionSelect.append(h("option", { value: v.version }, `v${v.version}${v.is_published ? " (published)" : ""}${v.is_latest ? " (latest)" : ""}`));
    }
    versionSelect.value = String(meta.version);
  }
  versionSelect.addEventListener("change", () => {
    const latest = versionSelect.querySelector("option") && versionSelect.querySelector("option").value;
    ctx.go(`definitions/${encodeURIComponent(meta.definition_id)}${versionSelect.value === latest ? "" : `?version=${versionSelect.value}`}`);
  });

  function button(label, id, onclick, attrs = {}) {
    return h("button", { type: "button", id, onclick, ...attrs }, label);
  }

  function renderToolbar() {
    clear(toolbar);
    if (!readOnly) {
      toolbar.append(
        button("Save", "save", () => save(), { class: "primary", title: "Ctrl+S" }),
        button("Undo", "undo", undo, { title: "Ctrl+Z" }), button("Redo", "redo", redo, { title: "Ctrl+Y" }));
      if (meta) {
        toolbar.append(button("Publish", "publish", publish));
        if (meta.is_published || meta.published_version) toolbar.append(button("Retract", "retract", retract));
      }
    }
    toolbar.append(button("Fit", "fit", () => graph && graph.fit()),
      button("Auto layout", "relayout", () => graph && graph.relayout().then(rememberPositions)),
      button("Zoom in", "zoom-in", () => graph && graph.cy.zoom({ level: graph.cy.zoom() * 1.25, renderedPosition: { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 } })),
      button("Zoom out", "zoom-out", () => graph && graph.cy.zoom({ level: graph.cy.zoom() / 1.25, renderedPosition: { x: canvas.clientWidth / 2, y: canvas.clientHeight / 2 } })));
    if (meta) {
      toolbar.append(h("label", { for: "version-picker", class: "inline" }, "Version"), versionSelect,
        ctx.link(`definitions/${encodeURIComponent(meta.definition_id)}/diff`, "Compare versions", { class: "button", id: "compare" }));
      if (ctx.can("operator")) toolbar.append(button("Try it", "try-it", renderTry));
      toolbar.append(ctx.link(`instances?definition_id=${encodeURIComponent(meta.definition_id)}`, "Instances", { class: "button" }));
    }
  }

  function onKey(event) {
    const mod = event.ctrlKey || event.metaKey;
    if (!mod) return;
    const inText = ["INPUT", "TEXTAREA"].includes(document.activeElement && document.activeElement.tagName);
    if (event.key.toLowerCase() === "s") { event.preventDefault(); save(); }
    else if (!inText && event.key.toLowerCase() === "z" && !event.shiftKey) { event.preventDefault(); undo(); }
    else if (!inText && (event.key.toLowerCase() === "y" || (event.key.toLowerCase() === "z" && event.shiftKey))) { event.preventDefault(); redo(); }
  }
  document.addEventListener("keydown", onKey);
  window.onbeforeunload = () => (isDirty() ? true : undefined);
  ctx.leaveGuard = () => !readOnly && isDirty();

  // ---- one refresh after every change ---------------------------------------------------
  function refresh({ relayout = false, fromPanel = false, fromJson = false } = {}) {
    renderTitle();
    drawCanvas(relayout);
    if (!fromPanel) renderPanel();
    if (!fromJson && !jsonPane.hidden) jsonText.value = pretty(doc);
    validate();
  }

  renderToolbar();
  if (!readOnly) renderPalette();
  renderVersions();
  refresh({ relayout: true });
  return () => {
    document.removeEventListener("keydown", onKey);
    clearInterval(watchTimer);
    window.onbeforeunload = null;
    left = true;
    if (graph) graph.destroy();
    graph = null;
  };
}
