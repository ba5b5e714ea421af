"""Seed the template catalogue (dashboard, landing page, CRUD app, portfolio, blog)."""
from django.db import migrations


def seed(apps, schema_editor):
    from apps.forge.seeds import seed_rows

    seed_rows(apps.get_model("forge", "Template"))


class Migration(migrations.Migration):
    dependencies = [("forge", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
