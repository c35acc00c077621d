from django.db import migrations, models

import promptopt.teams.models


class Migration(migrations.Migration):
    """Tokens get a scope and an optional expiry. Tokens made before keep what they could do: `write`, no expiry;
    new ones are `serve` unless chosen otherwise."""

    dependencies = [
        ("promptopt", "0002_api_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(default="write", max_length=5),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[
                    ("serve", "serve: only the production prompt, what an application needs"),
                    ("read", "read: every read (GET), no change"),
                    ("write", "write: everything your roles allow"),
                ],
                default="serve",
                help_text="What it may call: serve (GET /api/v1/prompts/NAME/production/ only), read (every GET) or "
                          "write (everything its owner's roles allow). Chosen when it is made.",
                max_length=5,
            ),
        ),
        migrations.AddField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(
                blank=True,
                help_text="From then on it is refused, like a revoked token. Empty: it never expires.",
                null=True,
                validators=[promptopt.teams.models.in_the_future],
            ),
        ),
    ]
