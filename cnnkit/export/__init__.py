"""Take a model home: a run as a self-contained zip, ONNX, TensorBoard event files, and zips back in.

Layer: with cnnkit.explain (may use store, models, data, transfer); the CLI and the UI call it.
"""

from cnnkit.export.model_code import ModelCode, ModelCodeError, model_code
from cnnkit.export.onnx_export import OnnxExport, OnnxExportError, export_run_onnx, model_to_onnx
from cnnkit.export.run_import import RunImportError, import_run_zip
from cnnkit.export.run_zip import build_run_zip, run_zip_name
from cnnkit.export.tensorboard_export import TensorBoardRun, export_run, export_runs

__all__ = [
    "ModelCode", "ModelCodeError", "OnnxExport", "OnnxExportError", "RunImportError", "TensorBoardRun",
    "build_run_zip", "export_run", "export_run_onnx", "export_runs", "import_run_zip", "model_code",
    "model_to_onnx", "run_zip_name",
]
