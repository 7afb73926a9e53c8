"""The one atomic file writer and the one JSON default of the package (_files)."""

import json
from pathlib import Path

import numpy as np
import pytest

from sklearn_dgex._files import json_default, write_atomically


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.bin"
    assert write_atomically(path, lambda stream: stream.write(b"old")) == path

    def fail(stream):
        stream.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_json_default_writes_numpy_values_and_paths_and_refuses_the_rest():
    value = {"loss": np.float32(0.5), "epoch": np.int64(3), "a": np.arange(2), "p": Path("x")}
    assert json.loads(json.dumps(value, default=json_default)) == {
        "loss": 0.5,
        "epoch": 3,
        "a": [0, 1],
        "p": "x",
    }
    with pytest.raises(TypeError, match="object is not JSON serializable"):
        json.dumps(object(), default=json_default)
