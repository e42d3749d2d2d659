"""Remove secrets from text before it is shown, logged or written.

A source URL can carry a secret in several ways: ``user:password@`` before the host (and a password may
itself hold ``@``, ``:`` or ``/``), a query parameter such as ``password=``, ``token=`` or ``key=``, or a
GStreamer property such as ``user-pw=``. ``redact`` replaces each with ``***`` wherever it appears in a
text, so a message, a log line, a JSON summary and the live page all go through the same function.

A query value is taken to end at ``&``, whitespace or a quote (so that a quoted URL in a message keeps
its closing quote); a value that holds a quote is still hidden whole once remembered (below). The
userinfo of a URL is taken to run to the last ``@`` before the next whitespace. That hides the host too
when a path or query holds an ``@`` (``?mail=a@b``), which is the safe way to be wrong: FFmpeg reads a
password with an unescaped ``@`` the same way, up to the last one.

Secrets of sources parsed in this process are also remembered (``remember_secrets``) and replaced
wherever they turn up, for instance percent-decoded in a message from a library.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, unquote

MASK = "***"
SECRET_WORDS = ("pass", "pwd", "token", "key", "secret", "auth", "sig", "cred")
MIN_REMEMBERED = 4  # shorter remembered values would mask ordinary words; the patterns still hide them

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<cred>\S*)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;][^=&;?#\s]*(?:" + "|".join(SECRET_WORDS) + r")[^=&;?#\s]*=)(?P<val>[^&\s'\"]*)", re.IGNORECASE)
_GST_CREDENTIALS = re.compile(
    r"(?P<key>\b(?:user|proxy)-(?:id|pw)\s*=\s*)(?P<val>\"[^\"]*\"|'[^']*'|\S+)", re.IGNORECASE)

_remembered: set[str] = set()
_lock = threading.Lock()


def redact(text: object) -> str:
    """``text`` with URL userinfo, secret query parameters, GStreamer credentials and remembered secrets
    replaced by ``***``."""
    text = str(text)
    with _lock:
        known = sorted(_remembered, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    return _GST_CREDENTIALS.sub(lambda m: f"{m['key']}{MASK}", text)


def secrets_in(uri: str) -> set[str]:
    """The secret values a URI carries (passwords, tokens), as typed and percent-decoded."""
    found: set[str] = set()
    _, scheme, rest = uri.partition("://")
    creds = [m["cred"] for m in _URL_USERINFO.finditer(uri)]
    if scheme and "@" in rest:  # the whole text is one URL: its userinfo may even hold spaces
        creds.append(rest.rsplit("@", 1)[0])
    for cred in creds:
        user, sep, password = cred.partition(":")
        found.add(password if sep else user)  # a bare userinfo is often a token
    for m in _QUERY_SECRET.finditer(uri):
        found.add(m["val"])
    for m in _GST_CREDENTIALS.finditer(uri):
        if "pw" in m["key"].lower():  # a password, not the user name
            found.add(m["val"].strip("'\""))
    _, _, query = uri.partition("?")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if any(word in key.lower() for word in SECRET_WORDS):
            found.add(value)
    return {v for s in found for v in (s, unquote(s)) if len(v) >= MIN_REMEMBERED}


def remember_secrets(uri: str) -> None:
    """Mask the secrets of ``uri`` in everything ``redact`` sees from now on in this process."""
    found = secrets_in(uri)
    if found:
        with _lock:
            _remembered.update(found)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (attach it to a handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redact(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True
