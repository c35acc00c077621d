"""Google Cloud Storage as Django's default storage, served by gcp-storage-emulator on 127.0.0.1.

The google client and django-storages are the real ones; only the server is local. While the fixture is active
nothing may leave the machine: a name or address other than loopback fails the test at once.
"""

import ipaddress
import os
import socket

import pytest
from gcp_storage_emulator.server import create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client

BUCKET = "promptopt-test"
PROJECT = "test-project"


class StrayNetworkCall(RuntimeError):
    """Not an OSError: the google client retries those for two minutes, and a test must fail at once."""


def _loopback_only(getaddrinfo):
    def resolve(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            loopback = ipaddress.ip_address(name.strip("[]")).is_loopback
        except ValueError:
            loopback = name == "localhost"
        if not loopback:
            raise StrayNetworkCall(f"a test tried to reach {name}; only 127.0.0.1 is allowed here")
        return getaddrinfo(host, *args, **kwargs)

    return resolve


@pytest.fixture
def gcs_bucket(settings, monkeypatch):
    """Switch the default storage to a fresh, empty bucket; the bucket, seen through the google client."""
    # The client reads these (credentials, project, endpoint): none of the machine's may leak in.
    for name in [name for name in os.environ if name.startswith(("GOOGLE_", "GCLOUD_", "CLOUDSDK_"))]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("API_ENDPOINT_OVERRIDE", raising=False)

    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        host, port = server._api._httpd.server_address  # the port the OS chose; the emulator has no public getter
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://{host}:{port}")
        monkeypatch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo))
        # Assigning STORAGES sends setting_changed, on which Django drops the default_storage it had built.
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.gcloud.GoogleCloudStorage",
                "OPTIONS": {"bucket_name": BUCKET, "project_id": PROJECT, "credentials": AnonymousCredentials()},
            },
        }
        yield Client(project=PROJECT, credentials=AnonymousCredentials()).bucket(BUCKET)
    finally:
        server.stop()
