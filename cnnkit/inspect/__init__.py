"""Inside the network: every layer's maps for one image, receptive fields, the images a channel likes,
the learned filters, and the arithmetic of one output value (conv, pooling, ReLU, batch norm, softmax).

    from cnnkit.inspect import capture_activations, breakdown_at, channel_grid
    em = load_inspectable("preset:cnn3")                     # or a run folder, or "efficientnet_lite0"
    acts = capture_activations(em.model, em.preprocess(image))
    grid = channel_grid(acts.get("layers.0").values)         # all channels, strongest first
    b = breakdown_at(em.model, x, "layers.0", (5, 10, 12))   # b.value == b.framework_value
"""

from cnnkit.inspect.activations import (
    Activations,
    LayerActivation,
    LayerStats,
    capture_activations,
    layer_table,
    shape_changes,
)
from cnnkit.inspect.arithmetic import (
    Breakdown,
    NotArithmeticLayer,
    SoftmaxBreakdown,
    batchnorm_breakdown,
    breakdown_at,
    conv_breakdown,
    explain_layer,
    has_breakdown,
    layer_io,
    pool_breakdown,
    relu_breakdown,
    softmax_breakdown,
)
from cnnkit.inspect.filters import FilterImages, conv_modules, first_conv_filters, kernel_grid
from cnnkit.inspect.grids import (MAX_TILES_PER_PAGE, ChannelGrid, channel_grid, map_image, map_on_input, page_count,
                                 strongest_channel)
from cnnkit.inspect.models import (from_preset, initial_model, load_inspectable, load_model_choice, model_choices,
                                  preset_choices)
from cnnkit.inspect.output_size import OutputSize, output_size, window_diagram, window_picture
from cnnkit.inspect.receptive_field import Box, Geometry, draw_box, gradient_box, receptive_box, spec_geometry, unit_box
from cnnkit.inspect.top_images import MAX_SAMPLE, ChannelScores, TopImage, channel_scores, top_images
from cnnkit.inspect.unit import (INPUT, InputWindow, UnitTrace, check_unit, overview_channels, overview_layers,
                                 overview_rows, trace_unit)

__all__ = [
    "INPUT", "InputWindow", "UnitTrace", "check_unit", "overview_channels", "overview_layers", "overview_rows",
    "trace_unit",
    "Activations", "Box", "Breakdown", "ChannelGrid", "ChannelScores", "FilterImages", "Geometry", "LayerActivation",
    "LayerStats", "MAX_SAMPLE", "MAX_TILES_PER_PAGE", "NotArithmeticLayer", "OutputSize", "SoftmaxBreakdown",
    "TopImage", "batchnorm_breakdown", "breakdown_at", "capture_activations", "channel_grid", "channel_scores",
    "conv_breakdown", "conv_modules", "draw_box", "explain_layer", "first_conv_filters", "has_breakdown", "from_preset",
    "gradient_box", "initial_model", "kernel_grid", "layer_io", "layer_table", "load_inspectable",
    "load_model_choice", "map_image", "map_on_input", "model_choices", "output_size", "preset_choices", "page_count", "pool_breakdown",
    "receptive_box", "relu_breakdown", "shape_changes", "softmax_breakdown", "spec_geometry", "strongest_channel",
    "top_images", "unit_box", "window_diagram", "window_picture",
]
