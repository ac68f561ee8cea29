"""The walk-through of docs/python.md runs as written: every ```python block, in order, in one
namespace (needs torch and matplotlib; skipped without them)."""

import re

import pytest

from conftest import ROOT


def test_python_page_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    page = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/python.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "CurvatureOperator(exact, dense, shape=(690, 690))" in out
    assert (tmp_path / "spectra.png").stat().st_size > 1000
    # what the page says of the wrong claim
    assert namespace["report"].passed is False
    assert "(sigma, sigma)" in namespace["report"].failure


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    page = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert 0 < float(capsys.readouterr().out.strip()) < 1  # K-FAC's relative Frobenius error
