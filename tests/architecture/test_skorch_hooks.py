"""The private parts of skorch that the package relies on are there, as it expects them.

skorch offers public hooks for most of what :class:`InMemoryNet` changes
(``get_iterator``, ``train_step``, ``infer``, callbacks, ``predefined_split``).
Where only a private one will do, pyproject.toml caps skorch below its next
minor version; this test says what to check before raising that cap.
"""

import ast
import inspect
from pathlib import Path

import torch
from skorch import NeuralNet, NeuralNetRegressor

from sklearn_dgex._torch import net as glue

#: skorch's private methods that InMemoryNet overrides, with the signature it assumes.
OVERRIDDEN = {"_set_training": "(self, training=True)"}
#: skorch's private attribute that a warm start updates (sklearn_dgex._fit.warm_start).
ATTRIBUTES = {"_params_to_validate": set}
#: skorch's default callbacks, all of which InMemoryNet's ``_default_callbacks`` replace.
DEFAULT_CALLBACKS = ["epoch_timer", "train_loss", "valid_loss", "print_log"]


def _private_names_used_by_the_glue():
    """Private names of skorch's NeuralNet that the glue module overrides or calls."""
    source = Path(inspect.getfile(glue)).read_text()
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Call)):
            names.add(node.attr)
    return {
        name
        for name in names
        if name.startswith("_") and not name.startswith("__") and hasattr(NeuralNet, name)
    }


def test_the_glue_uses_only_the_private_skorch_methods_listed_here():
    assert _private_names_used_by_the_glue() == {*OVERRIDDEN, "_default_callbacks"}


def test_the_overridden_private_methods_keep_their_signatures():
    for name, signature in OVERRIDDEN.items():
        assert str(inspect.signature(getattr(NeuralNet, name))) == signature, name
    assert isinstance(inspect.getattr_static(NeuralNet, "_default_callbacks"), property)


def test_skorch_defaults_are_those_the_net_replaces():
    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=2, module__out_features=1)
    assert [name for name, _ in net._default_callbacks] == DEFAULT_CALLBACKS
    net.initialize()
    for name, kind in ATTRIBUTES.items():
        assert isinstance(getattr(net, name), kind), name
    in_memory = glue.InMemoryNet(torch.nn.Linear, module__in_features=2, module__out_features=1)
    assert [name for name, _ in in_memory.initialize().callbacks_] == ["epoch_timer"]
