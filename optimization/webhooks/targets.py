"""Where a webhook may be sent: http(s) only, and never to this machine's or a private network's addresses unless
WEBHOOK_ALLOW_PRIVATE_TARGETS says so (a server must not become a way into the network behind it)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from promptopt.errors import PromptOptError


def checked_target(url):
    """The URL's host and port, if a webhook may be sent there now; PromptOptError saying why not otherwise.

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
        return parts.hostname, port
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError) as exc:
        raise PromptOptError(f"The host {parts.hostname!r} cannot be resolved: {exc}.") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global or ip.is_multicast:
            raise PromptOptError(
                f"{parts.hostname} is {ip}, a loopback, private or reserved address: webhooks go to public "
                "addresses only (WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows others, e.g. on a closed network)."
            )
    return parts.hostname, port
