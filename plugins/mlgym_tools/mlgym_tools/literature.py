"""Literature search (Semantic Scholar bulk search) and PDF parsing (pdfplumber), host side.

The sandbox has no network, so these two tools are served from the host, on purpose, and only
towards an allow-list of hosts (``MLGYM_LIT_ALLOWED_HOSTS``, comma-separated; tool option
``allowed_hosts``). Settings: ``MLGYM_S2_API_URL`` (API base, default https://api.semanticscholar.org),
``S2_API_KEY``, ``MLGYM_PDF_MAX_BYTES`` (download cap, default 25 MB), ``MLGYM_PDF_MAX_CHARS``
(text cap, default 100,000), ``MLGYM_LIT_TIMEOUT`` (seconds per request, default 15),
``MLGYM_LIT_RETRIES`` (HTTP 429 retries, default 3, exponential backoff from ``MLGYM_LIT_BACKOFF`` s).
Every failure is one ``Error: ...`` line for the agent.
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .service import ServiceError, SocketService, option

DEFAULT_API = "https://api.semanticscholar.org"
DEFAULT_HOSTS = ("api.semanticscholar.org", "www.semanticscholar.org", "pdfs.semanticscholar.org", "arxiv.org",
                 "export.arxiv.org", "aclanthology.org", "openreview.net", "proceedings.neurips.cc",
                 "papers.nips.cc", "proceedings.mlr.press", "jmlr.org", "www.jmlr.org", "openaccess.thecvf.com",
                 "www.ijcai.org", "ojs.aaai.org", "www.biorxiv.org", "www.medrxiv.org", "europepmc.org",
                 "www.ncbi.nlm.nih.gov", "dl.acm.org", "link.springer.com", "www.mdpi.com", "www.nature.com",
                 "downloads.hindawi.com", "www.frontiersin.org", "journals.plos.org", "ieeexplore.ieee.org",
                 "www.aclweb.org", "zenodo.org", "hal.science", "www.jstage.jst.go.jp")
FIELDS = ["paperId", "title", "abstract", "openAccessPdf"]


class LiteratureConfig:
    def __init__(self, options: dict[str, Any] | None = None) -> None:
        o = options or {}
        self.api_url = str(option(o, "s2_api_url", "MLGYM_S2_API_URL", DEFAULT_API)).rstrip("/")
        self.api_key = option(o, "s2_api_key", "S2_API_KEY", None)
        hosts = option(o, "allowed_hosts", "MLGYM_LIT_ALLOWED_HOSTS", None)
        if isinstance(hosts, str):
            hosts = [h.strip().lower() for h in hosts.split(",") if h.strip()]
        self.allowed = set(hosts) if hosts else set(DEFAULT_HOSTS)
        api_host = urllib.parse.urlsplit(self.api_url).hostname
        if api_host:
            self.allowed.add(api_host.lower())  # the configured API is trusted by definition
        self.max_bytes = int(option(o, "pdf_max_bytes", "MLGYM_PDF_MAX_BYTES", 25_000_000))
        self.max_chars = int(option(o, "pdf_max_chars", "MLGYM_PDF_MAX_CHARS", 100_000))
        self.timeout = float(option(o, "timeout", "MLGYM_LIT_TIMEOUT", 15))
        self.retries = int(option(o, "retries", "MLGYM_LIT_RETRIES", 3))
        self.backoff = float(option(o, "backoff", "MLGYM_LIT_BACKOFF", 1.0))

    def check_url(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServiceError(f"not an http(s) URL: {url}")
        if "*" not in self.allowed and parts.hostname.lower() not in self.allowed:
            raise ServiceError(f"host '{parts.hostname}' is not in the literature allow-list "
                               "(MLGYM_LIT_ALLOWED_HOSTS)")


def search(cfg: LiteratureConfig, query: str, n: int = 20) -> list[dict[str, Any]]:
    """Bulk search through the semanticscholar client; follows continuation tokens until n papers."""
    from semanticscholar import SemanticScholar

    cfg.check_url(cfg.api_url)
    attempt = 0
    while True:
        try:
            return _search_once(SemanticScholar, cfg, query, n)
        except Exception as exc:
            err = _unwrap(exc)
            if not isinstance(err, ConnectionRefusedError):  # the client's signal for HTTP 429
                _raise_search_error(cfg, err)
            attempt += 1
            if attempt > cfg.retries:
                raise ServiceError(f"Semantic Scholar rate limit (HTTP 429) persisted after {cfg.retries} "
                                   "retries; wait a minute or set S2_API_KEY") from None
            time.sleep(cfg.backoff * 2 ** (attempt - 1))


def _unwrap(exc: BaseException) -> BaseException:
    """The client wraps failures in tenacity's RetryError; get the real one."""
    last = getattr(exc, "last_attempt", None)
    if last is not None and hasattr(last, "exception"):
        inner = last.exception()
        if inner is not None:
            return inner
    return exc


