"""The campaigns' periodic sweep as a django-celery-beat entry, editable in the admin (Periodic
tasks): launch scheduled campaigns at their time, resume stalled launches, complete campaigns
whose attribution window has ended."""

from django.db import migrations

TASK = "campaigns.tasks.campaigns_due_process_task"
NAME = "Campaigns: scheduled launches, stalled launches, results"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Every minute (a scheduled campaign launches at most a minute late).
    schedule, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": schedule,
            "description": (
                "Launches scheduled campaigns whose time has come, queues launches that stalled "
                "(worker killed) again, and completes campaigns whose attribution window has "
                "ended with their final results."
            ),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
