"""The sandbox's source stays readable: modules short enough to read at once,
no function over 100 lines, no catch-all module names. (No sandbox needed.)"""

import ast
from pathlib import Path

from conftest import HERE, SANDBOX_DIR

PACKAGE = SANDBOX_DIR / "cruddur_sandbox"
MAX_MODULE_LINES = 400
MAX_TEST_FILE_LINES = 600
MAX_FUNCTION_LINES = 100
VAGUE_NAMES = {"util", "utils", "helpers", "misc", "common", "dockerx", "model"}


def python_files() -> list[Path]:
    return sorted(PACKAGE.glob("*.py")) + sorted(HERE.glob("*.py"))


def test_every_module_of_the_agent_is_under_400_lines_and_every_test_file_under_600():
    long = []
    for path in python_files():
        limit = MAX_MODULE_LINES if path.parent == PACKAGE else MAX_TEST_FILE_LINES
        lines = len(path.read_text().splitlines())
        if lines > limit:
            long.append(f"{path.name}: {lines} lines (limit {limit})")
    assert not long, long


def test_no_function_is_over_100_lines():
    long = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.name}:{node.lineno} {node.name}: {lines} lines")
    assert not long, long


def test_module_names_say_what_is_in_them():
    vague = [p.name for p in PACKAGE.glob("*.py") if p.stem in VAGUE_NAMES]
    assert not vague, vague
