"""Blocks network access to anything but loopback, in every process started with this
folder on PYTHONPATH (Python imports `sitecustomize` at start-up).

The test suite runs its entry-point commands (tests/test_entrypoints.py, and the
zygotes they fork from) this way, so a smoke run that reached for the network (a
dataset download, a DNS lookup, a telemetry ping) fails at once with BLOCKED in its
message instead of passing on a machine that happens to be online, or hanging on one
that is not.

Patched: socket.socket.connect / connect_ex / sendto (so create_connection, http,
ssl and asyncio too) for non-loopback addresses, and getaddrinfo / gethostbyname(_ex)
for names other than localhost. Unix sockets and loopback (127.0.0.0/8, ::1) still
work, e.g. jax.distributed's coordinator on localhost. Native code that opens its own
sockets (gRPC's C core, libcurl) is out of reach of a Python patch.
"""

import errno
import ipaddress
import socket

BLOCKED = "genlab tests: network access blocked (only loopback is allowed)"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _ip(host):
  """`host` as an ipaddress object, or None for a name."""
  if isinstance(host, bytes):
    host = host.decode("ascii", "replace")
  try:
    ip = ipaddress.ip_address(str(host).split("%", 1)[0].strip("[]"))
  except ValueError:
    return None
  return getattr(ip, "ipv4_mapped", None) or ip


def _is_local(host) -> bool:
  """Whether connecting to `host` stays on this machine."""
  if host is None or host == "" or str(host).lower() in _LOCAL_NAMES:
    return True  # a passive or wildcard address, or localhost
  ip = _ip(host)
  return ip is not None and (ip.is_loopback or ip.is_unspecified)  # 0.0.0.0: loopback


def _lookup_allowed(host) -> bool:
  """Whether resolving `host` stays on this machine: localhost, or a numeric address
  (resolved without a query; connecting to it is checked by connect)."""
  return _is_local(host) or _ip(host) is not None


def _allowed(sock, address) -> bool:
  if sock.family not in (socket.AF_INET, socket.AF_INET6):
    return True  # AF_UNIX, netlink, ...
  return _is_local(address[0] if isinstance(address, tuple) else address)


def _blocked(what) -> OSError:
  return OSError(errno.ENETUNREACH, f"{BLOCKED}: {what}")


_connect, _connect_ex, _sendto = (socket.socket.connect, socket.socket.connect_ex,
                                  socket.socket.sendto)
_getaddrinfo, _gethostbyname, _gethostbyname_ex = (socket.getaddrinfo, socket.gethostbyname,
                                                   socket.gethostbyname_ex)


def connect(self, address):
  if not _allowed(self, address):
    raise _blocked(f"connect to {address!r}")
  return _connect(self, address)


def connect_ex(self, address):
  if not _allowed(self, address):
    return errno.ENETUNREACH
  return _connect_ex(self, address)


def sendto(self, data, *args):
  if not _allowed(self, args[-1]):
    raise _blocked(f"sendto {args[-1]!r}")
  return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
  if not _lookup_allowed(host):
    raise socket.gaierror(socket.EAI_NONAME, f"{BLOCKED}: lookup of {host!r}")
  return _getaddrinfo(host, *args, **kwargs)


def gethostbyname(host):
  if not _lookup_allowed(host):
    raise socket.gaierror(socket.EAI_NONAME, f"{BLOCKED}: lookup of {host!r}")
  return _gethostbyname(host)


def gethostbyname_ex(host):
  if not _lookup_allowed(host):
    raise socket.gaierror(socket.EAI_NONAME, f"{BLOCKED}: lookup of {host!r}")
  return _gethostbyname_ex(host)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex = (
    getaddrinfo, gethostbyname, gethostbyname_ex)
