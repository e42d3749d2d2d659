"""Atomic writes, output checks and content hashes.

Every artifact edgetl writes goes to a temporary file in the same folder and is then renamed over
the target, so a killed run never leaves a half-written checkpoint, model or report behind.

Writing can fail in ways the user can fix, and each becomes one ``OutputError`` line that names the path
and the cause (disk full, permission denied, not a folder):
- ``check_output`` looks at an output path before any long work starts: its folder is a folder (or can
  be made), it can be written, and the disk has room for what is about to be written where that is known;
- ``writing`` turns an ``OSError`` raised while writing (or an error a library raised because of one, as
  torch does when a save fails) into that line; ``atomic_path`` and the writers built on it use it, so a
  failed write leaves the earlier file as it was and no temporary file behind;
- ``remove_stale_temps`` clears the temporary files and staging folders of edgetl's own naming that a
  killed run left, and nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

from edgetl.errors import OutputError

log = logging.getLogger(__name__)

MIN_FREE_BYTES = 64 * 1024  # below this a disk counts as full even when the size of a write is unknown
_RANDOM = r"[a-z0-9_]{8}"  # tempfile's random part: 8 of a-z, 0-9 and _
# errors that only a write can cause: converted whichever file the error names
_WRITE_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
_CAUSES = {
    errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the file system or a file-size limit allows no more)",
    errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EROFS: "read-only file system",
    errno.EISDIR: "it is a folder", errno.ENAMETOOLONG: "name too long", errno.ENOENT: "no such file or folder",
    errno.EIO: "input/output error (is the disk or card failing or gone?)",
}


# ------------------------------------------------------------------------------------- what went wrong


def os_error_of(exc: BaseException) -> OSError | None:
    """``exc`` if it is an ``OSError``, else the first ``OSError`` it was raised from or during.

    torch reports a failed ``torch.save`` to a file object as a RuntimeError raised while the OSError
    of the failed write was being handled; the OSError says why.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest ancestor of ``path`` that exists, when it is not a folder."""
    for parent in [path, *path.parents]:
        if os.path.lexists(parent):
            return None if parent.is_dir() else parent
    return None


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None) -> str:
    """A few words for why ``exc`` happened: 'disk full', 'permission denied', 'not a folder: X is a file'."""
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ENOENT) and path is not None:
        blocker = _file_in_the_way(Path(path).parent)
        if blocker is not None:
            return f"not a folder: {blocker} is a file"
    if exc.errno == errno.ENOTDIR:
        return "not a folder: a part of the path is a file"
    return _CAUSES.get(exc.errno, (exc.strerror or str(exc) or type(exc).__name__).lower())


def output_error(path: str | os.PathLike, exc: OSError) -> OutputError:
    """The one-line error for a failed write of ``path``."""
    return OutputError(f"cannot write {path}: {describe_os_error(exc, path)}")


def _is_write_error(exc: OSError, paths: tuple[str, ...]) -> bool:
    """Whether ``exc`` came from writing one of ``paths`` (not from reading some input meanwhile)."""
    if exc.errno in _WRITE_ONLY:
        return True
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    return not names or any(os.fspath(n) in paths for n in names)


@contextlib.contextmanager
def writing(target: str | os.PathLike, *also: str | os.PathLike) -> Iterator[None]:
    """Turn a failed write of ``target`` (or of ``also``, its temporary files) into an ``OutputError``.

    Errors that name some other file (an input that cannot be read) pass through unchanged.
    """
    paths = tuple(os.fspath(p) for p in (target, *also))
    try:
        yield
    except OutputError:
        raise
    except (OSError, RuntimeError) as exc:
        cause = os_error_of(exc)
        if cause is None or not _is_write_error(cause, paths):
            raise
        raise output_error(target, cause) from exc


# ------------------------------------------------------------------------------------ before writing


def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if os.path.lexists(parent):
            return parent
    return Path(path.anchor or ".")


def free_bytes(path: str | os.PathLike) -> int:
    """Bytes free for writing at ``path`` (or at the nearest folder above it that exists)."""
    return shutil.disk_usage(_nearest_existing(Path(path).absolute())).free


def _megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def check_space(path: str | os.PathLike, need_bytes: int | None = None, label: str | None = None) -> None:
    """Raise ``OutputError`` when the disk holding ``path`` has less than ``need_bytes`` free (at least
    ``MIN_FREE_BYTES``)."""
    need = max(int(need_bytes or 0), MIN_FREE_BYTES)
    free = free_bytes(path)
    if free < need:
        what = f", about {_megabytes(need)} needed" if need_bytes else ""
        raise OutputError(f"cannot write {label or path}: disk full ({_megabytes(free)} free{what})")


def check_output(path: str | os.PathLike, kind: Literal["file", "folder"] = "file",
                 need_bytes: int | None = None) -> Path:
    """Check that ``path`` can be written, before the work that writes it starts; return it.

    ``kind="file"``: ``path`` is not a folder and its folder is (or can be made) one that can be written.
    ``kind="folder"``: ``path`` is (or can be made) a folder that can be written. Nothing is created.
    ``need_bytes``: what is about to be written, where that is known; the disk must have that much free.
    Raises ``OutputError`` naming the path and the cause.
    """
    path = Path(path)
    label = f"to the output folder {path}" if kind == "folder" else str(path)
    if kind == "file" and path.is_dir():
        raise OutputError(f"cannot write {label}: it is a folder, not a file")
    if kind == "file" and is_special_file(path):  # written in place: its folder does not matter
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {label}: permission denied")
        return path
    if kind == "folder" and os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"cannot write {label}: {path} is a file, not a folder")
    folder = path if kind == "folder" else path.parent
    existing = _nearest_existing(folder.absolute())
    if not existing.is_dir():
        raise OutputError(f"cannot write {label}: not a folder: {_shown(existing, folder)} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        cause = "read-only file system" if _read_only(existing) else "permission denied"
        where = "" if existing == folder.absolute() else f" ({_shown(existing, folder)})"
        raise OutputError(f"cannot write {label}: {cause}{where}")
    check_space(existing, need_bytes, label)
    return path


def _shown(existing: Path, asked: Path) -> Path:
    """``existing`` as the user would write it: relative when they gave a relative path."""
    if asked.is_absolute():
        return existing
    try:
        return existing.relative_to(Path.cwd())
    except ValueError:
        return existing


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


# --------------------------------------------------------------------------------------- atomic writes


def is_special_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a folder: a device such as /dev/stdout
    or /dev/null, or a pipe. Such a target is written in place: renaming a file over it would replace
    the device."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def temp_beside(target: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """Create an empty temporary file ``.<name>.<random><suffix>`` in ``target``'s folder, with the mode
    a plain ``open()`` gives.

    mkstemp creates 0600; the umask-applied mode keeps an artifact readable when it is copied to the
    device as another user. ``suffix`` matters to writers that pick a format from the name (OpenCV).
    """
    target = Path(target)
    try:  # every error here is about writing beside target (the random name it may give means nothing)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as exc:
        raise output_error(target, exc) from exc
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` if the block succeeds.

    A failed write in the block (or of the rename) raises ``OutputError``; the temporary file is removed
    and ``target`` stays as it was. A device or pipe (``is_special_file``) is yielded itself.
    """
    if is_special_file(target):
        with writing(target):
            yield Path(target)
        return
    tmp_path = temp_beside(target, suffix)
    try:
        with writing(target, tmp_path):
            yield tmp_path
            os.replace(tmp_path, target)
    finally:
        if os.path.lexists(tmp_path):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> Path:
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# ------------------------------------------------------------------------- staging folders, stale temps


