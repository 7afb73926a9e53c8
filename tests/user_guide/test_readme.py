"""Run the ```python blocks of README.md, in order, so that the README can never rot."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md should contain at least one ```python example"
    namespace = {"__name__": "__readme__"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"README.md[block {index}]", "exec"), namespace)
