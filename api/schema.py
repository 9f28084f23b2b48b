"""OpenAPI post-processing: one summary and description per operation, grouped by resource,
with the `X-Weft-Tenant` header and the error envelope on every operation.

The table lives here rather than spread over decorators so that a reader sees the whole API in
one place, and so that a new endpoint without its own words fails
`tests/integration/api/test_api_docs.py`.
"""

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_CODES = {
    "400": "Invalid input: `details.errors` lists `{path, message}` per problem",
    "401": "No valid access token",
    "403": "Your role in this tenant is too low (or you are not a member of it)",
    "404": "Not found in this tenant (other tenants' objects are never visible)",
    "409": "Conflict: an impossible transition or a concurrent change",
    "429": "Throttled: retry after the `Retry-After` header's seconds",
    "500": "Unexpected error (logged with the request id of `X-Request-ID`)",
}
PUBLIC = {"/api/v1/", "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"}
TENANT_HEADER = {
    "name": "X-Weft-Tenant", "in": "header", "required": False,
    "schema": {"type": "string"},
    "description": "The tenant (slug) to act in. Needed only when your user belongs to "
                   "several tenants; otherwise your only tenant is used.",
}

OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("get", "/api/v1/"): (
        "Index of the API",
        "Links to every collection, URL templates of the per-object endpoints, the API "
        "version and where the documentation is. Needs no token."),
    ("post", "/api/v1/auth/token/"): (
        "Get an access and a refresh token",
        "Exchange a username and password for a short-lived access token (send it as "
        "`Authorization: Bearer <access>`) and a refresh token."),
    ("post", "/api/v1/auth/token/refresh/"): (
        "Refresh an access token",
        "Exchange a refresh token for a new access token."),
    ("get", "/api/v1/activity-types/"): (
        "List activity types",
        "Descriptors of every activity type a definition may use, built-in and user "
        "activities: family, kind, whether it can be a trigger, properties and outcomes."),
    ("get", "/api/v1/definitions/"): (
        "List definitions",
        "The latest version of each definition of the tenant, with the number of its "
        "published version. Filters: `search` (id, name, description), `published`."),
    ("post", "/api/v1/definitions/"): (
        "Create a definition",
        "Validate and save a new definition as a draft, version 1. Definition errors are a "
        "400 whose `details.errors` carry JSON paths such as `root.activities[2].condition`."),
    ("get", "/api/v1/definitions/{definition_id}/"): (
        "Get a definition",
        "The latest version of a definition, document included."),
    ("put", "/api/v1/definitions/{definition_id}/"): (
        "Save a definition",
        "Replace the latest draft, or create a new version when the latest one is (or was) "
        "published: instances stay pinned to the version they started on."),
    ("delete", "/api/v1/definitions/{definition_id}/"): (
        "Delete a definition",
        "Delete every version of the definition (and their triggers)."),
    ("post", "/api/v1/definitions/validate/"): (
        "Validate a definition",
        "Check a definition body without saving it: `{valid, errors: [{path, message}]}`."),
    ("post", "/api/v1/definitions/{definition_id}/publish/"): (
        "Publish a definition",
        "Publish the latest version (at most one version is published) and index its "
        "triggers; the previously published version is retracted."),
    ("post", "/api/v1/definitions/{definition_id}/retract/"): (
        "Retract a definition",
        "Unpublish the published version and remove its triggers; running instances go on."),
    ("get", "/api/v1/definitions/{definition_id}/versions/"): (
        "List the versions of a definition",
        "Every version, newest first, each with `published_version`: the number of the "
        "version that is published now (or null)."),
    ("get", "/api/v1/definitions/{definition_id}/versions/{version}/"): (
        "Get one version of a definition",
        "One version, document included."),
    ("post", "/api/v1/definitions/{definition_id}/execute/"): (
        "Run a workflow now",
        "Start the published version and run it in this request until it finishes, waits "
        "or faults (within a time and step budget, then the workers go on); 200 with the "
        "instance."),
    ("post", "/api/v1/definitions/{definition_id}/dispatch/"): (
        "Start a workflow on the workers",
        "Start the published version asynchronously: 202 with `{id, status}`; the workers "
        "run it."),
    ("post", "/api/v1/auth/token/revoke/"): (
        "Revoke a refresh token (log out)",
        "Blacklists the refresh token in the body; access tokens issued from it expire on "
        "their own (30 minutes by default)."),
    ("post", "/api/v1/auth/tokens/revoke-all/"): (
        "Revoke all of my tokens",
        "Log out everywhere: every access and refresh token of the caller stops working at "
        "once (the caller's token version is bumped)."),
    ("post", "/api/v1/members/{username}/revoke-tokens/"): (
        "Revoke all tokens of a member",
        "A tenant admin revokes every token of one of the tenant's members (a lost laptop, a "
        "leaver). Users outside the tenant are a 404."),
    ("get", "/api/v1/secrets/"): (
        "List secret names",
        "The tenant's secrets by name with their dates; values are write-only and never "
        "returned. Editors and admins."),
    ("post", "/api/v1/secrets/"): (
        "Create a secret",
        "`{name, value}`: stored encrypted; definitions read it as `secrets.NAME`. Admins."),
    ("get", "/api/v1/secrets/{name}/"): (
        "One secret's name and dates",
        "Never its value. Editors and admins."),
    ("put", "/api/v1/secrets/{name}/"): (
        "Create or replace a secret's value",
        "`{value}`: the next read of `secrets.NAME` gets the new value. Admins."),
    ("delete", "/api/v1/secrets/{name}/"): (
        "Delete a secret",
        "Definitions that still name it are refused when saved; running instances that read "
        "it get an incident. Admins."),
    ("get", "/api/v1/me/"): (
        "Who am I",
        "The signed-in user, the tenants they belong to with their role in each, and the "
        "tenant this request acts in (the Studio's tenant switcher reads it)."),
    ("get", "/api/v1/instances/counts/"): (
        "Count instances by status",
        "How many instances of the tenant are in each status, with the same filters as the "
        "instance list (`definition_id`, `version`, `correlation_id`, time range)."),
    ("get", "/api/v1/instances/"): (
        "List instances",
        "Instances of the tenant, newest first. Filters: `definition_id`, `status`, "
        "`correlation_id`, `created_after`, `created_before` (ISO-8601)."),
    ("get", "/api/v1/instances/{instance_id}/"): (
        "Get an instance",
        "One instance with its incidents, `held` (an operator's suspend, with who and "
        "since when) and `waiting_on`: the events, timers, HTTP requests, child workflows, "
        "retries and tasks it waits for, with one plain sentence each in `summary`. An "
        "instance that retention archived and deleted answers 200 with `archived: true` and "
        "`archive` (`bucket`, `key`, `archived_at`, `size`, `sha256`)."),
    ("get", "/api/v1/instances/{instance_id}/archive/"): (
        "Read an archived instance",
        "An instance that retention archived to S3 and deleted, read back from its archive: "
        "the instance row, its journal, activity executions and incidents as they were "
        "(secrets masked). 404 when the instance has no archive; 503 when the archive "
        "cannot be read or does not match its checksum."),
    ("delete", "/api/v1/instances/{instance_id}/"): (
        "Delete an instance",
        "Delete a finished, faulted or cancelled instance and its records (409 while it is "
        "active: cancel it first)."),
    ("post", "/api/v1/instances/{instance_id}/cancel/"): (
        "Cancel an instance",
        "Cancel an active instance: its pending steps, bookmarks and child instances too. "
        "The journal names who did it."),
    ("post", "/api/v1/instances/{instance_id}/suspend/"): (
        "Suspend (hold) an instance",
        "Hold an active instance: no new step runs until it is resumed. `held`, `held_by` "
        "and `held_at` show the hold; the journal names who did it."),
    ("post", "/api/v1/instances/{instance_id}/resume/"): (
        "Resume a held instance",
        "Release an operator's hold; the steps that waited are published again."),
    ("post", "/api/v1/instances/{instance_id}/retry/"): (
        "Retry a faulted instance",
        "Run a faulted instance again from the activity that faulted, on the workers."),
    ("get", "/api/v1/instances/{instance_id}/journal/"): (
        "Read an instance's journal",
        "The execution log in sequence order: activity starts and completions, bookmarks, "
        "log lines, incidents and operator actions (event `operator`, naming who)."),
    ("get", "/api/v1/instances/{instance_id}/activity-executions/"): (
        "List an instance's activity executions",
        "One record per activity execution: input, output, outcome, error, the traceback of "
        "a failed user activity, attempt and timings."),
    ("get", "/api/v1/instances/{instance_id}/bookmarks/"): (
        "List an instance's bookmarks",
        "What the instance waits for, as bookmarks (resume one with "
        "`POST bookmarks/{id}/resume/`)."),
    ("post", "/api/v1/events/{name}/"): (
        "Publish an event",
        "Resume every instance waiting for this event (same correlation id, or waits without "
        "one) and start every published definition triggered by it. When nothing was "
        "resumed or started, `reason` says why; `retain_seconds` keeps the event for a wait "
        "that comes later."),
    ("post", "/api/v1/bookmarks/{bookmark_id}/resume/"): (
        "Resume a bookmark",
        "Resume one bookmark of any kind with a payload (the activity's `result`); the "
        "journal names who did it."),
    ("get", "/api/v1/workers/"): (
        "List worker processes",
        "Worker processes with their queues, heartbeats, steps in flight and state "
        "(online, stopping, stopped, lost). Workers are shared by every tenant."),
    ("get", "/api/v1/dead-letters/"): (
        "List dead letters",
        "Broker messages that reached a dead-letter queue, with the step and instance they "
        "belong to."),
    ("post", "/api/v1/dead-letters/{dead_letter_id}/redrive/"): (
        "Re-drive a dead letter",
        "Run the message's step again: a faulted instance is retried from the activity that "
        "faulted, an active one gets its step back. The journal names who did it."),
    ("get", "/api/v1/audit/"): (
        "Read the audit log",
        "Who changed what in the tenant, newest first (admins only): definition, instance, "
        "bookmark, dead-letter, event, membership and token changes made through the API, the "
        "admin or the command line, with the request id and client address. Filters: "
        "`action` (exact, or a prefix ending in `.`), `actor`, `target_type`, `target_id`, "
        "`since`, `until`; pages by cursor (`next`)."),
}