def _raise_search_error(cfg: LiteratureConfig, exc: BaseException) -> None:
    if isinstance(exc, ServiceError):
        raise exc
    if isinstance(exc, PermissionError):
        raise ServiceError("Semantic Scholar refused the request (HTTP 403): check S2_API_KEY") from None
    name = type(exc).__name__
    if "Timeout" in name or "Connect" in name or isinstance(exc, OSError):
        raise ServiceError(f"could not reach Semantic Scholar at {cfg.api_url}: {name}") from None
    raise ServiceError(f"Semantic Scholar search failed: {name}: {exc}".splitlines()[0]) from None


def _search_once(client_cls: Any, cfg: LiteratureConfig, query: str, n: int) -> list[dict[str, Any]]:
    sch = client_cls(timeout=int(max(1, cfg.timeout)), api_key=cfg.api_key, api_url=cfg.api_url, retry=False)
    results = sch.search_paper(query, bulk=True, fields=FIELDS, open_access_pdf=True, limit=min(n, 1000))
    papers: list[dict[str, Any]] = []
    for p in results:
        pdf = (p.openAccessPdf or {}).get("url") if isinstance(p.openAccessPdf, dict) else None
        papers.append({"paperId": p.paperId, "title": p.title, "abstract": p.abstract, "pdf_url": pdf})
        if len(papers) >= n:
            break
    return papers


class _Redirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, cfg: LiteratureConfig) -> None:
        self.cfg = cfg

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.cfg.check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(cfg: LiteratureConfig, url: str) -> bytes:
    cfg.check_url(url)
    opener = urllib.request.build_opener(_Redirects(cfg))
    req = urllib.request.Request(url, headers={"User-Agent": "mlgym-tools/0.1 (parse_pdf_url)"})
    attempt = 0
    while True:
        try:
            with opener.open(req, timeout=cfg.timeout) as r:
                length = r.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > cfg.max_bytes:
                    raise ServiceError(f"the PDF is {int(length):,} bytes, over the {cfg.max_bytes:,}-byte limit")
                data = r.read(cfg.max_bytes + 1)
                if len(data) > cfg.max_bytes:
                    raise ServiceError(f"the PDF is over the {cfg.max_bytes:,}-byte limit")
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 429 and attempt < cfg.retries:
                attempt += 1
                time.sleep(cfg.backoff * 2 ** (attempt - 1))
                continue
            raise ServiceError(f"download failed: HTTP {exc.code} from {url}") from None
        except urllib.error.URLError as exc:
            raise ServiceError(f"download failed: {exc.reason} ({url})") from None
        except TimeoutError:
            raise ServiceError(f"download timed out after {cfg.timeout:g} s ({url})") from None
        except OSError as exc:
            raise ServiceError(f"download failed: {exc} ({url})") from None


def pdf_text(cfg: LiteratureConfig, data: bytes) -> str:
    """Text of every page with page markers, truncated past cfg.max_chars with a note."""
    import pdfplumber

    if not data.lstrip()[:5].startswith(b"%PDF-"):
        raise ServiceError("the URL did not return a PDF (no %PDF- header)")
    parts: list[str] = []
    size = 0
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            n = len(pdf.pages)
            for i, page in enumerate(pdf.pages, 1):
                chunk = f"--- Page {i} of {n} ---\n{page.extract_text() or ''}\n"
                parts.append(chunk)
                size += len(chunk)
                if size > cfg.max_chars:
                    break
    except ServiceError:
        raise
    except Exception as exc:
        raise ServiceError(f"the PDF could not be parsed ({type(exc).__name__}); it may be corrupt") from None
    text = "".join(parts)
    if not text.replace("-", "").strip() or all(not p.split("\n", 1)[1].strip() for p in parts):
        raise ServiceError("the PDF has no extractable text (scanned images?)")
    if len(text) > cfg.max_chars:
        text = text[:cfg.max_chars] + (f"\n[truncated: the text is longer than {cfg.max_chars:,} characters; "
                                       "only the beginning is shown]")
    return text


class LiteratureService(SocketService):
    name = "literature"

    def __init__(self, *, task_id: str, socket_dir: str | os.PathLike[str], options: dict[str, Any]) -> None:
        self.cfg = LiteratureConfig(options)
        super().__init__(socket_dir)

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        if op == "search":
            query = str(args.get("query", "")).strip()
            n = int(args.get("num_results", 20))
            if not query:
                raise ServiceError("literature_search needs a query")
            papers = search(self.cfg, query, n)
            if not papers:
                return {"ok": True, "output": f"No papers found for \"{query}\"."}
            return {"ok": True, "output": "\n".join(json.dumps(p) for p in papers)}
        if op == "parse_pdf":
            url = str(args.get("url", "")).strip()
            return {"ok": True, "output": pdf_text(self.cfg, download(self.cfg, url))}
        raise ServiceError(f"unknown literature operation '{op}'")
