from django.db import migrations


def schedule_recovery(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func="optimization.tasks.recover_stalled_runs",
        defaults={"name": "Resume runs whose worker died", "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def unschedule_recovery(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func="optimization.tasks.recover_stalled_runs").delete()


class Migration(migrations.Migration):
    dependencies = [("optimization", "0001_initial"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(schedule_recovery, unschedule_recovery)]
