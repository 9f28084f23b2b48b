// Operations: worker processes with their heartbeats, dead letters with re-drive.
import { badge, clear, confirmAction, errorText, flash, h, jsonBlock, relative, when } from "./ui.js";

export async function renderOperations(ctx, main) {
  const workers = h("section", { class: "card", "aria-labelledby": "workers-title" });
  const letters = h("section", { class: "card", "aria-labelledby": "letters-title" });
  clear(main).append(h("h1", {}, "Workers and dead letters"), workers, letters);

  async function redrive(letter) {
    if (!await confirmAction("Re-drive this message?", "Its step is published again and runs on the workers.", "Re-drive", "primary")) return;
    try {
      await ctx.api.post(`/dead-letters/${letter.id}/redrive/`);
      flash("Re-driven.");
      refresh();
    } catch (error) {
      flash(errorText(error), "error");
    }
  }

  async function refresh() {
    const [workerPage, letterPage] = await Promise.all([
      ctx.api.get("/workers/", { limit: 200 }), ctx.api.get("/dead-letters/", { limit: 200 }),
    ]);
    clear(workers).append(h("h2", { id: "workers-title" }, `Workers (${workerPage.count ?? workerPage.results.length})`),
      h("table", { class: "list", "aria-label": "Workers" },
        h("thead", {}, h("tr", {}, ["Name", "Host", "PID", "Queues", "Started", "Last heartbeat", "Steps in flight", "State"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, workerPage.results.map((w) => h("tr", {},
          h("td", {}, w.name), h("td", {}, w.hostname), h("td", {}, String(w.pid)),
          h("td", {}, (w.queues || []).join(", ")), h("td", {}, when(w.started)),
          h("td", {}, `${when(w.last_heartbeat)} (${relative(w.last_heartbeat)})`),
          h("td", {}, String(w.steps_in_flight)), h("td", {}, badge(w.state)))))));
    clear(letters).append(h("h2", { id: "letters-title" }, `Dead letters (${letterPage.count ?? letterPage.results.length})`));
    if (!letterPage.results.length) { letters.append(h("p", { class: "muted" }, "None: no message reached a dead-letter queue.")); return; }
    letters.append(h("table", { class: "list", "aria-label": "Dead letters" },
      h("thead", {}, h("tr", {}, ["Received", "Queue", "Task", "Instance", "Receives", "Re-driven", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, letterPage.results.map((l) => h("tr", {},
        h("td", {}, when(l.received_at)), h("td", {}, l.queue), h("td", {}, l.task_name),
        h("td", {}, l.instance_id ? ctx.link(`instances/${l.instance_id}`, l.instance_id.slice(0, 8)) : "—"),
        h("td", {}, String(l.receive_count)), h("td", {}, when(l.redriven_at)),
        h("td", {}, ctx.can("operator") ? h("button", { type: "button", onclick: () => redrive(l) }, "Re-drive") : "",
          h("details", {}, h("summary", {}, "Message"), jsonBlock(l.body))))))));
  }

  await refresh();
  const timer = setInterval(() => { if (!document.hidden) refresh().catch(() => {}); }, 2000);
  return () => clearInterval(timer);
}
