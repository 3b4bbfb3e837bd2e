"""Zip archives that cannot hurt: every member checked first, extraction into a temporary
folder, and a merge into the target that never deletes or overwrites what is already there.

Rules of :func:`extract_zip`:

- **Checked before anything is written.** A member with an absolute path, a drive letter,
  a ``..`` component, a symbolic link or any other non-regular entry (device, pipe) refuses
  the whole archive with a :class:`DownloadError` that names the members. Zip archives
  hold no hard links; nothing is ever written outside the target folder.
- **Atomic.** Members go to a temporary folder inside the target first; a failure leaves
  the target as it was.
- **Merged, never destructive.** A file or folder the archive brings that is not in the
  target yet is moved in; existing folders are merged into; an existing file with the same
  bytes is left as it is, an existing file with other bytes is kept (the archive's copy is
  dropped) and counted in a warning. Files the user placed (e.g. a ``posters/`` folder next
  to the data) survive every download.
"""
from __future__ import annotations

import filecmp
import os
import shutil
import stat
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath

__all__ = ["DownloadError", "extract_zip", "unsafe_members", "merge_tree"]


class DownloadError(RuntimeError):
    """A download or an archive failed; the message says why and what to do."""


def unsafe_members(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """``(member name, reason)`` for every member that could write outside the target or is
    not a plain file or folder: absolute paths, drive letters, ``..``, links, devices."""
    bad = []
    for info in zf.infolist():
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        kind = stat.S_IFMT(info.external_attr >> 16)
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            bad.append((name, "absolute path"))
        elif ".." in parts:
            bad.append((name, "'..' leaves the target folder"))
        elif kind == stat.S_IFLNK:
            bad.append((name, "symbolic link"))
        elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            bad.append((name, "not a regular file or folder"))
    return bad


def merge_tree(src: Path, dest: Path, root: Path | None = None) -> list[str]:
    """Move everything under ``src`` into ``dest`` without deleting or overwriting anything
    there; returns the paths (relative to ``root``, default ``dest``) kept as they were
    because the user's copy differs from the incoming one."""
    root = dest if root is None else root
    kept: list[str] = []
    dest.mkdir(parents=True, exist_ok=True)
    for child in sorted(src.iterdir()):
        target = dest / child.name
        if not os.path.lexists(target):
            os.replace(child, target)
        elif child.is_dir() and target.is_dir() and not target.is_symlink():
            kept += merge_tree(child, target, root)
        elif child.is_file() and target.is_file() and not target.is_symlink() \
                and filecmp.cmp(child, target, shallow=False):
            continue
        else:
            kept.append(str(target.relative_to(root)))
    return kept


def extract_zip(path: str | Path, dest: str | Path, delete_bad: bool = True) -> Path:
    """Extract the zip archive ``path`` into the folder ``dest`` (see the module rules); returns ``dest``.

    A truncated or corrupt archive raises :class:`DownloadError` and (with ``delete_bad``)
    is renamed to ``<name>.bad``, never deleted, so that the next call downloads it again. Unsafe members refuse the archive.
    Existing files whose content differs from the archive's are kept and reported in a
    ``UserWarning``.
    """
    path, dest = Path(path), Path(dest)

    def bad(reason: str) -> DownloadError:
        gone = ""
        if delete_bad and path.is_file():
            aside = path.with_name(path.name + ".bad")
            os.replace(path, aside)
            gone = f" It was moved aside to {aside.name} (not deleted); download it again (the next call does)."
        return DownloadError(f"{path.name} is not a valid zip archive ({reason}).{gone}")

    try:
        with zipfile.ZipFile(path) as zf:
            first_bad = zf.testzip()
            if first_bad is not None:
                raise bad(f"member {first_bad!r} fails its CRC check")
            unsafe = unsafe_members(zf)
            if unsafe:
                shown = "; ".join(f"{n!r}: {why}" for n, why in unsafe[:3])
                raise DownloadError(f"{path.name} holds {len(unsafe)} unsafe member path(s) ({shown}); "
                                    "refusing to extract anything. Get the archive from its official source.")
            kept = _extract_and_merge(zf, dest)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, zlib.error) as exc:
        raise bad(f"{type(exc).__name__}: {exc}") from None
    except FileNotFoundError as exc:
        if not path.is_file():
            raise DownloadError(f"No archive at {path}.") from None
        raise
    if kept:
        warnings.warn(f"Extracting {path.name} into {dest}: {len(kept)} existing file(s) differ from the "
                      f"archive's and were kept as they are, e.g. {kept[:3]}. Move them away and extract "
                      "again to get the archive's version.", stacklevel=2)
    return dest


def _extract_and_merge(zf: zipfile.ZipFile, dest: Path) -> list[str]:
    """Extract into a temporary folder inside ``dest``, then :func:`merge_tree` into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        zf.extractall(tmp)
        return merge_tree(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
