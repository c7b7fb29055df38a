"""Video decoding, paper 002's representative-frame extractor, temporal smoothing and the writer."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from ferkit.errors import ConfigError, VideoError
from ferkit.faces import Face
from ferkit.video import (
    MIN_WRITER_FPS,
    TemporalSmoother,
    TruncatedVideoWarning,
    VideoInfo,
    VideoWriter,
    box_iou,
    frame_series,
    iter_frames,
    open_video,
    representative_frames,
    robust_z_scores,
    select_representative_indices,
    warn_if_truncated,
)


def _write_avi(path, count=30, size=(64, 48), fps=10.0):
    """``count`` MJPG frames whose brightness encodes the frame index (frame i has value 8 * i)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(count):
        writer.write(np.full((size[1], size[0], 3), 8 * i % 256, np.uint8))
    writer.release()
    return path


# ------------------------------------------------------------------------------------------------ decoding


def test_iter_frames_reads_every_frame_with_timestamps(tmp_path):
    path = _write_avi(tmp_path / "clip.avi")
    frames = list(iter_frames(path))
    assert [index for index, _, _ in frames] == list(range(30))
    assert [t for _, t, _ in frames] == pytest.approx([i / 10.0 for i in range(30)])
    assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for _, _, frame in frames)
    # MJPG is lossy, but flat frames survive within a few levels
    assert abs(float(frames[7][2].mean()) - 56) < 4


