"""ROI features: gla_model's one-pass bincount against nilearn's NiftiLabelsMasker.

One synthetic subject on the 64^3 model grid with the real AAL atlas (nearest-neighbour
resampled): random smooth GM/WM/CSF probabilities, MRI and PET. Both paths start from
in-memory arrays/images and compute the 116 x {GM, WM} means of MRI and PET; nilearn
gets one label image per tissue (atlas masked by the argmax tissue), strategy "mean".
Prints the largest absolute difference (must be < 1e-6), the median times of repeated
runs, and the speed ratio nilearn / gla_model.

    .venv/bin/python benchmarks/features_vs_nilearn.py [--grid 64] [--repeats 15]
    .venv/bin/python benchmarks/features_vs_nilearn.py --smoke    # 32^3, 1 repeat
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import nibabel as nib
import numpy as np
from nilearn.image import resample_img
from nilearn.maskers import NiftiLabelsMasker
from scipy.ndimage import gaussian_filter

from gla_model.features import region_means, tissue_labels
from gla_model.resources import AAL_REGION_COUNT, aal_atlas, model_grid

GRID = 64
REPEATS = 15


def synthetic_subject(*, labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    smooth = lambda: gaussian_filter(rng.random(labels.shape), sigma=2.0)  # noqa: E731
    raw = np.stack([smooth() for _ in range(3)])
    probs = raw / raw.sum(axis=0)
    return {"GM": probs[0], "WM": probs[1], "CSF": probs[2],
            "mask": (labels > 0).astype(np.uint8),
            "mri": smooth().astype(np.float32), "pet": smooth().astype(np.float32)}


def ours(subject: dict[str, np.ndarray], labels: np.ndarray) -> np.ndarray:
    tissue = tissue_labels(probsegs=subject, mask=subject["mask"])
    return region_means(images=np.stack([subject["mri"], subject["pet"]]), labels=labels,
                        tissue=tissue, n_regions=AAL_REGION_COUNT)


def nilearn_means(subject: dict[str, np.ndarray], labels: np.ndarray,
                  affine: np.ndarray) -> np.ndarray:
    tissue = tissue_labels(probsegs=subject, mask=subject["mask"])
    images = nib.Nifti1Image(np.stack([subject["mri"], subject["pet"]], axis=-1), affine)
    out = np.zeros((2, 2, AAL_REGION_COUNT))
    for index in (0, 1):
        label_image = nib.Nifti1Image(np.where(tissue == index, labels, 0).astype(np.int16),
                                      affine)
        masker = NiftiLabelsMasker(labels_img=label_image, strategy="mean")
        values = masker.fit_transform(images)
        region_ids = [masker.region_ids_[i] for i in range(values.shape[1])]
        out[:, index, np.asarray(region_ids, dtype=int) - 1] = values
    return out


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=GRID, choices=(32, 64))
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--smoke", action="store_true", help="seconds: grid 32, 1 repeat")
    args = parser.parse_args(argv)
    if args.smoke:
        args.grid, args.repeats = 32, 1
    shape, affine = model_grid(size=args.grid)
    atlas = resample_img(aal_atlas().image, target_affine=affine, target_shape=shape,
                         interpolation="nearest", force_resample=True, copy_header=True)
    labels = np.rint(atlas.get_fdata()).astype(np.int64)
    subject = synthetic_subject(labels=labels, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = nilearn_means(subject, labels, affine)
        got = ours(subject, labels)
        difference = float(np.max(np.abs(got - expected)))
        assert difference < 1e-6, f"features differ from nilearn by {difference}"
        t_nilearn = median_seconds(lambda: nilearn_means(subject, labels, affine), args.repeats)
    t_ours = median_seconds(lambda: ours(subject, labels), args.repeats)
    present = int(np.count_nonzero(expected[0]))
    print(f"grid {args.grid}^3, {present} non-empty (tissue, region) bins of "
          f"{2 * AAL_REGION_COUNT}, 2 images (MRI, PET)")
    print(f"max |gla_model - nilearn| = {difference:.2e}")
    print(f"median of {args.repeats}: gla_model bincount {t_ours * 1e3:.2f} ms, "
          f"nilearn NiftiLabelsMasker {t_nilearn * 1e3:.2f} ms")
    print(f"speed ratio nilearn / gla_model = {t_nilearn / t_ours:.1f}x")


if __name__ == "__main__":
    main()
