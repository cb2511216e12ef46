"""`python -m cnnkit datasets --json` and the other data commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile

from PIL import Image

from cnnkit.cli import main
from tests.helpers.app import ROOT


def test_datasets_json_lists_every_field(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    result = subprocess.run([sys.executable, "-m", "cnnkit", "datasets", "--json"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_name = {r["name"]: r for r in rows}
    shapes = by_name["shapes"]
    assert shapes == {"name": "shapes", "classes": shapes["classes"], "num_train": 10000, "num_test": 2000,
                      "channels": 3, "height": 32, "width": 32, "source": "builtin", "available": True,
                      "description": "generated offline: one shape per image"}
    assert len(shapes["classes"]) == 10
    mnist = by_name["mnist"]
    assert mnist["available"] is False and "no network" in mnist["reason"]


def test_import_and_load_commands(tmp_path, capsys):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for cls, colour in (("r", (255, 0, 0)), ("g", (0, 255, 0))):
            for i in range(5):
                image = io.BytesIO()
                Image.new("RGB", (4, 4), colour).save(image, format="PNG")
                archive.writestr(f"{cls}/{i}.png", image.getvalue())
    path = tmp_path / "rg.zip"
    path.write_bytes(buffer.getvalue())
    assert main(["import-zip", str(path), "--name", "cli_rg", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["name"] == "cli_rg" and row["classes"] == ["g", "r"]
    assert main(["load-dataset", "cli_rg", "--json"]) == 0
    loaded = json.loads(capsys.readouterr().out)
    assert loaded["train_shape"] == [8, 3, 4, 4] and loaded["test_shape"] == [2, 3, 4, 4]
    assert len(loaded["mean"]) == 3
    # Importing again under the same name is an error line, not a traceback.
    assert main(["import-zip", str(path), "--name", "cli_rg"]) == 1
    assert "exists" in capsys.readouterr().err