TAGS = [
    ("api", "The index of the API."),
    ("auth", "Access and refresh tokens."),
    ("definitions", "Write, validate, version, publish and start workflow definitions."),
    ("instances", "Instances: what they do and wait for, their records, operator actions."),
    ("events", "Events that resume waiting instances and start event-triggered workflows."),
    ("operations", "Activity types, worker processes and dead letters."),
    ("audit", "Who changed what: the append-only audit log."),
]
TAG_OF_SEGMENT = {"": "api", "auth": "auth", "definitions": "definitions",
                  "instances": "instances", "bookmarks": "instances", "events": "events",
                  "audit": "audit"}


def _tag(path: str) -> str:
    segment = path.removeprefix("/api/v1/").split("/", 1)[0]
    return TAG_OF_SEGMENT.get(segment, "operations")


def document_tenant_header_and_errors(result, generator, request, public):
    """drf-spectacular post-processing hook (SPECTACULAR_SETTINGS.POSTPROCESSING_HOOKS)."""
    result["tags"] = [{"name": name, "description": text} for name, text in TAGS]
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            operation["tags"] = [_tag(path)]
            words = OPERATIONS.get((method, path))
            if words is not None:
                operation["summary"], operation["description"] = words
            responses = operation.setdefault("responses", {})
            codes = ("400", "429", "500") if path in PUBLIC else tuple(ERROR_CODES)
            for code in codes:
                responses.setdefault(code, {
                    "description": ERROR_CODES[code],
                    "content": {"application/json": {"schema": ERROR_REF}},
                })
            if path not in PUBLIC:
                parameters = operation.setdefault("parameters", [])
                if not any(p.get("name") == "X-Weft-Tenant" for p in parameters):
                    parameters.append(dict(TENANT_HEADER))
    return result
