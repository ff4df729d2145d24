"""Every plugin test runs on the CPU and, when torch sees a CUDA GPU, on the GPU (conftest.plugin_device)."""

import pytest


@pytest.fixture(autouse=True)
def _each_device(plugin_device):
    return plugin_device
