"""The weekly deep-model round as a django-celery-beat entry, editable in the admin."""

from django.db import migrations

TASK = "recommendations.tasks.deep_training_scheduled_task"
NAME = "Weekly deep models: sequence model, neural CF, learned ranker"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    # Sundays at 04:00, after the nightly pipeline (02:30) has cleaned the week's data.
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="4", day_of_week="0", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": schedule,
            "description": (
                "Trains the Keras models on the newest cleaned data; a model serves only if it "
                "beats the serving one on the held-out weeks. Skipped while another round runs."
            ),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0001_registry"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
