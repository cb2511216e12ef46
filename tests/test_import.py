"""cnnkit must import (and its CLI run) with streamlit absent."""

import subprocess
import sys

BLOCK_STREAMLIT = (
    "import sys, importlib.abc\n"
    "class Block(importlib.abc.MetaPathFinder):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name == 'streamlit' or name.startswith('streamlit.'):\n"
    "            raise ImportError('streamlit blocked for this test')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def test_cnnkit_imports_without_streamlit():
    code = BLOCK_STREAMLIT + (
        "import pkgutil, importlib, cnnkit\n"
        "for m in pkgutil.walk_packages(cnnkit.__path__, 'cnnkit.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "assert 'streamlit' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
