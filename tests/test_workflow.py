"""The workflow itself, through real Snakemake runs: lint, dry runs, a tiny real run, reruns.

Expected job counts come from the settings of the config files each run uses.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil

import pytest

from gla_model import vocabulary

# The classification references besides the enabled variants (their `--source` names).
PAIRED_REFERENCES = (vocabulary.MRI_FEATURES, vocabulary.REAL_PET)
COMPLETE_REFERENCES = (vocabulary.MRI_FEATURES, vocabulary.MEAN_IMPUTED_PET,
                       vocabulary.TRUSTED_SYNTH_PET)


def train_commands(result) -> list[str]:
    """The `gla-model train` command lines of a dry run with -p."""
    return re.findall(r"^Shell command: (gla-model train .*)$", result.stdout + result.stderr,
                      re.M)


def test_lint_has_no_findings(tmp_path, run_snakemake):
    result = run_snakemake("--lint", workdir=tmp_path)
    assert "Lints for" not in result.stdout + result.stderr


def test_dry_run_of_the_default_config_plans_every_stage(tmp_path, run_snakemake, planned_jobs,
                                                         config_file, shipped_settings):
    settings = shipped_settings
    assert settings.cohort.source == "demo"
    n_variants, n_folds = len(settings.variants), settings.cv.n_folds
    jobs = planned_jobs(run_snakemake("-n", workdir=tmp_path, configfiles=(config_file,)))
    assert jobs["build_demo_cohort"] == 1
    demo = settings.cohort.demo
    assert jobs["preprocess_subject"] == demo.n_paired + demo.n_mri_only
    # Per variant: one model per fold and one on every paired subject ("full").
    assert jobs["train_model"] == n_variants * (n_folds + 1)
    assert jobs["synthesize_test_fold"] == n_variants * n_folds
    assert jobs["synthesize_mri_only"] == n_variants
    assert jobs["classify_paired"] == len(PAIRED_REFERENCES) + n_variants
    assert jobs["classify_complete"] == len(COMPLETE_REFERENCES) + n_variants
    # Uncertainty: one summary and calibration per variant, one report part.
    assert jobs["summarize_uncertainty"] == n_variants
    assert jobs["report_uncertainty"] == 1
    assert not (tmp_path / "results").exists()


def test_a_variant_epochs_override_reaches_only_its_training_jobs(tmp_path, run_snakemake,
                                                                 config_file, shipped_config,
                                                                 shipped_settings):
    config = shipped_config
    overridden = {name for name in config["models"]["enabled"]
                  if "epochs" in config["models"]["variants"][name]}
    assert overridden, "the default config should show the per-variant epochs override"
    result = run_snakemake("-n", "-p", workdir=tmp_path, configfiles=(config_file,))
    commands = train_commands(result)
    assert len(commands) == len(shipped_settings.variants) * (shipped_settings.cv.n_folds + 1)
    for command in commands:
        variant = re.search(r"--variant (\w+)", command).group(1)
        epochs = config["models"]["variants"][variant].get("epochs",
                                                           config["training"]["epochs"])
        settings = json.loads(re.search(r"--settings '([^']*)'", command).group(1))
        assert settings["training"]["epochs"] == epochs, command
        assert "epochs" not in settings[f"models.variants.{variant}"]
        assert "threads" not in settings["training"]  # a job resource, not a setting
    assert {re.search(r"--variant (\w+)", c).group(1) for c in commands} >= overridden


def test_dry_run_on_a_bids_directory_given_by_path(tmp_path, run_snakemake, planned_jobs,
                                                  fake_bids, write_yaml, config_file,
                                                  tiny_preset):
    n_paired, n_mri_only = 10, 3
    bids = fake_bids(tmp_path / "bids", n_paired=n_paired, n_mri_only=n_mri_only)
    override = write_yaml(tmp_path / "bids.yaml",
                          {"cohort": {"source": "bids", "bids_dir": str(bids)}})
    jobs = planned_jobs(run_snakemake("-n", workdir=tmp_path / "run",
                                      configfiles=(config_file, tiny_preset, override)))
    assert "build_demo_cohort" not in jobs
    assert jobs["preprocess_subject"] == n_paired + n_mri_only


def test_invalid_config_fails_before_any_job(tmp_path, run_snakemake, write_yaml, config_file):
    override = write_yaml(tmp_path / "bad.yaml", {"preprocessing": {"backend": "spm"}})
    result = run_snakemake("--cores", "1", workdir=tmp_path / "run", check=False,
                           configfiles=(config_file, override))
    assert result.returncode != 0
    assert "'preprocessing.backend': 'spm' is not one of ['ants', 'fsl']" in result.stderr
    assert not (tmp_path / "run" / "results").exists()


def test_fsl_backend_without_fsl_fails_before_any_job(tmp_path, run_snakemake, write_yaml,
                                                      config_file, tiny_preset):
    override = write_yaml(tmp_path / "fsl.yaml",
                          {"preprocessing": {"backend": "fsl", "skull_strip": "robex"}})
    result = run_snakemake("--cores", "1", workdir=tmp_path / "run", check=False,
                           configfiles=(config_file, tiny_preset, override))
    assert result.returncode != 0
    assert "flirt" in result.stderr and "backend: ants" in result.stderr
    assert not (tmp_path / "run" / "results").exists()


@pytest.mark.slow
def test_tiny_run_writes_the_report(tiny_local_run, run_snakemake):
    report = tiny_local_run / "results" / "report"
    for name in ["tables/table1_synthesis_quality.md", "tables/table2_classification_paired.md",
                 "tables/table3_classification_complete.md", "figures/interpolation.png",
                 "summary.md"]:
        assert (report / name).stat().st_size > 0, name
    dry_run = run_snakemake("-n", workdir=tiny_local_run)
    text = dry_run.stdout + dry_run.stderr
    assert "Job stats:" not in text, text[-3000:]
    assert "Nothing to be done" in text, text[-3000:]


@pytest.mark.slow
def test_snakemake_report_embeds_tables_and_summary_as_inline_html(tiny_report):
    """`snakemake --report` shows text/html results inline (an iframe in its viewer), so the
    paper's tables and the summary must be embedded as HTML pages holding their tables."""
    embedded = {}
    for mime, name, data in re.findall(
            r"data:([\w/+.-]+);charset=[\w-]+;filename=([\w.-]+);base64,([A-Za-z0-9+/=]+)",
            tiny_report.read_text()):
        embedded[name] = (mime, base64.b64decode(data).decode("utf-8", "replace"))
    for name, heading in (("table1_synthesis_quality.html", "Table I"),
                          ("table2_classification_paired.html", "Table II"),
                          ("table3_classification_complete.html", "Table III"),
                          ("table3b_completed_subjects.html", "completed subjects"),
                          ("summary.html", "Findings")):
        mime, text = embedded[name]
        assert mime == "text/html", name
        assert "<table>" in text and heading in text, name


