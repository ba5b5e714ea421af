"""Seed the three credit packages (starter, pro, enterprise); `manage.py seed` re-ensures them."""
from django.db import migrations


def seed_packages(apps, schema_editor):
    from apps.billing.seeds import seed_rows

    seed_rows(apps.get_model("billing", "CreditPackage"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed_packages, migrations.RunPython.noop)]
