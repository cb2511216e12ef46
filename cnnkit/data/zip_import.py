"""Import a dataset from a zip of class folders, safely.

Rejected, with a message naming what to fix: entries that would land outside the target
folder, archives that expand past a size limit, damaged archives and entries (bad CRC, broken
data), password-protected entries, files that are not images (listed), images PIL cannot read,
images whose header declares more than images.MAX_IMAGE_PIXELS pixels (refused before
decoding), and fewer than 2 classes. Images are converted to the dataset's mode (RGB if any
has colour, else L) and saved as PNG, one at a time. An existing dataset is never overwritten
unless asked, and the new folder appears in one rename (cnnkit.data.import_staging).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Optional

from PIL import Image

from cnnkit.data.images import ImageTooLargeError, is_image_name, quiet_pixel_bomb_warnings, read_image, to_mode
from cnnkit.data.import_staging import check_import_allowed, refuse_existing, staged_dataset
from cnnkit.data.registry import dataset_info
from cnnkit.data.types import DatasetInfo

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB expanded
_JUNK_PARTS = {"__MACOSX"}
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def _is_junk(parts: tuple[str, ...]) -> bool:
    """Operating-system clutter that zips of folders often carry; skipped, not reported."""
    return any(p in _JUNK_PARTS for p in parts) or parts[-1] in _JUNK_NAMES or parts[-1].startswith("._")


def safe_entry_parts(entry: str) -> tuple[str, ...]:
    """The entry's path parts; ValueError if it is absolute or climbs out with '..'."""
    normalised = entry.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":") or ".." in path.parts:
        raise ValueError(f"the zip entry '{entry}' would be written outside the dataset folder; "
                         f"rebuild the zip with relative paths")
    return tuple(p for p in path.parts if p not in ("", "."))


MAX_CLASS_NAME = 64


def clean_class_name(name: str) -> str:
    """A class name as it is stored and shown: NFC, no control or bidi characters, spaces collapsed; ValueError
    when nothing is left or it is longer than MAX_CLASS_NAME characters (a folder name must stay short)."""
    from cnnkit.formatting import clean_text

    cleaned = clean_text(name)
    if not cleaned or cleaned in (".", ".."):
        raise ValueError(f"the class folder {str(name)[:40]!r} has no visible name; rename it (letters or digits)")
    if len(cleaned) > MAX_CLASS_NAME:
        raise ValueError(f"the class name {cleaned[:40]!r}... has {len(cleaned)} characters; rename the folder "
                         f"to at most {MAX_CLASS_NAME}")
    return cleaned


def _listed(names: list[str]) -> str:
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _plan(archive: zipfile.ZipFile, max_bytes: int) -> dict[str, tuple[str, ...]]:
    """Entry name -> path parts inside the dataset, after every check that needs no decoding."""
    files: dict[str, tuple[str, ...]] = {}
    not_images: list[str] = []
    encrypted: list[str] = []
    total = 0
    for info in archive.infolist():
        parts = safe_entry_parts(info.filename)
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
        if info.flag_bits & 0x1:  # zipfile would ask for a password halfway through
            encrypted.append(info.filename)
        files[info.filename] = parts
    if encrypted:
        raise ValueError(f"the zip's files are password-protected ({_listed(encrypted)}); "
                         f"make a zip without a password and try again")
    if not_images:
        raise ValueError(f"the zip holds files that are not images: {_listed(not_images)}; remove them and try again")
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
    class_index = 1 if split_layout else 0
    renamed = {raw: clean_class_name(raw) for raw in sorted(classes)}
    clashes = sorted({c for c in renamed.values() if list(renamed.values()).count(c) > 1})
    if clashes:
        raise ValueError(f"class folders {', '.join(repr(c) for c in clashes)} differ only in invisible characters "
                         "or spacing; give each class its own name")
    files = {k: p[:class_index] + (renamed[p[class_index]],) + p[class_index + 1:] for k, p in files.items()}
    classes = set(renamed.values())
    if len(classes) < 2:
        raise ValueError(f"a dataset needs at least 2 classes (one folder each); the zip has "
                         f"{len(classes)}: {', '.join(sorted(classes)) or 'none'}")
    if split_layout and "train" not in tops:
        raise ValueError("the zip has a test/ folder but no train/ folder")
    if split_layout and "test" in tops:
        # A class in one split only would silently train on classes the test never scores (or the reverse).
        by_split = {split: {p[1] for p in files.values() if p[0] == split} for split in ("train", "test")}
        only_train = sorted(by_split["train"] - by_split["test"])
        only_test = sorted(by_split["test"] - by_split["train"])
        if only_train or only_test:
            where = "; ".join(part for part in (
                f"only in train/: {', '.join(only_train[:5])}" if only_train else "",
                f"only in test/: {', '.join(only_test[:5])}" if only_test else "") if part)
            raise ValueError(f"train/ and test/ must hold the same class folders ({where}); add the missing "
                             "folders or remove those classes")
    return files


