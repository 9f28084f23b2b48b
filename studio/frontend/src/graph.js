// One way to draw a Weft definition: used by the Studio's designer and monitor and by the
// Django admin's definition and instance pages. Cytoscape.js renders, ELK lays out.
import cytoscape from "cytoscape";
import cytoscapeElk from "cytoscape-elk";
import cytoscapeNavigator from "cytoscape-navigator";

cytoscape.use(cytoscapeElk);
cytoscapeNavigator(cytoscape);

// Properties that hold child activities, and how each child is labelled inside its container.
const CHILD_SLOTS = [
  ["activities", "list"], ["branches", "list"], ["then", "one"], ["else", "one"],
  ["body", "one"], ["default", "one"],
];

const STATUS_LABELS = {
  completed: "done", running: "running", faulted: "faulted", waiting: "waiting",
  cancelled: "cancelled",
};

function labelOf(activity) {
  const name = activity.name && activity.name !== activity.id ? `${activity.name}\n` : "";
  return `${name}${activity.id}\n${activity.type}`;
}

// Turns a definition document into Cytoscape elements. The root Flowchart's activities are
// top-level nodes; every other container (Sequence, If, Switch, Fork, loops, nested
// Flowcharts) is a compound node holding its children. `data.path` is the JSON path of the
// activity, so validation errors (`root.activities[2].condition`) find their node.
export function definitionElements(definition) {
  const nodes = [];
  const edges = [];
  const root = (definition && definition.root) || {};
  const seen = new Set();

  function addConnections(flowchart, parent) {
    for (const [index, connection] of (flowchart.connections || []).entries()) {
      if (!connection || !seen.has(connection.source) || !seen.has(connection.target)) continue;
      const outcome = connection.outcome || "done";
      edges.push({ data: {
        id: `edge:${parent || "root"}:${index}`, source: connection.source,
        target: connection.target, outcome, label: outcome === "done" ? "" : outcome,
        connectionIndex: index, flowchartParent: parent || "",
      } });
    }
  }

  function walk(activity, path, parent, slotLabel) {
    if (!activity || typeof activity !== "object" || !activity.id || seen.has(activity.id)) return;
    seen.add(activity.id);
    const children = [];
    for (const [slot, shape] of CHILD_SLOTS) {
      const value = activity[slot];
      if (shape === "list" && Array.isArray(value)) {
        value.forEach((child, i) => children.push([child, `${path}.${slot}[${i}]`,
          slot === "branches" ? `branch ${i + 1}` : ""]));
      } else if (shape === "one" && value && typeof value === "object" && value.type) {
        children.push([value, `${path}.${slot}`, slot]);
      }
    }
    if (Array.isArray(activity.cases)) {
      activity.cases.forEach((c, i) => {
        if (c && c.activity && typeof c.activity === "object") {
          children.push([c.activity, `${path}.cases[${i}].activity`, `case ${i + 1}`]);
        }
      });
    }
    const label = (slotLabel ? `[${slotLabel}] ` : "") +
      (children.length ? `${activity.name || activity.id} · ${activity.type}` : labelOf(activity));
    nodes.push({ data: {
      id: activity.id, label, type: activity.type, path, parent,
      container: children.length > 0,
    }, classes: children.length ? "container" : "activity" });
    let previous = null;
    for (const [child, childPath, childLabel] of children) {
      walk(child, childPath, activity.id, childLabel);
      if (activity.type === "Sequence" && previous && child && seen.has(child.id)) {
        edges.push({ data: { id: `seq:${previous}->${child.id}`, source: previous,
          target: child.id, label: "", outcome: "next" }, classes: "implicit" });
      }
      if (child && child.id) previous = child.id;
    }
    if (activity.type === "Flowchart" && path !== "root") addConnections(activity, activity.id);
  }

  if (root.type === "Flowchart") {
    (root.activities || []).forEach((a, i) => walk(a, `root.activities[${i}]`, undefined, ""));
    addConnections(root, undefined);
  } else if (root.type) {
    walk(root, "root", undefined, "");
  }
  return { nodes, edges };
}

// Per activity id: the latest execution's status and how many times it ran (loops, retries).
export function statusesFromExecutions(executions, bookmarks) {
  const byActivity = {};
  for (const execution of executions || []) {
    const entry = byActivity[execution.activity_id] || { count: 0 };
    entry.count += 1;
    entry.status = execution.status;
    byActivity[execution.activity_id] = entry;
  }
  for (const bookmark of bookmarks || []) {
    const entry = byActivity[bookmark.activity_id] || { count: 1 };
    entry.status = "waiting";
    byActivity[bookmark.activity_id] = entry;
  }
  return byActivity;
}

