"""The nightly pipeline entry now also trains the recommenders: rename it so the admin says so."""

from django.db import migrations

OLD = "Nightly pipeline: clean → features → segment"
NEW = "Nightly pipeline: clean → features → segment → train"
DESCRIPTION = (
    "Cleans new events, refreshes features and segments, then trains, evaluates and promotes the "
    "recommenders and precomputes recommendations. Skipped automatically when no new events "
    "arrived since the last run."
)
OLD_DESCRIPTION = "Skipped automatically when no new events arrived since the last run."


def _move(apps, old, new, description):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    if PeriodicTask.objects.filter(name=new).exists():  # already there: drop the old duplicate
        PeriodicTask.objects.filter(name=old).delete()
    else:
        PeriodicTask.objects.filter(name=old).update(name=new, description=description)


def rename(apps, schema_editor):
    _move(apps, OLD, NEW, DESCRIPTION)


def rename_back(apps, schema_editor):
    _move(apps, NEW, OLD, OLD_DESCRIPTION)


class Migration(migrations.Migration):
    dependencies = [("segments", "0003_pipeline_training_run")]

    operations = [migrations.RunPython(rename, rename_back)]