def test_iter_frames_every_n_and_max_frames(tmp_path):
    path = _write_avi(tmp_path / "clip.avi")
    picked = list(iter_frames(str(path), every_n=4, max_frames=5))
    assert [index for index, _, _ in picked] == [0, 4, 8, 12, 16]
    assert abs(float(picked[2][2].mean()) - 64) < 4  # frame 8, not the 3rd decoded frame
    assert [index for index, _, _ in iter_frames(path, every_n=7)] == [0, 7, 14, 21, 28]
    for bad in ({"max_frames": 0}, {"every_n": 0}, {"every_n": "5"}, {"max_frames": 2.5}, {"every_n": True}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            list(iter_frames(path, **bad))


def _truncated_avi(tmp_path, count=20):
    """An MJPG .avi whose header promises ``count`` frames, cut to a third of its bytes (a copy cut off mid-way).

    Noise frames compress badly, so the frames, not the header, make up most of the file."""
    intact = tmp_path / "intact.avi"
    writer = cv2.VideoWriter(str(intact), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(count):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = intact.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    return intact, cut


def test_a_truncated_video_warns_naming_the_file_and_the_frames_decoded_and_promised(tmp_path):
    intact, cut = _truncated_avi(tmp_path)
    with pytest.warns(TruncatedVideoWarning) as record:
        frames = list(iter_frames(cut))
    assert 1 <= len(frames) < 18
    assert len(record) == 1 and str(record[0].message).startswith(
        f"{cut}: decoding stopped after {len(frames)} of the 20 frames its container promises")
    with pytest.warns(TruncatedVideoWarning, match="of the 20 frames"):  # skipped frames count as decoded ones
        assert list(iter_frames(cut, every_n=3))


def test_an_intact_video_or_a_caller_stopping_early_does_not_warn(tmp_path):
    intact, cut = _truncated_avi(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TruncatedVideoWarning)
        assert len(list(iter_frames(intact))) == 20
        assert len(list(iter_frames(intact, every_n=6))) == 4
        assert len(list(iter_frames(cut, max_frames=2))) == 2  # max_frames reached: the rest was never asked for
        frames = iter_frames(cut)
        next(frames)
        frames.close()  # the caller stopped: nothing to report


@pytest.mark.parametrize("decoded,promised,warns", [(17, 20, True), (18, 20, False), (20, 20, False), (1, 2, False), (0, 3, True),
                                                     (5, 0, False), (5, -1, False), (100, 1000, True)])
def test_only_a_clear_shortfall_of_the_promised_frames_warns(decoded, promised, warns):
    """The container's count can be an estimate: under 90% of it and at least two frames short is a truncation."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        warn_if_truncated("clip.mp4", decoded, promised)
    assert [r.category for r in record] == ([TruncatedVideoWarning] if warns else [])


def test_missing_and_corrupt_videos_raise_video_error(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        list(iter_frames(tmp_path / "missing.mp4"))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(VideoError, match="corrupt"):
        list(iter_frames(corrupt))
    with pytest.raises(VideoError, match="corrupt"):
        with open_video(corrupt):
            pass
    with pytest.raises(VideoError, match="camera index"):
        with open_video(3.5):  # type: ignore[arg-type]
            pass


# ------------------------------------------------------------------------------------------------ frame extractor


def test_robust_z_scores_match_hand_computation():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    # median 3, |x - 3| = [2, 1, 0, 1, 97], MAD = 1, scale 1.4826
    np.testing.assert_allclose(robust_z_scores(values), np.array([2, 1, 0, 1, 97]) / 1.4826)
    # MAD 0 (more than half equal): mean absolute deviation * sqrt(pi/2) instead
    flat = np.array([5.0, 5.0, 5.0, 5.0, 9.0])
    np.testing.assert_allclose(robust_z_scores(flat), np.array([0, 0, 0, 0, 4]) / (1.2533 * 0.8))
    assert not robust_z_scores(np.ones(6)).any()


SPIKES = ((50, 5.0), (90, 8.0), (140, -3.0), (5, 50.0), (195, 50.0))


def _spiky_series(baseline: np.ndarray) -> np.ndarray:
    series = baseline.copy()
    for index, height in SPIKES:
        series[index] += height
    return series


def test_extractor_finds_planted_spikes_and_ignores_trimmed_ends():
    # A slow sinusoid: its lagged differences never reach a robust z of 2.5, so only the spikes are outliers.
    series = _spiky_series(100.0 + 0.5 * np.sin(np.arange(200) / 7.0))
    # lag 1: a one-frame spike at t changes T'_t and T'_{t+1}; spikes at 5 and 195 lie in the trimmed ends.
    assert select_representative_indices(series, n=20, lags=(1,), trim=20) == [50, 51, 90, 91, 140, 141]
    # n keeps the largest changes: the 8.0 spike's two frames
    assert select_representative_indices(series, n=2, lags=(1,), trim=20) == [90, 91]
    # lags 1 and 2 flag t, t+1, t+2; duplicates across lags are merged
    assert select_representative_indices(series, n=20, lags=(1, 2), trim=20) == [50, 51, 52, 90, 91, 92, 140, 141, 142]


def test_extractor_on_noise_ranks_spikes_first():
    # Gaussian noise: about 1.2% of differences pass |z| > 2.5 by chance (the MAD rule's own false-alarm
    # rate), so with room for 20 a few noise frames join; the planted spikes always rank first.
    series = _spiky_series(100.0 + np.random.default_rng(0).normal(0.0, 0.05, 200))
    assert select_representative_indices(series, n=6, lags=(1,), trim=20) == [50, 51, 90, 91, 140, 141]
    selected = select_representative_indices(series, n=20, lags=(1,), trim=20)
    assert {50, 51, 90, 91, 140, 141} <= set(selected) and len(selected) < 20
    assert all(20 <= index < 180 for index in selected) and selected == sorted(set(selected))
    # without a threshold every frame is ranked: always n frames, spikes first
    ranked = select_representative_indices(series, n=20, lags=(1,), trim=20, mad_threshold=None)
    assert len(ranked) == 20 and set(selected) <= set(ranked)
    assert len(select_representative_indices(series, n=500, lags=(1,), trim=20, mad_threshold=None)) == 159


def test_extractor_on_a_step_keeps_the_frames_of_the_change():
    series = np.r_[np.zeros(60), np.ones(60)] + np.random.default_rng(1).normal(0, 0.01, 120)
    # a step at frame 60 is seen by lag m at frames 60 .. 60 + m - 1
    assert select_representative_indices(series, n=4, lags=(1, 2, 4), trim=20) == [60, 61, 62, 63]


def test_extractor_validates_its_arguments():
    series = np.random.default_rng(2).normal(size=60)
    with pytest.raises(ConfigError, match="smaller trim"):
        select_representative_indices(series, trim=27, lags=(8,))
    with pytest.raises(ConfigError):
        select_representative_indices(series, lags=())
    with pytest.raises(ConfigError):
        select_representative_indices(series, n=0)
    with pytest.raises(ConfigError):
        select_representative_indices(series.reshape(6, 10))


def test_representative_frames_on_arrays_and_on_a_video(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(100, 110, (80, 24, 32), dtype=np.uint8)
    frames[45] = 250  # one bright frame
    series = frame_series(frames, sigma=1.0)
    assert series.shape == (80,)
    # a normalised Gaussian (reflect border) conserves the sum almost exactly
    np.testing.assert_allclose(series, frames.reshape(80, -1).sum(1), rtol=1e-3)
    assert representative_frames(frames, n=20, lags=(1,), trim=20) == [45, 46]
    # a video: flat frames and a bright one at 30 (MAD 0: the mean-deviation fallback); indices count decoded frames
    path = tmp_path / "flash.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    for i in range(60):
        writer.write(np.full((24, 32, 3), 240 if i == 30 else 100, np.uint8))
    writer.release()
    assert representative_frames(path, n=20, lags=(1,), trim=20) == [30, 31]


# ------------------------------------------------------------------------------------------------ smoothing


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0


def test_temporal_smoother_ema_per_track():
    smoother = TemporalSmoother(alpha=0.25, iou_threshold=0.3, max_missed=1)
    a, b = (0, 0, 40, 40), (100, 0, 40, 40)
    ids, out = smoother.update([a, b], np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert ids == [0, 1]
    np.testing.assert_allclose(out, [[1, 0], [0, 1]])  # a new track starts at its first value
    # next frame: faces listed in the other order and moved a little; matched by IoU, not by position in list
    ids, out = smoother.update([(102, 2, 40, 40), (3, 1, 40, 40)], np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert ids == [1, 0]
    np.testing.assert_allclose(out, [[0.25, 0.75], [0.75, 0.25]])  # 0.25 * new + 0.75 * old
    ids, out = smoother.update([(3, 1, 40, 40)], np.array([[0.0, 1.0]]))
    assert ids == [0]
    np.testing.assert_allclose(out, [[0.75 * 0.75, 1 - 0.75 * 0.75]])
    np.testing.assert_allclose(out.sum(1), 1.0)
    # a box far from every track starts a new one; track 1 has now been missed twice (> max_missed) and is gone
    ids, _ = smoother.update([Face(300, 300, 40, 40, 1.0)], np.array([[0.5, 0.5]]))
    assert ids == [2]
    ids, _ = smoother.update([Face(300, 300, 40, 40, 1.0)], np.array([[0.5, 0.5]]))
    assert smoother.track_ids == [2]
    with pytest.raises(ConfigError):
        smoother.update([a, b], np.ones((3, 2)))
    with pytest.raises(ConfigError):
        TemporalSmoother(alpha=0.0)


def test_a_video_without_frames_is_named_by_its_plain_path(tmp_path):
    """The message showed PosixPath('vids/zero.avi')."""
    zero = tmp_path / "zero.avi"
    cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24)).release()  # a header, no frame
    with pytest.raises(VideoError) as raised:
        list(iter_frames(zero))
    assert str(raised.value).startswith(f"no frame could be decoded from {zero}: ") and "PosixPath" not in str(raised.value)


def test_iter_frames_reports_the_sources_frame_rate_and_the_sampled_rate_keeps_its_speed(tmp_path):
    info = VideoInfo()
    next(iter_frames(_write_avi(tmp_path / "clip.avi", count=4, fps=8.0), info=info))
    assert info.fps == 8.0 and info.sampled_fps(2) == 4.0 and info.sampled_fps(1) == 8.0
    for unknown in (0.0, float("nan")):  # a source that reports no rate is taken as 25 frames/s
        assert VideoInfo(unknown).sampled_fps(5) == 5.0
    assert VideoInfo(25.0).sampled_fps(10_000) == MIN_WRITER_FPS  # OpenCV's writer does not open far below


# ------------------------------------------------------------------------------------------------ writing


def test_video_writer_round_trip_and_errors(tmp_path):
    path = tmp_path / "out" / "annotated.avi"
    with VideoWriter(path, fps=5.0, frame_size=(64, 48)) as writer:
        for i in range(6):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
        writer.write(np.zeros((48, 64), np.uint8))  # gray frames are accepted
        with pytest.raises(VideoError, match="resize"):
            writer.write(np.zeros((10, 10, 3), np.uint8))
    assert writer.codec == "MJPG" and writer.frames_written == 7
    assert len(list(iter_frames(path))) == 7
    assert [p.name for p in path.parent.iterdir()] == ["annotated.avi"]  # the temporary file is gone
    with pytest.raises(VideoError, match="already exists"):
        VideoWriter(path, fps=5.0, frame_size=(64, 48))
    mp4 = tmp_path / "annotated.mp4"
    with VideoWriter(mp4, fps=5.0, frame_size=(64, 48)) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
    assert mp4.is_file() and writer.codec == "mp4v"
    # an exception inside the block leaves nothing behind
    failed = tmp_path / "failed.avi"
    with pytest.raises(RuntimeError):
        with VideoWriter(failed, fps=5.0, frame_size=(64, 48)) as writer:
            writer.write(np.zeros((48, 64, 3), np.uint8))
            raise RuntimeError("boom")
    assert not failed.exists() and not list(tmp_path.glob(".failed*"))


def test_a_written_video_has_the_permissions_of_any_new_file(tmp_path):
    """Annotated videos were 0600 (mkstemp's) while images, JSON and CSV outputs are 0666 less the umask."""
    import os
    import stat

    old_umask = os.umask(0o022)
    try:
        with VideoWriter(tmp_path / "a.avi", fps=5.0, frame_size=(32, 24)) as writer:
            writer.write(np.zeros((24, 32, 3), np.uint8))
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "a.avi").stat().st_mode) == 0o644
