"""Existing installs: the default `user` and `admin` roles gain the `voice` tool (new installs get it from the accounts seed)."""
from typing import Any

from django.db import migrations


def grant(apps: Any, schema_editor: Any) -> None:
    """Add `voice` to the default roles that lack it."""
    Role = apps.get_model("accounts", "Role")
    for role in Role.objects.filter(name__in=["user", "admin"]):
        if "voice" not in role.tools:
            role.tools = [*role.tools, "voice"]
            role.save(update_fields=["tools"])


class Migration(migrations.Migration):
    dependencies = [("voice", "0001_initial"), ("accounts", "0002_tiers_roles_workspaces_keys")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
