"""Literature search and PDF parsing against a real HTTP server on 127.0.0.1 speaking the
Semantic Scholar bulk-search endpoint, with the real semanticscholar client and pdfplumber."""

import json
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("semanticscholar")
pytest.importorskip("pdfplumber")

from mlgym_tools.literature import LiteratureConfig, LiteratureService  # noqa: E402

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def make_pdf(pages):
    """A minimal valid PDF (Helvetica text, one content stream per page) with a correct xref table."""
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids = []
    for i, text in enumerate(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        kids.append(f"{page_id} 0 R")
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objs[page_id] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
                         f">> /Contents {content_id} 0 R >>").encode()
        objs[content_id] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for n in sorted(objs):
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for n in sorted(objs):
        out += b"%010d 00000 n \n" % offsets[n]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


PAPERS = [{"paperId": f"p{i:03d}", "title": f"Paper {i} on learning rates", "abstract": f"Abstract {i}.",
           "openAccessPdf": {"url": f"https://arxiv.org/pdf/{i}.pdf", "status": "GREEN"}} for i in range(25)]


class S2(BaseHTTPRequestHandler):
    state = {"429": 0, "calls": []}

    def _send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if u.path == "/graph/v1/paper/search/bulk":
            self.state["calls"].append(q)
            query = q.get("query", [""])[0]
            if query == "ratelimited" and self.state["429"] < 2:
                self.state["429"] += 1
                return self._send(429, {"message": "Too Many Requests"})
            if query == "alwayslimited":
                return self._send(429, {"message": "Too Many Requests"})
            if query == "nothing":
                return self._send(200, {"total": 0, "data": []})
            assert "openAccessPdf" in q and q["fields"] == ["paperId,title,abstract,openAccessPdf"]
            start = int(q.get("token", ["0"])[0])
            page = PAPERS[start:start + 10]  # small pages: the client must follow the token
            body = {"total": len(PAPERS), "data": page}
            if start + 10 < len(PAPERS):
                body["token"] = str(start + 10)
            return self._send(200, body)
        if u.path == "/paper.pdf":
            return self._send(200, make_pdf(["Hello mlgym page one", "Second page text"]), "application/pdf")
        if u.path == "/long.pdf":
            return self._send(200, make_pdf([f"Page number {i} " + "word " * 40 for i in range(30)]), "application/pdf")
        if u.path == "/page.html":
            return self._send(200, b"<html>not a pdf</html>", "text/html")
        if u.path == "/corrupt.pdf":
            return self._send(200, b"%PDF-1.4\n garbage garbage \x00\x01 no objects", "application/pdf")
        if u.path == "/huge.pdf":
            return self._send(200, b"%PDF-1.4\n" + b"0" * 300_000, "application/pdf")
        return self._send(404, {"error": "not found"})

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), S2)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def service(server, short_tmp):
    opts = {"s2_api_url": server, "allowed_hosts": "127.0.0.1", "backoff": 0.01, "retries": 3,
            "pdf_max_bytes": 200_000, "pdf_max_chars": 3000, "timeout": 5}
    svc = LiteratureService(task_id="fixtureTask", socket_dir=short_tmp, options=opts)
    yield svc, server
    svc.close()


def call(svc, op, **args):
    import sys

    from mlgym_tools import tools

    sys.path.insert(0, str(tools.SCRIPTS))
    try:
        import _mlgym_client
    finally:
        sys.path.pop(0)
    import os

    os.environ["MLGYM_SERVICES_DIR"] = str(svc.socket_path.parent)
    try:
        return _mlgym_client.call("literature", op, **args)
    finally:
        del os.environ["MLGYM_SERVICES_DIR"]


def test_bulk_search_follows_tokens_and_prints_json_lines(service):
    svc, _ = service
    reply = call(svc, "search", query="learning rate", num_results=23)
    lines = reply["output"].split("\n")
    assert reply["ok"] and len(lines) == 23
    first = json.loads(lines[0])
    assert first == {"paperId": "p000", "title": "Paper 0 on learning rates", "abstract": "Abstract 0.",
                     "pdf_url": "https://arxiv.org/pdf/0.pdf"}
    assert json.loads(lines[22])["paperId"] == "p022"


