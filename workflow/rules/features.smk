"""AAL ROI features (116 regions x MRI/PET x GM/WM) per PET source: real or a variant."""


def _feature_inputs(wildcards):
    if wildcards.source == "real":
        return preprocessed(SUBJECTS, pet=False) + preprocessed(PAIRED, pet=True)
    folds = [synth_dir(wildcards.source, fold) for fold in FOLDS]
    return preprocessed(SUBJECTS) + folds + [synth_dir(wildcards.source, "full")]


rule extract_features:
    input:
        images=_feature_inputs,
        cohort=COHORT_TABLE,
        atlas=ATLAS,
    output:
        RESULTS / "features" / "{source}.tsv",
    wildcard_constraints:
        source=_one_of(["real", *VARIANTS]),
    params:
        synth=lambda wildcards: (
            "" if wildcards.source == "real"
            else f"--synth-dir {RESULTS / 'synthesize' / wildcards.source}"
        ),
    log:
        LOGS / "features" / "{source}.log",
    benchmark:
        BENCH / "features" / "{source}.tsv"
    shell:
        "gla-model features --cohort {input.cohort} --preproc-dir {PREPROC} "
        "--atlas {input.atlas} --source {wildcards.source} {params.synth} "
        "--out {output} > {log} 2>&1"