@pytest.mark.slow
def test_report_tables_are_readable_in_a_headless_browser(tiny_report):
    """Open report.html in headless Chromium, show each table and the summary through the
    report's own viewer (its global ``app``), and read the rendered table text."""
    from playwright import sync_api

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        if os.environ.get("GLA_REQUIRE_BROWSER"):
            pytest.fail("GLA_REQUIRE_BROWSER is set but no chromium is on PATH")
        pytest.skip("no chromium on PATH (Debian package chromium; .ci/run installs it)")
    expected = {"table1_synthesis_quality.html": ("table", "GLA-GAN"),
                "table2_classification_paired.html": ("table", "Real PET"),
                "table3_classification_complete.html": ("table", "mean-imputed PET"),
                "ablation_losses.html": ("table", "L1"),
                "summary.html": ("ul", "Real PET")}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.goto(tiny_report.as_uri())
        page.wait_for_function("typeof app !== 'undefined' && typeof results !== 'undefined'")
        paths = page.evaluate("Object.keys(results)")
        for name, (element, text) in expected.items():
            path = next(p for p in paths if p.endswith("/" + name))
            page.evaluate("(path) => app.setView({content: 'html', resultPath: path, "
                          "contentPath: results[path].data_uri})", path)
            frame = page.frame_locator("iframe").first
            rendered = frame.locator(element).first.inner_text(timeout=20_000)
            assert text in rendered, (name, rendered[:500])
        browser.close()


