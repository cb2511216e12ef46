"""Import a run zip back: the round trip gives the same network; tampered zips are refused, nothing saved."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from cnnkit import store
from cnnkit.cli import main
from cnnkit.explain.viewer import list_run_choices
from cnnkit.export import RunImportError, build_run_zip, import_run_zip
from tests.helpers.export import train_tiny_run


@pytest.fixture
def run_zip(monkeypatch, tmp_path) -> tuple[Path, bytes, object]:
    run_dir, dataset = train_tiny_run(monkeypatch, tmp_path)
    return run_dir, build_run_zip(run_dir), dataset


def _rezip(data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """The zip with some members replaced or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            target.writestr(name, (replace or {}).get(name, source.read(name)))
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def _runs() -> list[str]:
    return sorted(record.run_id for record in store.list_runs())


def test_round_trip_gives_the_same_network_and_a_gradcam_choice(run_zip, tmp_path, capsys):
    run_dir, data, dataset = run_zip
    path = tmp_path / "run.zip"
    path.write_bytes(data)
    assert main(["import-run", str(path), "--json"]) == 0
    new_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    assert new_id != run_dir.name and new_id in _runs()

    original, imported = store.load_run_model(run_dir), store.load_run_model(new_id)
    assert imported.classes == original.classes and imported.mean == original.mean
    x = original.preprocess(dataset.test_x[:8])
    with torch.no_grad():
        assert torch.equal(imported.model(x), original.model(x))
    record = store.load_run(imported.run_dir)
    assert record.status == "done" and record.test_accuracy == store.load_run(run_dir).test_accuracy
    assert store.load_history(imported.run_dir) == store.load_history(run_dir)
    assert store.load_predictions(imported.run_dir) == store.load_predictions(run_dir)
    assert run_dir.name in record.message
    assert any(new_id in choice.label or new_id in str(getattr(choice, "path", "")) or new_id in str(choice)
               for choice in list_run_choices())


def test_an_imported_run_says_from_whom_in_the_run_list_and_the_pickers(run_zip):
    from cnnkit.train.report import run_row

    run_dir, data, _ = run_zip
    meta = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("run.json"))
    signed = _rezip(data, replace={"run.json": json.dumps({**meta, "owner": "Anna\x07  Lee"}).encode()})
    new_dir = import_run_zip(signed, owner="Ben")
    record, original = store.load_run(new_dir), store.load_run(run_dir)
    assert record.owner == "Ben" and record.imported and record.imported_from == "Anna Lee"  # cleaned like a typed name
    assert record.origin == "imported from Anna Lee" and original.origin == ""
    assert run_row(record)["origin"] == "imported from Anna Lee" and run_row(original)["origin"] == ""
    labels = {choice.source: choice.label for choice in list_run_choices()}
    assert labels[str(new_dir)].endswith("(imported from Anna Lee)")
    assert "imported" not in labels[str(run_dir)]
    anonymous = store.load_run(import_run_zip(data))  # a guest's run: imported, from nobody named
    assert anonymous.origin == "imported"


def test_weights_of_the_wrong_shape_are_refused(run_zip):
    _, data, _ = run_zip
    state = torch.load(io.BytesIO(zipfile.ZipFile(io.BytesIO(data)).read("weights.pt")), weights_only=True)
    state["layers.0.weight"] = torch.zeros(5, 3, 3, 3)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    before = _runs()
    with pytest.raises(RunImportError, match=r"wrong shapes: layers\.0\.weight \(5, 3, 3, 3\) \(the network has "
                                             r"\(8, 3, 3, 3\)\)"):
        import_run_zip(_rezip(data, replace={"weights.pt": buffer.getvalue()}))
    assert _runs() == before


class Payload:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_a_pickle_payload_is_never_run(run_zip, tmp_path, monkeypatch):
    _, data, _ = run_zip
    monkeypatch.chdir(tmp_path)
    payload = io.BytesIO()
    torch.save({"layers.0.weight": Payload()}, payload)
    before = _runs()
    with pytest.raises(RunImportError, match="weights.pt is not a plain file of tensors"):
        import_run_zip(_rezip(data, replace={"weights.pt": payload.getvalue()}))
    with pytest.raises(RunImportError, match="weights.pt is not a plain file of tensors"):
        import_run_zip(_rezip(data, replace={"weights.pt": pickle.dumps(Payload())}))
    assert not (tmp_path / "PWNED").exists() and _runs() == before


def test_oversize_members_and_zip_slip_are_refused(run_zip):
    _, data, _ = run_zip
    before = _runs()
    with pytest.raises(RunImportError, match="expands past the size limit of 1,000,000 bytes"):
        import_run_zip(_rezip(data, add={"padding.bin": b"\0" * 2_000_000}), max_bytes=1_000_000)
    with pytest.raises(RunImportError, match="would be written outside the run folder"):
        import_run_zip(_rezip(data, add={"../../evil.py": b"print('x')"}))
    with pytest.raises(RunImportError, match="no weights.pt"):
        import_run_zip(_rezip(data, replace={"weights.pt": b""}).replace(b"weights.pt", b"weights.px"))
    with pytest.raises(RunImportError, match="not a zip file"):
        import_run_zip(b"not a zip")
    assert _runs() == before


def test_cli_import_of_a_bad_zip_is_one_line(run_zip, tmp_path, capsys):
    _, data, _ = run_zip
    path = tmp_path / "bad.zip"
    path.write_bytes(_rezip(data, add={"/etc/cron.d/x": b"x"}))
    assert main(["import-run", str(path), "--json"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "outside the run folder" in err
