"""Index hygiene and the indexes of the keyset lists (docs/decisions.md, "Indexes and keyset
lists").

- Drops the single-column foreign-key indexes that a composite (or partial) index already leads
  with, on the tables every step writes to. The drop is `DROP INDEX CONCURRENTLY` in the
  database and a plain `db_index=False` in Django's state: Django's own AlterField would drop
  and re-add the foreign key, which re-checks every row of a table that may hold millions.
- Adds the indexes the lists and look-ups need, `CONCURRENTLY` (writers are never blocked
  while they build), and replaces instance_definition (tenant, definition_id, status) by
  instance_definition_status (the same, then created_at), built before the old one goes.

Not atomic: `CREATE/DROP INDEX CONCURRENTLY` cannot run in a transaction. The drops are
idempotent (IF EXISTS); an index build that failed half-way leaves an INVALID index to drop
by hand before running it again (PostgreSQL's rule for CREATE INDEX CONCURRENTLY).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q

# (model, field, the index Django created for the foreign key, its column)
_FOREIGN_KEY_INDEXES = [
    ("activityexecution", "instance", "workflows_activityexecution_instance_id_abd3a78d",
     "instance_id"),
    ("journalentry", "instance", "workflows_journalentry_instance_id_471ebe85", "instance_id"),
    ("bookmark", "instance", "workflows_bookmark_instance_id_55290fd7", "instance_id"),
    ("bookmark", "tenant", "workflows_bookmark_tenant_id_8acb0d36", "tenant_id"),
    ("step", "instance", "workflows_step_instance_id_cce14566", "instance_id"),
    ("triggerfire", "trigger", "workflows_triggerfire_trigger_id_900ce4cb", "trigger_id"),
    ("workflowinstance", "tenant", "workflows_workflowinstance_tenant_id_f0993ac6",
     "tenant_id"),
    ("workflowinstance", "parent", "workflows_workflowinstance_parent_id_b025bbee",
     "parent_id"),
    ("auditentry", "tenant", "workflows_auditentry_tenant_id_1bcff12f", "tenant_id"),
    ("retainedevent", "tenant", "workflows_retainedevent_tenant_id_96b7b2c3", "tenant_id"),
    ("deadletter", "tenant", "workflows_deadletter_tenant_id_63591c93", "tenant_id"),
    ("instancearchive", "tenant", "workflows_instancearchive_tenant_id_947ab44a", "tenant_id"),
]

_FIELDS = {
    ("activityexecution", "instance"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="activity_executions",
        to="workflows.workflowinstance"),
    ("journalentry", "instance"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="journal",
        to="workflows.workflowinstance"),
    ("bookmark", "instance"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="bookmarks",
        to="workflows.workflowinstance"),
    ("bookmark", "tenant"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="bookmarks",
        to="workflows.tenant"),
    ("step", "instance"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="steps",
        to="workflows.workflowinstance"),
    ("triggerfire", "trigger"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="fires",
        to="workflows.workflowtrigger"),
    ("workflowinstance", "tenant"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="instances",
        to="workflows.tenant"),
    ("workflowinstance", "parent"): models.ForeignKey(
        blank=True, db_index=False, null=True, on_delete=models.deletion.SET_NULL,
        related_name="children", to="workflows.workflowinstance"),
    ("auditentry", "tenant"): models.ForeignKey(
        blank=True, db_index=False, null=True, on_delete=models.deletion.SET_NULL,
        related_name="+", to="workflows.tenant"),
    ("retainedevent", "tenant"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="+",
        to="workflows.tenant"),
    ("deadletter", "tenant"): models.ForeignKey(
        blank=True, db_index=False, null=True, on_delete=models.deletion.CASCADE,
        related_name="+", to="workflows.tenant"),
    ("instancearchive", "tenant"): models.ForeignKey(
        db_index=False, on_delete=models.deletion.CASCADE, related_name="+",
        to="workflows.tenant"),
}


def _drop_foreign_key_index(model, field, index, column):
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model, name=field,
                                                field=_FIELDS[(model, field)])],
        database_operations=[migrations.RunSQL(
            f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"',
            reverse_sql=f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" '
                        f'ON "workflows_{model}" ("{column}")',
        )],
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("workflows", "0016_retention_and_archive"),
    ]

    operations = [
        # New indexes first, so that no look-up is ever without one.
        AddIndexConcurrently(
            model_name="workflowinstance",
            index=models.Index(fields=["tenant", "definition_id", "-created_at"],
                               name="instance_definition_recent"),
        ),
        AddIndexConcurrently(
            model_name="workflowinstance",
            index=models.Index(fields=["tenant", "definition_id", "status", "-created_at"],
                               name="instance_definition_status"),
        ),
        AddIndexConcurrently(
            model_name="workflowinstance",
            index=models.Index(fields=["-created_at"], name="instance_created"),
        ),
        AddIndexConcurrently(
            model_name="activityexecution",
            index=models.Index(fields=["instance", "id"], name="execution_instance"),
        ),
        AddIndexConcurrently(
            model_name="bookmark",
            index=models.Index(condition=Q(data__kind="http"), fields=["tenant", "name"],
                               name="bookmark_http_route"),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveIndex(model_name="workflowinstance",
                                                     name="instance_definition")],
            database_operations=[migrations.RunSQL(
                'DROP INDEX CONCURRENTLY IF EXISTS "instance_definition"',
                reverse_sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS "instance_definition" ON '
                            '"workflows_workflowinstance" ("tenant_id", "definition_id", '
                            '"status")',
            )],
        ),
        *[_drop_foreign_key_index(*row) for row in _FOREIGN_KEY_INDEXES],
    ]
