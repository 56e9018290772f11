"""AAL ROI features (116 regions x MRI/PET x GM/WM) per PET source: real or a variant."""


rule extract_features:
    input:
        images=feature_inputs,
        cohort=COHORT_TABLE,
        atlas=ATLAS,
    output:
        RESULTS / "features" / "{source}.tsv",
    wildcard_constraints:
        source=_one_of(["real", *VARIANTS]),
    params:
        synth=lambda wildcards: synth_dir_option(wildcards.source),
        preproc_dir=PREPROC,
    log:
        LOGS / "features" / "{source}.log",
    benchmark:
        BENCH / "features" / "{source}.tsv"
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model features --cohort {input.cohort} --preproc-dir {params.preproc_dir} "
        "--atlas {input.atlas} --source {wildcards.source} {params.synth} "
        "--out {output} > {log} 2>&1"
