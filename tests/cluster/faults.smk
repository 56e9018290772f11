"""Three small rules for the SLURM fault tests in tests/test_cluster.py.

`nap` sleeps on its first attempt only, long enough to be cancelled by the scheduler, and
writes the attempt that finished it. `first` finishes at once; `halves`, running beside it,
writes half of its output, then sleeps while the file `slow` exists in the working directory
(so a run can be interrupted mid-job), then writes the second half.
"""


rule nap:
    output:
        "done/nap.txt",
    log:
        "logs/nap.log",
    resources:
        nap_s=lambda wildcards, attempt: 300 if attempt == 1 else 0,
        attempt_no=lambda wildcards, attempt: attempt,
    shell:
        "sleep {resources.nap_s}; echo {resources.attempt_no} > {output} 2> {log}"


rule first:
    output:
        "done/first.txt",
    log:
        "logs/first.log",
    shell:
        "echo first > {output} 2> {log}"


rule halves:
    output:
        "done/halves.txt",
    log:
        "logs/halves.log",
    shell:
        "(echo first-half > {output}; while [ -e slow ]; do sleep 1; done; "
        "echo second-half >> {output}) 2> {log}"
