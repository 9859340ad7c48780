"""`python -m netblock_check`: proves, inside a command's own process, that
sitecustomize.py's block is active. Prints one line per probe; exit status 0 only when
every outside address is refused at once (all probes within 2 s) with the block's
message, and loopback still works. tests/test_entrypoints.py runs it.
"""

import socket
import sys
import threading
import time

started_blocked = "sitecustomize" in sys.modules  # imported by site, before this module
import sitecustomize  # pylint: disable=wrong-import-position


def _refused(probe) -> str | None:
  """None when `probe()` raised the block's OSError; else what happened instead."""
  try:
    result = probe()
  except OSError as e:
    return None if sitecustomize.BLOCKED in str(e) else f"other error: {e!r}"
  return f"not blocked: returned {result!r}"


def _loopback() -> str | None:
  server = socket.socket()
  server.bind(("127.0.0.1", 0))
  server.listen(1)
  threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
  try:
    socket.create_connection(server.getsockname(), timeout=5).close()
  except OSError as e:
    return f"loopback failed: {e!r}"
  finally:
    server.close()
  return None


def main() -> int:
  if not getattr(sitecustomize, "BLOCKED", None) or not started_blocked:
    print("the network block was not loaded at start-up (is tests/netblock on PYTHONPATH?)")
    return 1
  start = time.monotonic()
  probes = {
      "connect 8.8.8.8:53": lambda: socket.create_connection(("8.8.8.8", 53), timeout=5),
      "connect [2001:4860:4860::8888]:53": lambda: socket.socket(socket.AF_INET6).connect(
          ("2001:4860:4860::8888", 53)),
      "udp sendto 1.1.1.1:53": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
          b"x", ("1.1.1.1", 53)),
      "getaddrinfo example.com": lambda: socket.getaddrinfo("example.com", 443),
      "gethostbyname pypi.org": lambda: socket.gethostbyname("pypi.org"),
  }
  failures = {name: _refused(probe) for name, probe in probes.items()}
  code = socket.socket().connect_ex(("8.8.4.4", 53))
  failures["connect_ex 8.8.4.4:53"] = None if code else "not blocked: connected"
  failures["loopback"] = _loopback()
  seconds = time.monotonic() - start
  failures["fast"] = None if seconds < 2 else f"took {seconds:.1f} s: not refused at once"
  for name, failure in failures.items():
    print(f"{name}: {failure or 'ok'}")
  print(f"{sitecustomize.BLOCKED} ({seconds:.2f} s)")
  return 1 if any(failures.values()) else 0


if __name__ == "__main__":
  sys.exit(main())