const STYLE = [
  { selector: "node", style: {
    "shape": "round-rectangle", "background-color": "#ffffff", "border-width": 1.5,
    "border-color": "#5b6b7f", "label": "data(label)", "text-wrap": "wrap",
    "text-valign": "center", "text-halign": "center", "font-size": 11, "color": "#1d2733",
    "width": 150, "height": 54, "text-max-width": 140,
  } },
  { selector: "node.container", style: {
    "background-color": "#f3f6fa", "background-opacity": 1, "border-style": "dashed",
    "text-valign": "top", "text-halign": "center", "padding": 14, "font-weight": "bold",
    "text-wrap": "none", "text-max-width": 400, "text-background-color": "#ffffff",
    "text-background-opacity": 0.85, "text-background-padding": 2,
  } },
  { selector: "edge", style: {
    "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.6,
    "line-color": "#7b8a9c", "target-arrow-color": "#7b8a9c", "label": "data(label)",
    "font-size": 10, "text-background-color": "#ffffff", "text-background-opacity": 1,
    "text-background-padding": 2, "color": "#24405f",
  } },
  { selector: "edge.implicit", style: { "line-style": "dotted" } },
  { selector: "node.status-completed", style: { "background-color": "#d7f5dd", "border-color": "#1f8a3b" } },
  { selector: "node.status-running", style: { "background-color": "#dcecff", "border-color": "#1f63c6", "border-width": 3 } },
  { selector: "node.status-faulted", style: { "background-color": "#fde0e0", "border-color": "#c62828", "border-width": 3 } },
  { selector: "node.status-waiting", style: { "background-color": "#fff3cd", "border-color": "#b7791f", "border-width": 3 } },
  { selector: "node.status-cancelled", style: { "background-color": "#eceff1", "border-color": "#607d8b" } },
  { selector: "node.not-reached", style: { "opacity": 0.55 } },
  { selector: "node.invalid", style: { "border-color": "#d32f2f", "border-width": 4, "border-style": "double" } },
  { selector: "node.diff-added", style: { "background-color": "#d7f5dd", "border-color": "#1f8a3b", "border-width": 3 } },
  { selector: "node.diff-removed", style: { "background-color": "#fde0e0", "border-color": "#c62828", "border-width": 3 } },
  { selector: "node.diff-changed", style: { "background-color": "#fff3cd", "border-color": "#b7791f", "border-width": 3 } },
  { selector: ":selected", style: { "overlay-color": "#1f63c6", "overlay-opacity": 0.18, "border-color": "#1f63c6" } },
];

export const LAYOUT = {
  name: "elk", fit: true, padding: 24, animate: false, nodeDimensionsIncludeLabels: false,
  elk: {
    "algorithm": "layered", "elk.direction": "DOWN",
    "elk.hierarchyHandling": "INCLUDE_CHILDREN",
    "elk.layered.spacing.nodeNodeBetweenLayers": 40, "elk.spacing.nodeNode": 30,
    "elk.padding": "[top=30,left=12,bottom=12,right=12]",
  },
};

// ELK's defaults suit small graphs; large ones trade some crossing minimisation for time, and
// nested-group handling is only paid for when there are groups.
export function layoutFor(cy) {
  const large = cy.nodes().length > 300;
  const nested = cy.nodes(":parent").length > 0;
  return { ...LAYOUT, elk: {
    ...LAYOUT.elk,
    "elk.hierarchyHandling": nested ? "INCLUDE_CHILDREN" : "SEPARATE_CHILDREN",
    "elk.layered.thoroughness": large ? 1 : 7,
    "elk.layered.crossingMinimization.greedySwitch.type": large ? "OFF" : "TWO_SIDED",
    "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
    // Cytoscape draws the edges itself from node positions: ELK's routing would be wasted.
    "elk.edgeRouting": "POLYLINE",
  } };
}

