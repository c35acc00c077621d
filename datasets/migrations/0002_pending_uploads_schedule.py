from django.db import migrations


def schedule_expiry(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        func="datasets.tasks.expire_pending_uploads",
        defaults={"name": "Delete upload previews nobody imported", "schedule_type": "H", "repeats": -1},
    )


def unschedule_expiry(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func="datasets.tasks.expire_pending_uploads").delete()


class Migration(migrations.Migration):
    dependencies = [("datasets", "0001_initial"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(schedule_expiry, unschedule_expiry)]
