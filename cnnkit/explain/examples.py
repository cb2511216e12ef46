"""Images that ship with the app: a few real photos and generated Shapes (when cnnkit.data has them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from cnnkit.paths import assets_dir

EXAMPLES_DIR = assets_dir() / "examples"  # in the repository or inside an installed wheel


@dataclass
class Example:
    name: str
    description: str
    load: Callable[[], Image.Image]


def _photo_sources() -> list[tuple[str, str, list[Path]]]:
    """(name, description, candidate paths): the repo's downscaled copy first, then the package original."""
    candidates: list[tuple[str, str, list[Path]]] = []
    sk_images = mpl_data = None
    try:
        import sklearn.datasets

        sk_images = Path(sklearn.datasets.__file__).parent / "images"
    except ImportError:
        pass
    try:
        import matplotlib

        mpl_data = Path(matplotlib.get_data_path()) / "sample_data"
    except ImportError:
        pass
    for filename, title, package_dir in [
        ("china.jpg", "Photo: a Chinese palace (scikit-learn)", sk_images),
        ("flower.jpg", "Photo: a flower (scikit-learn)", sk_images),
        ("grace_hopper.jpg", "Photo: Grace Hopper (matplotlib)", mpl_data),
    ]:
        paths = [EXAMPLES_DIR / filename] + ([package_dir / filename] if package_dir else [])
        candidates.append((filename.rsplit(".", 1)[0], title, paths))
    return candidates


def _opener(path: Path) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from cnnkit.explain.images import load_image

        return load_image(path)

    return load


def _shape_opener(index: int, size: int, seed: int) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        from cnnkit.data import generate_shapes
        from cnnkit.data.preview import chw_to_rgb

        images, _labels = generate_shapes(index + 1, seed=seed, size=size)
        return Image.fromarray(chw_to_rgb(images[index]), mode="RGB")

    return load


def list_examples(shapes: int = 3, shape_size: int = 64, seed: int = 0) -> list[Example]:
    """Bundled photos that exist on this install, then `shapes` generated Shapes images."""
    examples: list[Example] = []
    for name, title, paths in _photo_sources():
        path = next((p for p in paths if p.is_file()), None)
        if path is not None:
            examples.append(Example(name, title, _opener(path)))
    from cnnkit.data import SHAPE_CLASSES, generate_shapes

    _images, labels = generate_shapes(shapes, seed=seed, size=shape_size)
    for i in range(shapes):
        label = SHAPE_CLASSES[int(labels[i])] if int(labels[i]) < len(SHAPE_CLASSES) else str(int(labels[i]))
        examples.append(Example(f"shapes_{i}", f"Generated Shapes #{i + 1}: {label}", _shape_opener(i, shape_size, seed)))
    return examples
