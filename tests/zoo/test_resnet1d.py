import pytest

import kzoo.zoo


def test_depth_sets_residual_blocks_and_widths():
    model = kzoo.zoo.create("resnet1d", (20, 2), 3, depth=4, filters=8)
    adds = [layer.name for layer in model.layers if layer.name.endswith("_add")]
    assert adds == [f"block_{i}_add" for i in range(4)]
    widths = [model.get_layer(f"block_{i}_out").output.shape[-1] for i in range(4)]
    assert widths == [8, 16, 16, 16]
    # A projection where the width changes (input -> 8, 8 -> 16), identity + BN after.
    names = {layer.name for layer in model.layers}
    assert {"block_0_shortcut_conv", "block_1_shortcut_conv", "block_2_shortcut_bn"} <= names
    assert "block_2_shortcut_conv" not in names


def test_rejects_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        kzoo.zoo.create("resnet1d", (20, 2), 3, depth=0)
