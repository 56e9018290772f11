"""The estimator's parts: test-time augmentations, the member guard, the SD over members,
and the out-of-distribution reference (leave-one-out scores recomputed directly)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from gla_model.errors import ConfigError, LeakageError
from gla_model.layout import preprocessed_path
from gla_model.resources import model_grid
from gla_model.uncertainty.estimator import build_estimator, member_sd
from gla_model.uncertainty.members import IDENTITY, augmentations, check_valid_members
from gla_model.uncertainty.typicality import MARGIN, build_reference, typicality_score


@pytest.mark.parametrize(("flip", "shift", "names"), [
    (False, 0, ["identity"]),
    (True, 0, ["identity", "flip"]),
    (False, 2, ["identity", "shiftx+2", "shiftx-2", "shifty+2", "shifty-2", "shiftz+2",
                "shiftz-2"]),
    (True, 1, ["identity", "flip", "shiftx+1", "shiftx-1", "shifty+1", "shifty-1",
               "shiftz+1", "shiftz-1"]),
])
def test_augmentations_start_with_the_identity(flip, shift, names):
    members = augmentations(flip=flip, shift=shift)
    assert [m.name for m in members] == names and members[0] == IDENTITY


def test_a_negative_shift_is_refused():
    with pytest.raises(ConfigError, match="tta_shift must be >= 0"):
        augmentations(flip=False, shift=-1)


def test_the_flip_mirrors_the_grid_about_the_midsagittal_plane():
    """Axis 0 of the model grid is MNI x: voxel i and its mirror G-1-i lie at x and -x."""
    size = 12
    _, affine = model_grid(size=size)
    index = np.arange(size)
    x = affine[0, 0] * index + affine[0, 3]
    np.testing.assert_allclose(x[::-1], -x, atol=1e-9)
    assert np.count_nonzero(affine[:3, :3] - np.diag(np.diag(affine[:3, :3]))) == 0
    volume = np.random.default_rng(0).random((size, 5, 6)).astype(np.float32)
    flip = augmentations(flip=True, shift=0)[1]
    np.testing.assert_array_equal(flip.forward(volume), volume[::-1])
    np.testing.assert_array_equal(flip.inverse(flip.forward(volume)), volume)


def test_shifts_fill_zeros_in_and_leave_nan_at_the_border_on_the_way_back():
    volume = np.zeros((8, 9, 10), np.float32)
    volume[2:6, 2:7, 3:8] = np.random.default_rng(1).random((4, 5, 5)) + 0.5  # a "brain"
    for member in augmentations(flip=False, shift=2)[1:]:
        moved = member.forward(volume)
        # a brain in a zero background moves as a roll would move it: nothing wraps around
        np.testing.assert_array_equal(moved, np.roll(volume, member.offset, axis=member.axis))
        back = member.inverse(moved)
        border = np.isnan(back)
        edge = [slice(None)] * 3
        edge[member.axis] = (slice(-2, None) if member.offset > 0 else slice(0, 2))
        expected = np.zeros(volume.shape, bool)
        expected[tuple(edge)] = True
        np.testing.assert_array_equal(border, expected)
        np.testing.assert_array_equal(back[~border], volume[~border])


def test_member_sd_is_the_sample_sd_without_the_missing_values():
    rng = np.random.default_rng(2)
    members = [rng.random((4, 5, 6)).astype(np.float32) for _ in range(5)]
    members[3][0, :, :] = np.nan
    np.testing.assert_allclose(member_sd(members), np.nanstd(np.stack(members), axis=0,
                                                             ddof=1), rtol=1e-6)
    assert member_sd(members).dtype == np.float32
    with pytest.raises(ValueError, match="fewer than two members"):
        member_sd([members[0], np.full((4, 5, 6), np.nan, np.float32)])


def test_a_model_that_saw_a_subject_is_not_a_valid_member():
    records = [{"training_subjects": ["a", "b"], "validation_subjects": ["c"]},
               {"training_subjects": ["d"], "validation_subjects": []}]
    check_valid_members(subjects=["d"], records=records[:1], names=["m0.pt"])
    check_valid_members(subjects=["x", "y"], records=records, names=["m0.pt", "m1.pt"])
    with pytest.raises(LeakageError, match=r"m0\.pt trained on \['c'\]; m1\.pt trained on "
                                           r"\['d'\]"):
        check_valid_members(subjects=["c", "d"], records=records, names=["m0.pt", "m1.pt"])


def _write_subjects(root, count: int, *, grid: int = 10, seed: int = 0) -> list[str]:
    """Preprocessed T1w, masks (a ball that varies a little) and PETs of ``count`` subjects."""
    rng = np.random.default_rng(seed)
    _, affine = model_grid(size=grid)
    zz, yy, xx = np.mgrid[:grid, :grid, :grid] / grid
    ids = [f"s{i}" for i in range(count)]
    for pid in ids:
        radius = 0.36 + rng.uniform(-0.04, 0.04)
        mask = ((zz - 0.5) ** 2 + (yy - 0.5) ** 2 + (xx - 0.5) ** 2) < radius ** 2
        t1w = mask * np.clip(0.3 + 0.6 * zz + rng.normal(0, 0.05, mask.shape), 0, 1)
        pet = mask * np.clip(0.4 + 0.2 * xx + rng.normal(0, 0.05, mask.shape), 0, 1)
        for field, data in (("t1w", t1w), ("mask", mask), ("pet", pet)):
            path = preprocessed_path(preproc_dir=root, participant_id=pid, field=field)
            path.parent.mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data.astype(np.float32), affine), path)
    return ids


def _load(root, pid, field):
    return np.asarray(nib.load(preprocessed_path(preproc_dir=root, participant_id=pid,
                                                 field=field)).dataobj, np.float64)


def test_leave_one_out_scores_equal_a_direct_recomputation(tmp_path):
    ids = _write_subjects(tmp_path, 6)
    reference = build_reference(preproc_dir=tmp_path, subjects=ids)
    t1w = {pid: _load(tmp_path, pid, "t1w") for pid in ids}
    brain = {pid: _load(tmp_path, pid, "mask") != 0 for pid in ids}
    for pid, score in zip(sorted(ids), reference.loo_scores, strict=True):
        others = [p for p in ids if p != pid]
        stack = np.stack([t1w[p] for p in others])
        direct = typicality_score(
            t1w=t1w[pid], brain=brain[pid], mean=stack.mean(0), sd=stack.std(0, ddof=1),
            reference_brain=np.mean([brain[p] for p in others], axis=0) >= 0.5)
        assert score == pytest.approx(direct, rel=1e-9)
    assert reference.threshold == pytest.approx(MARGIN * np.median(reference.loo_scores))
    stack = np.stack(list(t1w.values()))
    np.testing.assert_allclose(reference.sd, stack.std(0, ddof=1), atol=1e-12)
    # the training mean itself is perfectly typical; its contrast inverted is not
    mean_brain = reference.brain_fraction >= 0.5
    assert reference.score(t1w=reference.mean, brain=mean_brain) == 0.0
    inverted = np.where(mean_brain, 1.2 - reference.mean, 0.0)
    assert reference.is_outlier(reference.score(t1w=inverted, brain=mean_brain))
    assert reference.score(t1w=t1w[ids[0]], brain=~mean_brain) == np.inf  # no overlap


def test_prior_rms_is_the_rms_difference_from_the_training_pets(tmp_path):
    ids = _write_subjects(tmp_path, 4, seed=3)
    reference = build_reference(preproc_dir=tmp_path, subjects=ids)
    pet = np.random.default_rng(4).random((10, 10, 10))
    pets = np.stack([_load(tmp_path, pid, "pet") for pid in ids])
    np.testing.assert_allclose(reference.prior_rms(pet),
                               np.sqrt(np.mean((pet - pets) ** 2, axis=0)), atol=1e-9)


def test_the_reference_needs_three_training_subjects(tmp_path):
    ids = _write_subjects(tmp_path, 2)
    with pytest.raises(ConfigError, match="at least 3 training subjects"):
        build_reference(preproc_dir=tmp_path, subjects=ids)



def test_an_estimator_needs_an_augmentation():
    class Model:
        grid, record = 8, {"variant": "v"}

    with pytest.raises(ConfigError, match=r"enable uncertainty\.tta_flip or set "
                                          r"uncertainty\.tta_shift above 0"):
        build_estimator(models=[Model(), Model()], names=["a.pt", "b.pt"],
                        augmentations=augmentations(flip=False, shift=0), reference=None)
