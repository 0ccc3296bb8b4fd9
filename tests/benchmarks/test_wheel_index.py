import hashlib
from pathlib import Path

import httpx
from benchmarks.wheel_index import PAGE_CACHE_CONTROL, normalize, serve


def _wheel(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_bytes(b"not really a zip, the index only serves it: " + name.encode())
    return path


def test_the_loopback_index_answers_like_pypi_so_uvx_can_reuse_its_cache(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path, "jaraco.classes-3.4.0-py3-none-any.whl")
    other = _wheel(tmp_path, "mcp_oauth2_proxy-0.1.0-py3-none-any.whl")
    with serve([wheel, other]) as url, httpx.Client() as http:
        assert url.startswith("http://127.0.0.1:")
        page = http.get(f"{url}/Jaraco_Classes/")
        assert page.status_code == 200
        assert page.headers["cache-control"] == PAGE_CACHE_CONTROL
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        assert f"/files/{wheel.name}#sha256={digest}" in page.text
        assert other.name not in page.text
        again = http.get(f"{url}/jaraco-classes/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
        base = url.removesuffix("/simple")
        assert http.get(f"{base}/files/{wheel.name}").content == wheel.read_bytes()
        assert http.head(f"{base}/files/{wheel.name}").headers["content-length"] == str(
            wheel.stat().st_size
        )
        assert http.get(f"{url}/unknown/").status_code == 404
        assert http.get(f"{base}/files/../../etc/passwd").status_code == 404


def test_project_names_are_normalized_as_pep_503_says() -> None:
    assert normalize("Jaraco.Classes") == normalize("jaraco_classes") == "jaraco-classes"
