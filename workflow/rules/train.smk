"""Training: one job per (model variant, fold), plus one model on all paired subjects."""

# Keys of a variant that only label it in the report; changing them retrains nothing.
REPORT_ONLY_KEYS = ("group", "label")
TRAINING = {key: value for key, value in config["training"].items() if key != "threads"}


def model_spec(variant):
    """The parts of a variant's config that define its model and losses."""
    return {k: v for k, v in VARIANTS[variant].items() if k not in REPORT_ONLY_KEYS}


rule train_model:
    input:
        folds=FOLDS_TABLE,
        atlas=ATLAS,
        images=preprocessed(PAIRED, pet=True),
    output:
        model=RESULTS / "train" / "{variant}" / "fold-{fold}" / "model.pt",
        history=RESULTS / "train" / "{variant}" / "fold-{fold}" / "history.tsv",
    wildcard_constraints:
        variant=_one_of(VARIANTS),
    params:
        spec=lambda wildcards: as_json(model_spec(wildcards.variant)),
        training=as_json(TRAINING),
        out_dir=lambda wildcards, output: Path(output.model).parent,
    log:
        LOGS / "train" / "{variant}_fold-{fold}.log",
    benchmark:
        BENCH / "train" / "{variant}_fold-{fold}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    shell:
        "gla-model train --variant {wildcards.variant} --variant-spec {params.spec:q} "
        "--training {params.training:q} --folds {input.folds} --fold {wildcards.fold} "
        "--preproc-dir {PREPROC} --atlas {input.atlas} --out-dir {params.out_dir} "
        "--threads {threads} > {log} 2>&1"