@pytest.mark.slow
def test_changing_an_svm_setting_reruns_only_classification_and_report(
        tiny_local_run, tmp_path, run_snakemake, planned_jobs, write_yaml, config_file,
        tiny_preset):
    override = write_yaml(tmp_path / "svm.yaml", {"classification": {"svm": {"C": [1.0, 100.0]}}})
    jobs = planned_jobs(run_snakemake("-n", workdir=tiny_local_run,
                                      configfiles=(config_file, tiny_preset, override)))
    assert jobs, "a changed SVM grid must rerun something"
    unexpected = {rule for rule in jobs
                  if not rule.startswith(("classify_", "report", "all"))}
    assert not unexpected


@pytest.mark.slow
def test_changing_the_uncertainty_threshold_reruns_only_the_trusted_row(
        tiny_local_run, tmp_path, run_snakemake, planned_jobs, write_yaml, config_file,
        tiny_preset):
    override = write_yaml(tmp_path / "threshold.yaml",
                          {"uncertainty": {"threshold_quantile": 0.5}})
    result = run_snakemake("-n", workdir=tiny_local_run,
                           configfiles=(config_file, tiny_preset, override))
    jobs = planned_jobs(result)
    assert jobs.pop("classify_complete") == 1
    assert f"source={vocabulary.TRUSTED_SYNTH_PET}" in result.stdout + result.stderr
    assert all(rule.startswith(("report", "all")) for rule in jobs), jobs


@pytest.mark.slow
def test_changing_one_variant_reruns_only_that_variant(tiny_local_run, tmp_path, run_snakemake,
                                                      planned_jobs, write_yaml, config_file,
                                                      tiny_preset, default_settings):
    n_folds = default_settings.cv.n_folds
    assert "unet3d" in default_settings.variants
    configs = (config_file, tiny_preset, write_yaml(
        tmp_path / "variant.yaml", {"models": {"variants": {"unet3d": {"width": 0.25}}}}))
    jobs = planned_jobs(run_snakemake("-n", "--quiet", "rules", workdir=tiny_local_run,
                                      configfiles=configs))
    assert jobs["train_model"] == n_folds + 1  # unet3d's fold models and its full model
    assert jobs["synthesize_test_fold"] == n_folds
    assert "preprocess_subject" not in jobs
    assert "make_folds" not in jobs
    dry_run = run_snakemake("-n", workdir=tiny_local_run, configfiles=configs)
    text = dry_run.stdout + dry_run.stderr
    assert "variant=glagan" not in text.replace("variant=glagan_", "")


@pytest.mark.slow
def test_changing_one_variants_epochs_retrains_only_that_variant(
        tiny_local_run, tmp_path, run_snakemake, planned_jobs, write_yaml, config_file,
        tiny_preset, default_settings):
    assert "glagan_l1" in default_settings.variants
    override = write_yaml(tmp_path / "epochs.yaml",
                          {"models": {"variants": {"glagan_l1": {"epochs": 3}}}})
    result = run_snakemake("-n", "-p", workdir=tiny_local_run,
                           configfiles=(config_file, tiny_preset, override))
    assert planned_jobs(result)["train_model"] == default_settings.cv.n_folds + 1
    commands = train_commands(result)
    assert commands and all("--variant glagan_l1 " in c and '"epochs":3,' in c
                            for c in commands)