@contextlib.contextmanager
def staging_folder(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A new folder ``<prefix><random>`` in ``parent``, locked while in use and removed afterwards.

    The lock tells ``remove_stale_temps`` that the folder belongs to a run still going.
    """
    parent = Path(parent)
    try:
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as exc:
        raise output_error(parent, exc) from exc
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def _temp_pattern(names: Iterable[str]) -> re.Pattern | None:
    names = sorted(set(names))
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"\.(?:{alternatives})\.{_RANDOM}(?:\.part)?\.[A-Za-z0-9]+")


def _in_use(folder: Path) -> bool:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the lock again
    return False


def remove_stale_temps(folder: str | os.PathLike, targets: Iterable[str] = (),
                       staging_prefixes: Iterable[str] = ()) -> list[Path]:
    """Remove what an interrupted run left in ``folder``: temporary files of ``targets`` (as
    ``temp_beside`` names them) and unlocked staging folders ``<prefix><random>``. Nothing else is touched.

    Returns what was removed, and logs it.
    """
    folder = Path(folder)
    files = _temp_pattern(targets)
    dirs = [re.compile(re.escape(p) + _RANDOM) for p in staging_prefixes]
    removed: list[Path] = []
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        try:
            if files and files.fullmatch(entry.name) and not entry.is_dir():
                entry.unlink()
            elif any(d.fullmatch(entry.name) for d in dirs) and entry.is_dir() and not entry.is_symlink() \
                    and not _in_use(entry):
                shutil.rmtree(entry)
            else:
                continue
        except OSError as exc:
            log.warning("could not remove %s left by an interrupted run: %s", entry, describe_os_error(exc))
            continue
        removed.append(entry)
    if removed:
        log.warning("removed %d temporary file(s) an interrupted run left in %s: %s", len(removed), folder,
                    ", ".join(p.name for p in removed))
    return removed


# ------------------------------------------------------------------------------------- reading, hashes


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of a JSON-able object, independent of key order."""
    return sha256_bytes(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8"))
