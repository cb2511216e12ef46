"""How this CNN Lab is installed and where it keeps things: what `cnn-lab` prints at start and the sidebar's
About shows (one wording for both)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cnnkit
from cnnkit.classroom.config import config_path
from cnnkit import paths


@dataclass(frozen=True)
class Locations:
    version: str
    source: str          # "a checkout" (the repository) or "the cnn-lab package" (a wheel)
    data: str
    checkpoints: str
    config: str          # the class config's path, found or not
    config_found: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def items(self) -> list[tuple[str, str]]:
        """(what, where) to show a person."""
        config = self.config if self.config_found else f"none ({self.config} not found: no class limits)"
        return [("Data", self.data), ("Checkpoints", self.checkpoints), ("Class config", config)]

    def lines(self) -> list[str]:
        return [f"{name}: {value}" for name, value in self.items()]


def locations() -> Locations:
    config = config_path()
    return Locations(version=cnnkit.__version__,
                     source="a checkout" if paths.running_from_checkout() else "the cnn-lab package",
                     data=str(paths.data_dir()), checkpoints=str(paths.checkpoint_dir()),
                     config=str(config.resolve()), config_found=config.is_file())
