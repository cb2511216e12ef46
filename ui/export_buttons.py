"""Take a model home and bring one back: download buttons for a saved run (the run zip, the ONNX file)
and the uploader that imports a classmate's run zip (all built by cnnkit.export).

Both files are made only when the button is clicked (deferred data), so showing a run costs nothing.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from cnnkit import export
from ui.identity import is_teacher
from ui.text import plain


def _onnx_bytes(run_dir: Path) -> bytes:
    """The .onnx file; on a network that cannot be exported, a text file saying which layer and why."""
    try:
        return export.export_run_onnx(run_dir).data
    except (export.OnnxExportError, FileNotFoundError, RuntimeError) as error:
        return f"ONNX export failed: {error}\n".encode()


def render_export_buttons(run_dir: str | Path, key: str) -> None:
    """'Download run (.zip)' and 'Export ONNX' for a run with saved weights; nothing before its first epoch."""
    run_dir = Path(run_dir)
    if not ((run_dir / "best.pt").is_file() or (run_dir / "last.pt").is_file()):
        return
    zip_col, onnx_col = st.columns(2)
    zip_col.download_button(
        "Download run (.zip)", data=lambda: export.build_run_zip(run_dir), file_name=f"{run_dir.name}.zip",
        mime="application/zip", key=f"{key}_zip", on_click="ignore", icon=":material/download:",
        help="Best weights, the model's PyTorch code, training config, classes and normalisation, metrics and "
             "history, and a README with the lines that load the model and classify an image.")
    onnx_col.download_button(
        "Export ONNX", data=lambda: _onnx_bytes(run_dir), file_name=f"{run_dir.name}.onnx",
        mime="application/octet-stream", key=f"{key}_onnx", on_click="ignore", icon=":material/deployed_code:",
        help="The network as ONNX (any batch size; classes and mean/std in its metadata), checked against "
             "PyTorch with onnxruntime.")


def render_run_import(key: str, owner: str = "") -> None:
    """An uploader for a run zip downloaded from CNN Lab: checked (weights only, shapes, size limits) and
    saved as a new run, which then shows in the run lists, the Grad-CAM viewer and Inside the network."""
    with st.expander("Import a run zip (a classmate's model)"):
        upload = st.file_uploader("Run zip", type=["zip"], key=f"{key}_upload",
                                  help="A zip made with 'Download run (.zip)'. Its code is never run: the "
                                       "network is rebuilt from its settings and the weights are checked.")
        if st.button("Import run", key=f"{key}_button", disabled=upload is None):
            try:
                run_dir = export.import_run_zip(upload.getvalue(), owner=owner, teacher=is_teacher())
            except (ValueError, OSError) as error:
                st.error(f"{plain(upload.name)}: {plain(error, 600)}")
            else:
                st.success(f"Imported as run {run_dir.name}: it is in the run list now.")
