"""`make run` writes a .env without Django's debug mode, and says at start whether it is on."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(name: str):
    spec = importlib.util.spec_from_file_location(f"botwatch_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_written_env_leaves_debug_off():
    lines = script("make_env").TEXT.splitlines()
    assert "DEBUG=0" in lines and "DEBUG=1" not in lines


@pytest.mark.parametrize(("value", "said"), [("1", "Django's debug mode is ON"), ("0", "DEBUG=0: error pages")])
def test_run_says_whether_debug_is_on(monkeypatch, value, said):
    monkeypatch.setenv("DEBUG", value)
    assert said in script("run").debug_notice()
