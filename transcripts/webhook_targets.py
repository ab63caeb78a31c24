"""Where a webhook may send, and how a request gets there. Targets are checked when the
webhook is made and again, against a fresh DNS answer, before every attempt: a webhook must
not become a way to reach the server's own network. The request then goes to the very
address that was checked (no second DNS lookup)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

CONNECT_TIMEOUT_SECONDS = 3  # a receiver that is down costs little
TIMEOUT_SECONDS = 10  # for the answer
MAX_URL_CHARS = 500
MAX_ADDRESSES = 3  # of a host's addresses, tried in turn while none accepts a connection
TLS_VERIFY: bool | str = True  # certificate check: True, or a CA bundle path
ERROR_CHARS = 500


class RefusedTarget(ValueError):
    """The webhook's host resolves to an address the server must not call."""


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: its last 32 bits are IPv4


def _refused_reason(address: str) -> str | None:
    """Why the server must not call this address, or None when it may. An IPv6 address
    that carries an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by what it carries too:
    2002:7f00:1:: reaches 127.0.0.1 through a 6to4 relay."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    for carried in _carried_ipv4(ip):
        reason = _refused_reason(str(carried))
        if reason:
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified:
        return "loopback or private networks"
    if ip.is_multicast:
        return "multicast addresses"
    if ip.is_reserved or not ip.is_global:  # not global: e.g. 100.64.0.0/10 (carrier NAT)
        return "reserved addresses"
    return None


def _carried_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    carried = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if ip in NAT64:
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in carried if address is not None]


def resolve_target(url: str) -> list[str]:
    """The addresses the URL's host resolves to, all of them allowed; raises ValueError
    (RefusedTarget for a forbidden address) with a message a person can read."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError("a webhook URL must start with http:// or https:// and name a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError("the webhook URL's port is not a number between 0 and 65535") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"the webhook host {host} could not be resolved ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise ValueError(f"the webhook host {host} has no address")
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            reason = _refused_reason(address)
            if reason:
                raise RefusedTarget(f"webhook targets on {reason} are not allowed: {address}")
    return addresses


def validate_url(url: str) -> str:
    """The cleaned URL, or ValueError saying what is wrong with it."""
    url = (url or "").strip()
    if not url:
        raise ValueError("enter the URL that should receive the events")
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"the webhook URL is longer than {MAX_URL_CHARS} characters")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValueError("enter a full http:// or https:// URL, "
                         "e.g. https://example.com/hooks/transcripts") from None
    if urlsplit(url).username is not None:
        raise ValueError("a webhook URL must not hold a user name or password; check the signature instead")
    resolve_target(url)
    return url


def post_to_address(url: str, address: str, headers: dict, body: bytes) -> tuple[int | None, str, bool]:
    """(HTTP status or None, error text or "", whether a connection was made) of one POST
    to one checked address."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy or netrc from the environment: straight to the address
        session.mount("http://", _PinnedAdapter(address))
        session.mount("https://", _PinnedAdapter(address))
        # The Host header names the URL's host (IDNA-encoded, as requests sends it), not the address.
        headers = {**headers, "Host": urlsplit(requests.Request("POST", url).prepare().url).netloc}
        try:
            with session.post(url, data=body, headers=headers, timeout=(CONNECT_TIMEOUT_SECONDS, TIMEOUT_SECONDS),
                              allow_redirects=False, stream=True, verify=TLS_VERIFY) as response:
                if 200 <= response.status_code < 300:
                    return response.status_code, "", True
                excerpt = response.raw.read(ERROR_CHARS, decode_content=True).decode("utf-8", "replace")
                note = " (redirects are not followed)" if response.is_redirect else ""
                return (response.status_code,
                        f"HTTP {response.status_code}{note}: {excerpt.strip()}"[:ERROR_CHARS], True)
        except requests.ConnectTimeout:
            return None, f"could not connect to {address} within {CONNECT_TIMEOUT_SECONDS} s", False
        except requests.Timeout:
            return None, f"no answer within {TIMEOUT_SECONDS} s", True
        except requests.ConnectionError as exc:
            connected = not _no_connection(exc)
            return None, f"could not deliver to {address}: {_reason(exc)}"[:ERROR_CHARS], connected
        except requests.RequestException as exc:
            return None, f"could not deliver: {_reason(exc)}"[:ERROR_CHARS], True


def _no_connection(exc: requests.ConnectionError) -> bool:
    """The connection was never made (refused, unreachable): nothing was sent, so another
    address of the same host may be tried."""
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _reason(exc: Exception) -> str:
    inner = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", inner)
    if isinstance(reason, NewConnectionError):  # drop urllib3's "HTTPConnection(host=…): "
        return str(reason).split("): ", 1)[-1]
    return str(reason)


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address that was checked, while TLS still verifies the URL's host
    name (SNI and certificate): DNS cannot change between the check and the request."""

    def __init__(self, address: str):
        self.address = address
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        hostname = host_params["host"]
        host_params["host"] = self.address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = hostname
            pool_kwargs["assert_hostname"] = hostname
        return host_params, pool_kwargs
