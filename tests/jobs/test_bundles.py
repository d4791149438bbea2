"""Bundles unpack only plain files and folders inside their folder, on every supported Python."""

from __future__ import annotations

import io
import tarfile

import pytest

from tpuctl.adapters.bundles import UnsafeBundle, unpack


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


def test_a_bundle_that_unpacks_to_gigabytes_is_refused_early_in_one_sentence(tmp_path):
    import gzip

    header = _file("big.bin", b"")
    header.size = 2 * 2**30
    zeros = gzip.compress(bytes(2**24), compresslevel=9)      # gzip members may follow one another
    data = gzip.compress(header.tobuf(format=tarfile.PAX_FORMAT)) + zeros * 128     # 2 GB of zeros
    assert len(data) < 3 * 2**20
    with pytest.raises(UnsafeBundle) as refused:
        unpack(data, tmp_path / "out")
    assert refused.value.message == "The bundle unpacks to more than 512 MB, the most tpuctl unpacks."
    assert list((tmp_path / "out").iterdir()) == []           # checked before a byte is written


def test_bytes_no_member_declares_are_counted_too(tmp_path, monkeypatch):
    """A PAX header's own data is in no member's size: the stream's count still stops it."""
    import gzip

    monkeypatch.setattr("tpuctl.adapters.bundles.MAX_UNPACKED", 2**20)
    padded = _file("ok.py")
    padded.pax_headers = {"comment": "x" * 4 * 2**20}
    data = gzip.compress(padded.tobuf(format=tarfile.PAX_FORMAT) + b"print('hi')\n".ljust(512, b"\0"))
    with pytest.raises(UnsafeBundle) as refused:
        unpack(data, tmp_path / "out")
    assert refused.value.message == "The bundle unpacks to more than 1 MB, the most tpuctl unpacks."
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name, sentence", [
    ("a" * 256 + ".py", f"Bundle member '{'a' * 57}...' has a name longer than 255 bytes, which no file system takes."),
    (".", "Bundle member '.' is not a file name."),
], ids=["long", "dot"])
def test_names_no_file_system_takes_give_one_sentence(tmp_path, name, sentence):
    with pytest.raises(UnsafeBundle) as refused:
        unpack(_bundle(_file("ok.py"), _file(name)), tmp_path / "out")
    assert refused.value.message == sentence
    assert list((tmp_path / "out").iterdir()) == []
