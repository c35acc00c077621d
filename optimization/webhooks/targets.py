"""Where a webhook may be sent: http(s) only, and never to this machine's or a private network's addresses unless
WEBHOOK_ALLOW_PRIVATE_TARGETS says so (a server must not become a way into the network behind it). A delivery
connects to the address that was checked, not to what the name resolves to a moment later (DNS rebinding), and
follows no redirect."""

import http.client
import ipaddress
import socket
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from promptopt.errors import PromptOptError


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    address: str | None  # the checked address to connect to; None: any the name resolves to (private allowed)


def checked_target(url):
    """The URL's Target, if a webhook may be sent there now; PromptOptError saying why not otherwise.

    Checked when the endpoint is registered and again before every attempt: a name can resolve to another
    address later."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise PromptOptError(f"{url!r} is not a URL: {exc}.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PromptOptError("A webhook URL starts with http:// or https:// and names a host.")
    if parts.username or parts.password:
        raise PromptOptError("A webhook URL carries no user name or password: the signature authenticates.")
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return Target(parts.hostname, port, None)
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError) as exc:
        raise PromptOptError(f"The host {parts.hostname!r} cannot be resolved: {exc}.") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise PromptOptError(
                f"{parts.hostname} is {ip}, a loopback, private or reserved address: webhooks go to public "
                "addresses only (WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows others, e.g. on a closed network)."
            )
    return Target(parts.hostname, port, addresses[0])


def opener(target):
    """A urllib opener that sends to `target` alone: to its checked address (the URL's host name still names the
    site, in the Host header and for the TLS certificate) and never on to where a redirect points."""
    return urllib.request.build_opener(_NoRedirects, _HTTP(target.address), _HTTPS(target.address))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer like any other: following it could lead to a private address


def _pinned(connection_class, address):
    """`connection_class` that connects to `address` whatever its host name resolves to, when there is one."""

    def connection(host, **options):
        made = connection_class(host, **options)
        if address is not None:
            made._create_connection = lambda target, *args, **kwargs: socket.create_connection(
                (address, target[1]), *args, **kwargs
            )
        return made

    return connection


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, address):
        super().__init__()
        self.address = address

    def http_open(self, request):
        return self.do_open(_pinned(http.client.HTTPConnection, self.address), request)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, address):
        super().__init__()
        self.address = address

    def https_open(self, request):
        return self.do_open(_pinned(http.client.HTTPSConnection, self.address), request, context=self._context)
