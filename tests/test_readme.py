"""The README's Python examples run and their assertions hold (so the docs cannot rot)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 4


def test_readme_python_examples_run_in_order():
    namespace = {}
    for block in _python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
