"""The Studio's drawing on the Django admin's definition and instance pages: the same bundle
(`graph-*.js`) draws it, from data the page carries in a JSON script element."""

from django import template

from runtime.engine.masking import mask_secrets
from studio.assets import asset

register = template.Library()

EXECUTIONS_DRAWN = 5000  # an instance page never needs more to colour its graph


def _drawn(body) -> dict:
    """The definition as drawn: a value written literally under a secret-looking key stays
    out of the page (the drawing needs the shape, not the secrets)."""
    return mask_secrets(body or {})


@register.inclusion_tag("studio/admin_graph.html")
def weft_definition_graph(definition) -> dict:
    return {"graph_js": asset("graph.js"), "data": {"definition": _drawn(definition.body)},
            "caption": "The workflow, drawn as in Weft Studio."}


@register.inclusion_tag("studio/admin_graph.html")
def weft_instance_graph(instance) -> dict:
    executions = list(
        instance.activity_executions.order_by("id").values("activity_id", "status")[
            :EXECUTIONS_DRAWN]
    )
    bookmarks = list(instance.bookmarks.values("activity_id"))
    return {
        "graph_js": asset("graph.js"),
        "data": {"definition": _drawn(instance.definition_version.body),
                 "executions": executions, "bookmarks": bookmarks},
        "caption": "What happened: done, running, waiting, faulted; faded activities were not "
                   "reached.",
    }