// Colours nodes by what happened: done, running, faulted, waiting; the rest "not reached".
// Labels gain the run count when an activity ran more than once (loops, retries).
export function applyStatuses(cy, statuses) {
  // Also written out as data on the container: what the picture shows, readable by tools.
  const shown = {};
  const runs = {};
  cy.batch(() => {
    cy.nodes().forEach((node) => {
      for (const status of Object.keys(STATUS_LABELS)) node.removeClass(`status-${status}`);
      node.removeClass("not-reached");
      const base = node.data("baseLabel") || node.data("label");
      node.data("baseLabel", base);
      const entry = statuses && statuses[node.id()];
      if (!statuses) { node.data("label", base); return; }
      if (!entry) { node.addClass("not-reached"); node.data("label", base); node.data("status", "not reached"); return; }
      node.addClass(`status-${entry.status}`);
      shown[node.id()] = entry.status;
      if (entry.count > 1) runs[node.id()] = entry.count;
      node.data("status", STATUS_LABELS[entry.status] || entry.status);
      const separator = node.isParent() ? " · " : "\n";
      const suffix = `${separator}${STATUS_LABELS[entry.status] || entry.status}${entry.count > 1 ? ` ×${entry.count}` : ""}`;
      node.data("label", base + suffix);
    });
  });
  cy.container().dataset.activityStatuses = JSON.stringify(shown);
  cy.container().dataset.activityRuns = JSON.stringify(runs);
}

// Draws `definition` into `container`. Options: statuses (from statusesFromExecutions),
// minimap (an element with an id, for the navigator), elk (ELK options over the defaults), onSelect(activityId|null), layout (false keeps
// positions given in `positions`). Returns { cy, relayout(), fit(), destroy() }.
export function drawDefinition(container, definition, options = {}) {
  const { nodes, edges } = definitionElements(definition);
  const cy = cytoscape({
    container, elements: { nodes, edges }, style: STYLE,
    minZoom: 0.05, maxZoom: 3, boxSelectionEnabled: false,
  });
  let navigator = null;
  // ELK lays out asynchronously and then moves the nodes and fits the view: on an instance
  // destroyed meanwhile (the user left the page) that throws inside ELK's promise. So a graph
  // destroyed while a layout runs is destroyed when that layout stops, and nothing waiting on
  // it runs.
  let layoutsRunning = 0;
  let destroyed = false;
  function destroyNow() {
    cy.destroy();
    // cytoscape's renderer resizes the graph 100 ms after its container's attributes change
    // (debounced, and not cancelled by destroy()); we set data-* attributes on the container
    // (ready, problems...) right before the user may leave: that late resize must do nothing.
    cy.resize = () => cy;
  }
  const graph = {
    cy,
    layoutMs: 0,
    elementsOf: definitionElements,
    relayout() {
      const started = performance.now();
      return new Promise((resolve) => {
        const chosen = layoutFor(cy);
        const layout = cy.layout(options.elk ? { ...chosen, elk: { ...chosen.elk, ...options.elk } } : chosen);
        layout.one("layoutstop", () => {
          layoutsRunning -= 1;
          if (destroyed) {
            if (layoutsRunning === 0) destroyNow();
            return;
          }
          graph.layoutMs = performance.now() - started;
          container.dataset.layoutMs = String(Math.round(graph.layoutMs));
          container.dataset.ready = "true";
          resolve(graph);
        });
        layoutsRunning += 1;
        layout.run();
      });
    },
    fit() { cy.fit(undefined, 24); },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      if (navigator) {
        // Its thumbnail update is throttled: one may still be pending, and it reads the graph.
        if (navigator._onRenderHandler && navigator._onRenderHandler.cancel) {
          navigator._onRenderHandler.cancel();
        }
        navigator.destroy();
        // Should a thumbnail update still fire once: an empty picture, not a dead renderer.
        cy.png = () => "";
      }
      if (layoutsRunning === 0) destroyNow();
    },
  };
  if (options.statuses !== undefined) applyStatuses(cy, options.statuses);
  if (options.onSelect) {
    cy.on("tap", "node", (event) => options.onSelect(event.target.id()));
    cy.on("tap", (event) => { if (event.target === cy) options.onSelect(null); });
  }
  container.dataset.ready = "false";
  const ready = graph.relayout();
  if (options.minimap) {
    ready.then(() => {
      if (destroyed) return;
      // The extension takes a selector (an element would make it open its own panel).
      navigator = cy.navigator({ container: `#${options.minimap.id}`, viewLiveFramerate: 0,
        thumbnailEventFramerate: 10, rerenderDelay: 200 });
    });
  }
  graph.ready = ready;
  return graph;
}

// The admin pages: every element `[data-weft-graph]` names a <script type="application/json">
// holding {definition, statuses}; drawn when the page loads.
export function drawEmbedded(root = document) {
  for (const element of root.querySelectorAll("[data-weft-graph]")) {
    const source = document.getElementById(element.dataset.weftGraph);
    if (!source) continue;
    const data = JSON.parse(source.textContent);
    const statuses = data.executions ? statusesFromExecutions(data.executions, data.bookmarks) : undefined;
    drawDefinition(element, data.definition, { statuses });
  }
}
