"""A batch job now asks for every version of its step at once: its requests name the evaluation of each answer
({key: [[evaluation id, example id], ...]}) instead of one evaluation for the whole job."""

from django.db import migrations


def name_each_answers_evaluation(apps, schema_editor):
    BatchJob = apps.get_model("optimization", "BatchJob")
    for job in BatchJob.objects.all():
        job.requests = {key: [[job.evaluation_id, example] for example in examples]
                        for key, examples in job.requests.items()}
        job.save(update_fields=["requests"])


class Migration(migrations.Migration):

    dependencies = [
        ('optimization', '0012_racing_futility_help_texts'),
    ]

    operations = [
        # Backwards, the jobs would need their one evaluation back: only a database without jobs goes back.
        migrations.RunPython(name_each_answers_evaluation, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name='batchjob',
            name='evaluation',
        ),
    ]
