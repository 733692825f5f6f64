"""Downloading a UCR/UEA archive into the cache: mirrors tried in order, each
download capped in size and checked against the recorded SHA-256 digests, and
nothing installed unless complete (`kzoo.datasets.ucr` describes the cache)."""

import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import urllib.request
import zipfile

from kzoo.reading import read_json
from kzoo.runtime.errors import DataError
from kzoo.runtime.files import atomic_write_text

BASE_URL = "https://timeseriesclassification.com/aeon-toolkit"
MIRRORS = (BASE_URL, "https://github.com/sktime/sktime-datasets/raw/main/TSC")
CHECKSUMS = "ucr_checksums.json"
# The largest UEA archives are a few hundred MB zipped; .ts text deflates ~3-10x.
MAX_DOWNLOAD_BYTES = 2 << 30
MAX_EXTRACT_BYTES = 8 << 30
MAX_RATIO = 100


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(root):
    path = root / CHECKSUMS
    if not path.is_file():
        return {}
    fix = ("kzoo wrote it at the first download; delete it (it is recorded again at the "
           "next download) or delete the cache folder to download everything again")
    record = read_json(path, fix)
    if not isinstance(record, dict):
        raise DataError(f"{path} holds a JSON {type(record).__name__}, not the object kzoo "
                        f"writes; {fix}.")
    return record


def verify_files(name, folder, record):
    for fname, expected in record.get("files", {}).items():
        if _sha256(folder / fname) != expected:
            raise DataError(
                f"ucr: {folder / fname} does not match the checksum recorded when it was "
                f"downloaded; the cache is corrupt. Delete {folder} to download it again."
            )


class _Rejected(Exception):
    """One mirror's download failed; the message says why."""


def _fetch(url, dest, timeout):
    """Stream `url` to `dest`, refusing more than `MAX_DOWNLOAD_BYTES`."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as f:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise _Rejected(f"announces {declared} bytes, over the {MAX_DOWNLOAD_BYTES} "
                                "byte download limit")
            total = 0
            for chunk in iter(lambda: response.read(1 << 20), b""):
                total += len(chunk)
                if total > MAX_DOWNLOAD_BYTES:
                    raise _Rejected(f"sent over the {MAX_DOWNLOAD_BYTES} byte download limit")
                f.write(chunk)
    except OSError as err:
        raise _Rejected(f"could not download ({err})") from None


def _extract(archive, name, staged, wanted):
    """Copy the `wanted` members to `staged`, counting the bytes actually inflated
    against `MAX_EXTRACT_BYTES` and `MAX_RATIO` x the archive's size."""
    limit = min(MAX_EXTRACT_BYTES, MAX_RATIO * max(archive.stat().st_size, 1))
    total = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {pathlib.PurePosixPath(m).name: m for m in zf.namelist()}
            missing = [w for w in wanted if w not in members]
            if missing:
                raise _Rejected(f"holds no {', '.join(missing)}; is {name!r} spelled as on "
                                "timeseriesclassification.com?")
            staged.mkdir()
            for w in wanted:
                with zf.open(members[w]) as src, open(staged / w, "wb") as dst:
                    for chunk in iter(lambda src=src: src.read(1 << 20), b""):
                        total += len(chunk)
                        if total > limit:
                            raise _Rejected(
                                f"inflates past {limit} bytes (limits: {MAX_EXTRACT_BYTES} "
                                f"bytes, {MAX_RATIO}x the archive's size): refused as a "
                                "possible zip bomb")
                        dst.write(chunk)
    except (zipfile.BadZipFile, EOFError, OSError) as err:
        raise _Rejected(f"is not a valid zip ({err}); it may be truncated") from None


def download(name, root, *, mirrors=MIRRORS, sha256=None, timeout=60):
    """Download `<mirror>/<name>.zip` from the first mirror that gives a verified
    archive, and install its `.ts` files under `root/name`.

    Each mirror is tried in order. A download is rejected (and the next mirror
    tried) when it fails, exceeds the size limits, is not a zip holding both
    splits, or does not match a known checksum: `sha256` (the zip's, if given),
    the zip digest recorded for that URL, or the `.ts` digests recorded at the
    first download. Nothing is written under `root/name` unless one succeeds;
    otherwise the error lists every URL tried and why it failed.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"ucr: cannot create the cache folder {root} ({err}); set KZOO_DATA "
                         "to a writable folder.") from None
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    wanted = [f"{name}_TRAIN.ts", f"{name}_TEST.ts"]
    record = read_checksums(root).get(name) or {}
    zips = dict(record.get("zips", {}))
    if "zip" in record:  # the format before mirrors: one URL
        zips.setdefault(record.get("url", ""), record["zip"])
    tried = []
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as tmp:
        tmp = pathlib.Path(tmp)
        for i, mirror in enumerate(mirrors):
            url = f"{mirror.rstrip('/')}/{name}.zip"
            archive, staged = tmp / f"{i}.zip", tmp / f"{i}-{name}"
            try:
                _fetch(url, archive, timeout)
                digest = _sha256(archive)
                expected = sha256 or zips.get(url)
                if expected and digest != expected:
                    source = "sha256=" if sha256 else f"the digest recorded in {CHECKSUMS}"
                    raise _Rejected(f"has SHA-256 {digest}, not {expected} ({source}; the "
                                    "first download recorded it)")
                _extract(archive, name, staged, wanted)
                files = {w: _sha256(staged / w) for w in wanted}
                if record.get("files") and files != record["files"]:
                    raise _Rejected(f"holds .ts files whose SHA-256 differ from those recorded "
                                    f"at the first download ({root / CHECKSUMS})")
            except _Rejected as why:
                tried.append(f"{url}: {why}")
                archive.unlink(missing_ok=True)
                shutil.rmtree(staged, ignore_errors=True)
                continue
            checksums = read_checksums(root)
            checksums[name] = {"zips": {**zips, url: digest}, "files": files}
            target = root / name
            if target.exists():
                shutil.rmtree(target)
            os.replace(staged, target)
            atomic_write_text(root / CHECKSUMS, json.dumps(checksums, indent=2, sort_keys=True))
            return target
    raise DataError(
        f"ucr: could not get {name}; nothing was cached. Tried:\n  " + "\n  ".join(tried)
        + f"\nCheck the name and your connection, or put {name}_TRAIN.ts and {name}_TEST.ts "
        f"in {root / name} by hand."
    )
