"""Bundles unpack only plain files and folders inside their folder, on every supported Python."""

from __future__ import annotations

import io
import tarfile

import pytest

from tpuctl.agent.bundles import UnsafeBundle, unpack


def _bundle(*members: tarfile.TarInfo, body: bytes = b"print('hi')\n") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            tar.addfile(member, io.BytesIO(body) if member.isfile() else None)
    return buffer.getvalue()


def _file(name: str, body: bytes = b"print('hi')\n") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    return info


def test_a_bundle_of_files_and_folders_unpacks(tmp_path):
    folder = tarfile.TarInfo("pkg")
    folder.type = tarfile.DIRTYPE
    unpack(_bundle(folder, _file("pkg/main.py")), tmp_path / "out")
    assert (tmp_path / "out" / "pkg" / "main.py").read_text() == "print('hi')\n"


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("member", [
    _file("../escape.py"), _file("/abs/escape.py"), _file("pkg/../../escape.py"),
    _link("pkg/link", "/etc/passwd", tarfile.SYMTYPE), _link("pkg/hard", "/etc/passwd", tarfile.LNKTYPE),
], ids=["dotdot", "absolute", "nested-dotdot", "symlink", "hardlink"])
def test_a_member_that_could_leave_the_folder_is_refused_and_nothing_is_written(tmp_path, member):
    with pytest.raises(UnsafeBundle):
        unpack(_bundle(_file("ok.py"), member), tmp_path / "out")
    assert not (tmp_path / "escape.py").exists()
    assert list((tmp_path / "out").iterdir()) == []