def read_entry_limited(archive: zipfile.ZipFile, name: str, budget: list[int], zip_label: str,
                       member_cap: Optional[int] = None, cap_name: str = "") -> bytes:
    """Read an entry but stop once the real bytes pass the limit (headers can lie): the zip's whole `budget`
    and, when given, `member_cap` bytes for this one entry (checked on its header first, then while
    streaming, so an oversized member is never buffered whole; `cap_name` names the limit in the message).
    ValueError naming the zip and the entry when its data is damaged (bad CRC, broken stream, cut short)."""
    def too_big() -> ValueError:
        return ValueError(f"{zip_label}: {name} is larger than {member_cap:,} bytes, the limit for one "
                          f"{cap_name or 'file in a zip'}; remove it or make it smaller")

    if member_cap is not None and archive.getinfo(name).file_size > member_cap:
        raise too_big()
    out = io.BytesIO()
    read = 0
    try:
        with archive.open(name) as stream:
            while chunk := stream.read(1 << 16):
                budget[0] -= len(chunk)
                read += len(chunk)
                if budget[0] < 0:
                    raise ValueError("the zip expands past the size limit; import a smaller dataset or raise the limit")
                if member_cap is not None and read > member_cap:
                    raise too_big()
                out.write(chunk)
    except ValueError:
        raise
    except NotImplementedError as exc:  # a compression method Python cannot read (e.g. Deflate64)
        raise ValueError(f"{zip_label}: {name} uses a compression method that cannot be read ({exc}); "
                         f"make the zip again with ordinary (deflate) compression") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - BadZipFile, zlib.error, EOFError, bz2/lzma errors: all "damaged"
        raise ValueError(f"{zip_label} is damaged: {name} cannot be read ({type(exc).__name__}: {exc}); "
                         f"make the zip again and import it") from None
    return out.getvalue()


def _short_file_name(name: str) -> str:
    """An image's file name kept under the file system's limit (255 bytes): a long stem is cut and given a
    short hash, so two long names stay two files."""
    import hashlib

    stem, dot, suffix = name.rpartition(".")
    stem = stem if dot else name
    if len(stem.encode("utf-8")) <= 120:
        return name
    digest = hashlib.sha256(stem.encode("utf-8")).hexdigest()[:10]
    return stem.encode("utf-8")[:100].decode("utf-8", "ignore") + "-" + digest + (dot + suffix if dot else "")


def _write_images(archive: zipfile.ZipFile, files: dict[str, tuple[str, ...]], staging: Path, max_bytes: int,
                  zip_label: str, image_cap: Optional[int] = None) -> None:
    """Decode every image into staging/<parts>.png, one at a time (never all in memory at once).

    Colour images are written as RGB and grey ones as L; if any has colour the grey ones are turned into
    RGB at the end, so the dataset has one mode. Unreadable and too-large images are all reported together.
    """
    budget = [max_bytes]
    unreadable: list[str] = []
    too_large: list[ImageTooLargeError] = []
    grey_written: list[Path] = []
    any_colour = False
    root = staging.resolve()
    for entry, parts in files.items():
        data = read_entry_limited(archive, entry, budget, zip_label, image_cap,
                                  "image in a dataset zip (imports: max_image_mb)")
        try:
            decoded = read_image(io.BytesIO(data), label=entry)
        except ImageTooLargeError as exc:
            too_large.append(exc)
            continue
        except ValueError:
            unreadable.append(entry)
            continue
        finally:
            del data
        if unreadable or too_large:
            continue  # the import fails; keep checking the rest only to name them all
        destination = staging.joinpath(*parts[:-1], _short_file_name(parts[-1])).with_suffix(".png")
        # Belt and braces: the resolved path must stay inside the staging folder.
        if root not in destination.resolve().parents:
            raise ValueError(f"the zip entry {'/'.join(parts)!r} would be written outside the dataset folder")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():  # a.jpg and a.png in one folder: keep both
            destination = destination.with_name(destination.stem + "_" + parts[-1].rsplit(".", 1)[-1] + ".png")
        if decoded.colour:
            any_colour = True
            Image.fromarray(decoded.rgb).save(destination)
        else:
            Image.fromarray(to_mode(decoded.rgb, 1)[0]).save(destination)
            grey_written.append(destination)
    if too_large:
        more = [exc.label for exc in too_large[1:]]
        raise ImageTooLargeError(str(too_large[0]) + (f" (too large as well: {_listed(more)})" if more else ""),
                                 too_large[0].label)
    if unreadable:
        raise ValueError(f"these files are not images PIL can read: {_listed(unreadable)}; "
                         f"remove them or save them again as PNG or JPEG")
    if any_colour:
        for path in grey_written:
            with Image.open(path) as grey:
                rgb = grey.convert("RGB")
            rgb.save(path)


def import_zip(source: str | Path | bytes | BinaryIO, name: str, overwrite: bool = False,
               max_bytes: int = DEFAULT_MAX_BYTES, zip_name: str | None = None, owner: str = "",
               teacher: bool = False) -> DatasetInfo:
    """Import a zip of class folders into data_dir()/<name> for `owner`; returns its registry entry.

    Every problem is a ValueError whose message says what to change; `zip_name` (the uploaded file's
    name) is used in those messages when the source is bytes or a stream. The class gate decides whether
    `owner` may import, and replace (overwrite) an existing dataset: only its owner's or the teacher's.
    """
    from cnnkit.classroom.config import import_limits

    check_import_allowed(name, overwrite, owner, teacher)
    limits = import_limits()
    refuse_existing(name, overwrite)  # before reading anything: a clear message for a taken name
    zip_label = zip_name or (Path(source).name if isinstance(source, (str, Path)) else "the zip")
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{zip_label} is not a readable zip file ({exc}); it may be cut short or not a zip: "
                         f"make it again and import it") from None
    with archive, quiet_pixel_bomb_warnings():
        files = _layout(_plan(archive, max_bytes))
        classes = {parts[-2] for parts in files.values()}
        if len(classes) > limits.max_classes:
            raise ValueError(f"{zip_label} has {len(classes):,} class folders, over this server's limit of "
                             f"{limits.max_classes:,} (imports: max_classes)")
        with staged_dataset(name, overwrite, purpose="import", owner=owner, teacher=teacher) as staging:
            _write_images(archive, files, staging, max_bytes, zip_label, limits.max_image_bytes)
    return dataset_info(name)
