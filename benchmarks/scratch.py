"""Django set up against a throwaway SQLite database, migrated, removed when the benchmark exits."""

import atexit
import os
import secrets
import shutil
import tempfile


def setup_django():
    directory = tempfile.mkdtemp(prefix="promptopt-bench-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ["PROMPTOPT_VAR_DIR"] = directory
    os.environ["DATABASE_URL"] = f"sqlite:///{directory}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptopt.settings")
    # DEBUG is off: the settings need a key. A throwaway one, like the database (the servers started inherit it).
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