def test_rate_limit_is_retried_then_reported_in_one_line(service):
    svc, _ = service
    S2.state["429"] = 0
    assert len(call(svc, "search", query="ratelimited", num_results=3)["output"].split("\n")) == 3
    reply = call(svc, "search", query="alwayslimited", num_results=3)
    assert not reply["ok"] and reply["output"] == (
        "Error: Semantic Scholar rate limit (HTTP 429) persisted after 3 retries; wait a minute or set S2_API_KEY")


def test_empty_results_and_unreachable_api(service, short_tmp):
    svc, _ = service
    assert call(svc, "search", query="nothing")["output"] == 'No papers found for "nothing".'
    dead = LiteratureService(task_id="t", socket_dir=short_tmp + "/d",
                             options={"s2_api_url": "http://127.0.0.1:9", "timeout": 2})
    try:
        reply = call(dead, "search", query="x")
        assert not reply["ok"] and reply["output"].startswith("Error: could not reach Semantic Scholar at "
                                                              "http://127.0.0.1:9")
        assert "\n" not in reply["output"]
    finally:
        dead.close()


def test_parse_pdf_with_page_markers(service):
    svc, url = service
    reply = call(svc, "parse_pdf", url=f"{url}/paper.pdf")
    assert reply["ok"]
    assert reply["output"] == "--- Page 1 of 2 ---\nHello mlgym page one\n--- Page 2 of 2 ---\nSecond page text\n"


def test_parse_pdf_truncates_long_text(service):
    svc, url = service
    out = call(svc, "parse_pdf", url=f"{url}/long.pdf")["output"]
    assert out.startswith("--- Page 1 of 30 ---\nPage number 0 word")
    assert out.endswith("[truncated: the text is longer than 3,000 characters; only the beginning is shown]")
    assert len(out) < 3200


@pytest.mark.parametrize("path,message", [
    ("/page.html", "Error: the URL did not return a PDF (no %PDF- header)"),
    ("/corrupt.pdf", "Error: the PDF"),
    ("/huge.pdf", "Error: the PDF is 300,009 bytes, over the 200,000-byte limit"),
    ("/missing.pdf", "Error: download failed: HTTP 404 from "),
])
def test_bad_pdfs_give_one_clear_line(service, path, message):
    svc, url = service
    reply = call(svc, "parse_pdf", url=url + path)
    assert not reply["ok"] and reply["output"].startswith(message) and "\n" not in reply["output"]


def test_allow_list_blocks_other_hosts(service):
    svc, _ = service
    reply = call(svc, "parse_pdf", url="http://example.com/x.pdf")
    assert reply["output"] == "Error: host 'example.com' is not in the literature allow-list (MLGYM_LIT_ALLOWED_HOSTS)"
    assert call(svc, "parse_pdf", url="file:///etc/passwd")["output"] == "Error: not an http(s) URL: file:///etc/passwd"


def test_config_from_environment(monkeypatch):
    monkeypatch.setenv("MLGYM_S2_API_URL", "http://s2.local:8080/")
    monkeypatch.setenv("S2_API_KEY", "k123")
    cfg = LiteratureConfig({})
    assert cfg.api_url == "http://s2.local:8080" and cfg.api_key == "k123" and "s2.local" in cfg.allowed
    assert "arxiv.org" in cfg.allowed and "example.com" not in cfg.allowed


@needs_bwrap
def test_tools_through_the_sandbox(make_env, server):
    env = make_env(tools=("default", "literature"), tool_options={"s2_api_url": server, "allowed_hosts": "127.0.0.1"})
    env.reset(seed=0)
    out = env.step("literature_search learning rates 2")[0].strip().split("\n")
    assert [json.loads(x)["paperId"] for x in out] == ["p000", "p001"]
    assert env.step(f"parse_pdf_url {server}/paper.pdf")[0].startswith("--- Page 1 of 2 ---\nHello mlgym page one")
    # the sandbox itself has no network: the same URL is unreachable from its shell
    assert "Hello" not in env.step(f"python3 -c \"import urllib.request as u; u.urlopen('{server}/paper.pdf')\"")[0]
    assert env.step("literature_search")[0].strip() == "Usage: literature_search <query> [<num_results>]"
