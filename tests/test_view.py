"""`mlgym view` without a browser: the page waits for runs, /version follows the run files, unknown
paths are 404, a missing folder is a one-line error. (The live page itself is tested in Chromium in
plugins/mlgym_agents/tests/test_view.py, against a running episode.)"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from mlgym_core.errors import MlgymError
from mlgym_core.view import ViewServer


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def test_view_waits_for_runs_and_tracks_their_files(tmp_path):
    srv = ViewServer([tmp_path]).start()
    try:
        page = _get(srv.url)
        assert "Waiting for runs" in page and "/version" in page
        v0 = _get(srv.url + "version")
        run = tmp_path / "r1"
        run.mkdir()
        (run / "run.json").write_text(json.dumps({"schema": "mlgym-run/1"}))
        v1 = _get(srv.url + "version")
        assert v1 != v0
        assert _get(srv.url + "version") == v1  # nothing changed: same fingerprint
        with pytest.raises(urllib.error.HTTPError) as ei:
            _get(srv.url + "elsewhere")
        assert ei.value.code == 404
    finally:
        srv.close()


def test_view_of_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(MlgymError, match="no such run directory"):
        ViewServer([tmp_path / "nope"])
