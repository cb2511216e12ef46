"""cnnkit.models: layer specs, shape-checked building, summaries, presets, export."""

from cnnkit.models.adapt import adapt_spec, set_dropout
from cnnkit.models.build import ParamCounts, SpecNet, build_model, conv_layer_names, count_params
from cnnkit.models.diagram import CATEGORY_COLOURS, diagram_blocks
from cnnkit.models.export import export_class_name, export_code
from cnnkit.models.layers import GlobalAvgPool, ResidualBlock
from cnnkit.models.presets import PRESETS, get_preset, list_presets
from cnnkit.models.registry import (MODEL_KINDS, ModelBundle, ModelKind, build_bundle, model_kind, rebuild_model,
                                    register_model_kind)
from cnnkit.models.spec import (LAYER_TYPES, LayerSpec, LayerType, ModelSpec, ParamInfo, SpecError, describe_layer,
                                 new_layer)
from cnnkit.models.summary import ModelSummary, SummaryRow, format_summary, summarize, summary_table
from cnnkit.models.validate import analyze, check, validate

__all__ = [
    "CATEGORY_COLOURS", "GlobalAvgPool", "LAYER_TYPES", "LayerSpec", "LayerType", "MODEL_KINDS", "ModelBundle", "ModelKind", "ModelSpec", "ModelSummary",
    "PRESETS", "ParamCounts", "ParamInfo", "ResidualBlock", "SpecError", "SpecNet", "SummaryRow", "adapt_spec", "analyze",
    "build_bundle", "build_model", "check", "conv_layer_names", "count_params", "describe_layer", "diagram_blocks", "export_class_name", "export_code",
    "format_summary", "get_preset", "list_presets", "model_kind", "new_layer", "rebuild_model", "register_model_kind",
    "set_dropout", "summarize", "summary_table", "validate",
]
