// Two versions side by side: their graphs (added, removed, changed activities coloured) and
// their JSON (line diff by the `diff` library).
import { diffLines } from "diff";
import { drawDefinition, definitionElements } from "./graph.js";
import { clear, h, pretty } from "./ui.js";

export function sideBySide(leftText, rightText, leftTitle, rightTitle) {
  const left = h("pre", { class: "diff-side", "aria-label": leftTitle });
  const right = h("pre", { class: "diff-side", "aria-label": rightTitle });
  for (const part of diffLines(leftText, rightText)) {
    if (part.removed) left.append(h("span", { class: "del" }, part.value));
    else if (part.added) right.append(h("span", { class: "ins" }, part.value));
    else { left.append(h("span", {}, part.value)); right.append(h("span", {}, part.value)); }
  }
  return h("div", { class: "diff" }, h("div", {}, h("h3", {}, leftTitle), left), h("div", {}, h("h3", {}, rightTitle), right));
}

function activityMap(definition) {
  const map = {};
  const { nodes } = definitionElements(definition);
  const byPath = {};
  for (const node of nodes) byPath[node.data.id] = node.data.path;
  (function walk(value) {
    if (!value || typeof value !== "object") return;
    if (Array.isArray(value)) { value.forEach(walk); return; }
    if (value.id && value.type && byPath[value.id] !== undefined) map[value.id] = JSON.stringify(value);
    Object.values(value).forEach(walk);
  })(definition.root);
  return map;
}

export async function renderDiff(ctx, main, definitionId) {
  const id = encodeURIComponent(definitionId);
  const versions = (await ctx.api.get(`/definitions/${id}/versions/`, { limit: 500 })).results;
  const params = new URLSearchParams(window.location.search);
  const newest = versions[0] ? versions[0].version : 1;
  let a = Number(params.get("a") || Math.max(1, newest - 1));
  let b = Number(params.get("b") || newest);
  const pick = (idName, value) => {
    const select = h("select", { id: idName }, versions.map((v) => h("option", { value: v.version }, `v${v.version}${v.is_published ? " (published)" : ""}`)));
    select.value = String(value);
    return select;
  };
  const left = pick("diff-a", a);
  const right = pick("diff-b", b);
  const body = h("div");
  clear(main).append(h("div", { class: "page-head" }, h("h1", {}, `Compare versions of ${definitionId}`),
    ctx.link(`definitions/${id}`, "Back to the designer", { class: "button" })),
  h("div", { class: "filters" }, h("label", { for: "diff-a" }, "Older"), left, h("label", { for: "diff-b" }, "Newer"), right),
  h("p", { class: "legend muted" }, h("span", { class: "badge diff-added" }, "added"), h("span", { class: "badge diff-removed" }, "removed"), h("span", { class: "badge diff-changed" }, "changed")),
  body);
  let graphs = [];

  async function draw() {
    graphs.forEach((g) => g.destroy());
    graphs = [];
    a = Number(left.value); b = Number(right.value);
    history.replaceState(null, "", `${window.location.pathname}?a=${a}&b=${b}`);
    const [older, newer] = await Promise.all([
      ctx.api.get(`/definitions/${id}/versions/${a}/`), ctx.api.get(`/definitions/${id}/versions/${b}/`)]);
    const oldMap = activityMap(older);
    const newMap = activityMap(newer);
    const leftCanvas = h("div", { class: "canvas diff-canvas", id: "diff-left", role: "img", "aria-label": `Version ${a}` });
    const rightCanvas = h("div", { class: "canvas diff-canvas", id: "diff-right", role: "img", "aria-label": `Version ${b}` });
    const strip = (d) => { const { version, is_latest, is_published, published_version, created_by, created_at, updated_at, published_at, ...doc } = d; return doc; };
    clear(body).append(h("div", { class: "diff" }, h("div", {}, h("h2", {}, `v${a}`), leftCanvas), h("div", {}, h("h2", {}, `v${b}`), rightCanvas)),
      h("h2", {}, "JSON"), sideBySide(pretty(strip(older)), pretty(strip(newer)), `v${a}`, `v${b}`));
    const g1 = drawDefinition(leftCanvas, older);
    const g2 = drawDefinition(rightCanvas, newer);
    graphs = [g1, g2];
    g1.cy.nodes().forEach((n) => { if (!(n.id() in newMap)) n.addClass("diff-removed"); else if (newMap[n.id()] !== oldMap[n.id()] && !n.isParent()) n.addClass("diff-changed"); });
    g2.cy.nodes().forEach((n) => { if (!(n.id() in oldMap)) n.addClass("diff-added"); else if (newMap[n.id()] !== oldMap[n.id()] && !n.isParent()) n.addClass("diff-changed"); });
    // What the colours say, readable without seeing them.
    const marks = (g) => Object.fromEntries(g.cy.nodes().filter((n) => n.classes().some((c) => c.startsWith("diff-")))
      .map((n) => [n.id(), n.classes().find((c) => c.startsWith("diff-")).slice(5)]));
    leftCanvas.dataset.diff = JSON.stringify(marks(g1));
    rightCanvas.dataset.diff = JSON.stringify(marks(g2));
  }
  left.addEventListener("change", draw);
  right.addEventListener("change", draw);
  await draw();
  return () => graphs.forEach((g) => g.destroy());
}
