"""Import a dataset from a zip of class folders, safely.

Rejected, with a message naming what to fix: entries that would land outside the target
folder, archives that expand past a size limit, files that are not images (listed), images
PIL cannot read, and fewer than 2 classes. Images are converted to the dataset's mode
(RGB if any has colour, else L) and saved as PNG. An existing dataset is never overwritten
unless asked, and the new folder appears in one rename.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image

from cnnkit.data.images import is_image_name, read_image, to_mode
from cnnkit.data.import_staging import refuse_existing, staged_dataset
from cnnkit.data.registry import dataset_info
from cnnkit.data.types import DatasetInfo

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB expanded
_JUNK_PARTS = {"__MACOSX"}
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _is_junk(parts: tuple[str, ...]) -> bool:
    """Operating-system clutter that zips of folders often carry; skipped, not reported."""
    return any(p in _JUNK_PARTS for p in parts) or parts[-1] in _JUNK_NAMES or parts[-1].startswith("._")


def _safe_parts(entry: str) -> tuple[str, ...]:
    """The entry's path parts; ValueError if it is absolute or climbs out with '..'."""
    normalised = entry.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise ValueError(f"the zip entry '{entry}' would be written outside the dataset folder; "
                         f"rebuild the zip with relative paths")
    return tuple(p for p in path.parts if p not in ("", "."))


def _plan(archive: zipfile.ZipFile, max_bytes: int) -> dict[str, tuple[str, ...]]:
    """Entry name -> path parts inside the dataset, after every check that needs no decoding."""
    files: dict[str, tuple[str, ...]] = {}
    not_images: list[str] = []
    total = 0
    for info in archive.infolist():
        parts = _safe_parts(info.filename)
        if info.is_dir() or not parts or _is_junk(parts):
            continue
        if any(p.startswith(".") for p in parts):
            continue  # hidden files (e.g. .gitkeep) are not data
        total += info.file_size
        if total > max_bytes:
            raise ValueError(f"the zip expands past the size limit of {max_bytes:,} bytes; "
                             f"import a smaller dataset or raise the limit")
        if not is_image_name(parts[-1]):
            not_images.append(info.filename)
            continue
        files[info.filename] = parts
    if not_images:
        shown = ", ".join(not_images[:10]) + (f" and {len(not_images) - 10} more" if len(not_images) > 10 else "")
        raise ValueError(f"the zip holds files that are not images: {shown}; remove them and try again")
    if not files:
        raise ValueError("the zip holds no images; it should contain one folder per class")
    # A single top folder (mydata/cat/1.png) is just the archive's wrapper: drop it.
    while True:
        tops = {parts[0] for parts in files.values()}
        if len(tops) == 1 and all(len(parts) > 2 for parts in files.values()):
            files = {k: parts[1:] for k, parts in files.items()}
        else:
            break
    return files


def _layout(files: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Check the folder layout: <class>/<image> or train|test/<class>/<image>."""
    tops = {parts[0] for parts in files.values()}
    split_layout = tops <= {"train", "test"} and all(len(p) == 3 for p in files.values())
    if split_layout:
        classes = {p[1] for p in files.values()}
    else:
        loose = [k for k, p in files.items() if len(p) != 2]
        if loose:
            raise ValueError(f"images must sit in class folders (<class>/<image>, or train/<class>/<image> and "
                             f"test/<class>/<image>); not: {', '.join(loose[:5])}")
        classes = tops
    if len(classes) < 2:
        raise ValueError(f"a dataset needs at least 2 classes (one folder each); the zip has "
                         f"{len(classes)}: {', '.join(sorted(classes)) or 'none'}")
    if split_layout and "train" not in tops:
        raise ValueError("the zip has a test/ folder but no train/ folder")
    return files


def _read_limited(archive: zipfile.ZipFile, name: str, budget: list[int]) -> bytes:
    """Read an entry but stop once the real bytes pass the limit (headers can lie)."""
    out = io.BytesIO()
    with archive.open(name) as stream:
        while chunk := stream.read(1 << 16):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ValueError("the zip expands past the size limit; import a smaller dataset or raise the limit")
            out.write(chunk)
    return out.getvalue()


def import_zip(source: str | Path | bytes | BinaryIO, name: str, overwrite: bool = False,
               max_bytes: int = DEFAULT_MAX_BYTES) -> DatasetInfo:
    """Import a zip of class folders into data_dir()/<name>; returns its registry entry."""
    refuse_existing(name, overwrite)  # before reading anything: a clear message for a taken name
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"this is not a readable zip file ({exc})") from None
    with archive:
        files = _layout(_plan(archive, max_bytes))
        with staged_dataset(name, overwrite, purpose="import") as staging:
            budget = [max_bytes]
            decoded = []
            unreadable = []
            for entry, parts in files.items():
                data = _read_limited(archive, entry, budget)
                try:
                    decoded.append((parts, read_image(io.BytesIO(data))))
                except ValueError:
                    unreadable.append(entry)
            if unreadable:
                raise ValueError(f"these files are not images PIL can read: {', '.join(unreadable[:10])}"
                                 + (f" and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""))
            channels = 3 if any(colour for _, (_, colour) in decoded) else 1
            mode = "RGB" if channels == 3 else "L"
            for parts, (rgb, _) in decoded:
                destination = staging.joinpath(*parts).with_suffix(".png")
                # Belt and braces: the resolved path must stay inside the staging folder.
                if staging.resolve() not in destination.resolve().parents:
                    raise ValueError(f"the zip entry {'/'.join(parts)!r} would be written outside the dataset folder")
                destination.parent.mkdir(parents=True, exist_ok=True)
                array = to_mode(rgb, channels)
                image = Image.fromarray(array[0] if channels == 1 else array.transpose(1, 2, 0), mode=mode)
                if destination.exists():  # a.jpg and a.png in one folder: keep both
                    destination = destination.with_name(destination.stem + "_" + parts[-1].rsplit(".", 1)[-1] + ".png")
                image.save(destination)
    return dataset_info(name)

