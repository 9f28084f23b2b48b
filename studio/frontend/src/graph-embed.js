// The admin's copy of the Studio drawing: draws every [data-weft-graph] on the page.
import { drawDefinition, drawEmbedded, statusesFromExecutions } from "./graph.js";

window.WeftGraph = { drawDefinition, drawEmbedded, statusesFromExecutions };
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => drawEmbedded());
else drawEmbedded();
