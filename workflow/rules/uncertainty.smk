"""Uncertainty of each variant's synthetic PET: per subject and AAL region, and its calibration
on the test-fold subjects (each scored only by members that never saw it)."""

from gla_model.layout import UNCERTAINTY_TABLES


rule summarize_uncertainty:
    input:
        synth=[LAYOUT.synth_dir(variant="{variant}", fold=k) for k in [*FOLDS, vocab.FULL_FOLD]],
        folds=LAYOUT.folds_table,
        cohort=LAYOUT.cohort_table,
        atlas=LAYOUT.atlas,
        labels=LAYOUT.atlas_labels,
        images=preprocessed(),
    output:
        **{kind: LAYOUT.uncertainty(variant="{variant}", kind=kind)
           for kind in UNCERTAINTY_TABLES},
    wildcard_constraints:
        variant=_one_of(VARIANTS),
    params:
        synth_dir=LAYOUT.synthesize_dir,
        preproc_dir=LAYOUT.preprocess_dir,
        out_dir=LAYOUT.uncertainty_dir,
    log:
        LAYOUT.log("uncertainty", "{variant}"),
    benchmark:
        LAYOUT.benchmark("uncertainty", "{variant}")
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model uncertainty --variant {wildcards.variant} --synth-dir {params.synth_dir} "
        "--folds {input.folds} --cohort {input.cohort} --preproc-dir {params.preproc_dir} "
        "--atlas {input.atlas} --atlas-labels {input.labels} --out-dir {params.out_dir} "
        "> {log} 2>&1"
