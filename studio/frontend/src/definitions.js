// Definitions: search, versions, draft/published badges; create, duplicate, delete.
import { clear, confirmAction, debounce, dialog, errorText, flash, h, when } from "./ui.js";

const PAGE_SIZE = 50;

export function publishBadges(definition) {
  const badges = [];
  if (definition.is_published) badges.push(h("span", { class: "badge published" }, `published v${definition.version}`));
  else {
    badges.push(h("span", { class: "badge draft" }, `draft v${definition.version}`));
    if (definition.published_version) badges.push(h("span", { class: "badge published" }, `published v${definition.published_version}`));
  }
  return badges;
}

export async function renderDefinitionList(ctx, main) {
  let offset = 0;
  const search = h("input", { type: "search", id: "definition-search", placeholder: "id, name or description" });
  const table = h("table", { class: "list", "aria-label": "Definitions" });
  const pager = h("div", { class: "pager" });
  clear(main).append(
    h("div", { class: "page-head" }, h("h1", {}, "Definitions"),
      ctx.can("editor") ? ctx.link("definitions/new", "New definition", { class: "button primary", id: "new-definition" }) : null),
    h("div", { class: "filters" }, h("label", { for: "definition-search" }, "Search"), search),
    table, pager);

  async function duplicate(definition) {
    const input = h("input", { id: "duplicate-id", value: `${definition.definition_id}-copy`, required: true });
    const answer = await dialog({ title: `Duplicate ${definition.definition_id}`,
      body: h("div", {}, h("label", { for: "duplicate-id" }, "New definition id"), input),
      buttons: [{ value: "cancel", label: "Cancel" }, { value: "ok", label: "Duplicate", class: "primary" }] });
    if (answer !== "ok") return;
    try {
      const source = await ctx.api.get(`/definitions/${encodeURIComponent(definition.definition_id)}/`);
      const body = { definition_id: input.value.trim(), name: `${source.name} (copy)`,
        description: source.description, inputs: source.inputs, outputs: source.outputs,
        variables: source.variables, options: source.options, root: source.root };
      const created = await ctx.api.post("/definitions/", body);
      flash(`Created ${created.definition_id}.`);
      ctx.go(`definitions/${encodeURIComponent(created.definition_id)}`);
    } catch (error) {
      flash(errorText(error), "error");
    }
  }

  async function remove(definition) {
    if (!await confirmAction(`Delete ${definition.definition_id}?`,
      "Every version of this definition is deleted. This cannot be undone.", "Delete")) return;
    try {
      await ctx.api.del(`/definitions/${encodeURIComponent(definition.definition_id)}/`);
      flash(`Deleted ${definition.definition_id}.`);
      refresh();
    } catch (error) {
      flash(errorText(error), "error");
    }
  }

  async function refresh() {
    const page = await ctx.api.get("/definitions/", { search: search.value.trim(), limit: PAGE_SIZE, offset });
    clear(table).append(h("thead", {}, h("tr", {},
      ["Name", "Id", "Versions", "Updated", ""].map((t) => h("th", { scope: "col" }, t)))));
    const body = h("tbody");
    for (const d of page.results) {
      const id = encodeURIComponent(d.definition_id);
      body.append(h("tr", { "data-definition": d.definition_id },
        h("td", {}, ctx.link(`definitions/${id}`, d.name)),
        h("td", {}, h("code", {}, d.definition_id)),
        h("td", {}, publishBadges(d), " ", d.version > 1 ? ctx.link(`definitions/${id}/diff`, "compare versions") : ""),
        h("td", {}, when(d.updated_at)),
        h("td", { class: "row-actions" },
          ctx.link(`instances?definition_id=${id}`, "Instances"),
          ctx.can("editor") ? h("button", { type: "button", onclick: () => duplicate(d) }, "Duplicate") : null,
          ctx.can("editor") ? h("button", { type: "button", class: "danger", onclick: () => remove(d) }, "Delete") : null)));
    }
    if (!page.results.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No definitions.")));
    table.append(body);
    clear(pager).append(
      h("button", { type: "button", disabled: offset === 0, onclick: () => { offset -= PAGE_SIZE; refresh(); } }, "Previous"),
      h("span", { class: "muted" }, `${page.count ?? 0} definitions`),
      h("button", { type: "button", disabled: !page.next, onclick: () => { offset += PAGE_SIZE; refresh(); } }, "Next"));
  }

  search.addEventListener("input", debounce(() => { offset = 0; refresh().catch((e) => flash(errorText(e), "error")); }, 250));
  await refresh();
  search.focus();
}
